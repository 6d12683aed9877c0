// Package bench measures shmx against the alternatives a program would
// otherwise use to share state or messages between processes on one
// machine (sync.Mutex, process-shared pthread mutexes, flock, pipes, Unix
// and TCP loopback sockets, plain memory copies), in the same run, so that
// results are stated as ratios. The shmx command's bench subcommand is its
// front end.
//
// Cross-process measurements run a peer process: the caller supplies
// Config.Peer, which must start a process that calls RunPeer with the
// arguments given (the shmx command re-executes itself with a hidden
// subcommand; tests re-execute the test binary).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config says what to measure and how long.
type Config struct {
	Duration time.Duration // per measurement
	Sizes    []int         // message sizes for the round-trip rows
	Procs    int           // processes for the contended rows
	Bulk     int64         // bytes moved by each bulk-transfer row
	// Peer returns a command (not started) that runs RunPeer(args) in a
	// new process. Its Stdin, Stdout and Stderr are set by the bench.
	Peer func(ctx context.Context, args ...string) *exec.Cmd
	// Progress, if not nil, receives a progress line, rewritten in place
	// ("\r") as each measurement starts, and cleared at the end.
	Progress io.Writer
	// Only, if not empty, keeps the rows whose group contains it.
	Only string
}

// Units of Result.Value. For the time units lower is better; for the rate
// units higher is better.
const (
	NsPerOp        = "ns/op"
	NsPerRoundTrip = "ns/round trip"
	OpsPerSec      = "ops/s"
	GiBPerSec      = "GiB/s"
)

// Result is one row of the comparison.
type Result struct {
	Group string `json:"group"` // the comparison, e.g. "message round trip 64 B"
	Name  string `json:"name"`  // what was measured, e.g. "Unix socket"
	Shmx  bool   `json:"shmx"`  // a shmx row; the others are alternatives
	// Vs names the shmx row of the group an alternative is compared with,
	// and Ratio is that row's Value divided by this one's: for a time
	// below 1 means shmx is faster, for a rate above 1 means it is.
	Vs    string  `json:"vs,omitempty"`
	Ratio float64 `json:"ratio,omitempty"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
	Ops   int64   `json:"ops"` // operations, round trips or bytes measured
	// Latency percentiles of single round trips in ns, for the rows that
	// time each one (0 otherwise); for the contended RWMutex row, of a
	// writer's wait in Lock.
	P50  float64 `json:"p50_ns,omitempty"`
	P99  float64 `json:"p99_ns,omitempty"`
	P999 float64 `json:"p999_ns,omitempty"`
	// Max is the longest of what the percentiles time, for the rows that
	// keep it (the RWMutex row's longest writer wait).
	Max float64 `json:"max_ns,omitempty"`
	// CPU is the CPU time (user and system) both processes spent per
	// operation, in ns, for the rows that measure it (0 otherwise): what
	// a wait strategy costs beside its latency.
	CPU float64 `json:"cpu_ns_per_op,omitempty"`
	// Skipped says why the row was not measured (Value is then 0).
	Skipped string `json:"skipped,omitempty"`

	// samples are the sorted round-trip times the percentiles were taken
	// from, kept only until Run has the row's result, so that interleaved
	// can merge the parts of one measurement.
	samples []int64
}

// LowerIsBetter reports whether a smaller Value is a better result.
func (r Result) LowerIsBetter() bool { return r.Unit == NsPerOp || r.Unit == NsPerRoundTrip }

// A row is one measurement to make.
type row struct {
	group, name string
	shmx        bool
	vs          string
	run         func(ctx context.Context) (Result, error)
}

// Run makes every measurement and returns the results in order. A
// measurement that cannot run here (no cgo, no flock on this OS) or fails
// is reported in its row's Skipped field; Run itself fails only when the
// configuration is unusable or ctx is done.
func Run(ctx context.Context, c Config) ([]Result, error) {
	if c.Duration <= 0 || c.Procs < 1 || c.Bulk <= 0 || c.Peer == nil || slices.ContainsFunc(c.Sizes, func(n int) bool { return n <= 0 }) {
		return nil, errors.New("bench: Duration, Procs, Bulk and Sizes must be positive and Peer set")
	}
	dir, err := os.MkdirTemp("", "shmx-bench")
	if err != nil {
		return nil, err
	}
	defer removeDir(dir)
	e := &env{Config: c, dir: dir}
	rows := e.rows()
	if c.Only != "" {
		rows = slices.DeleteFunc(rows, func(r row) bool { return !strings.Contains(r.group, c.Only) })
	}
	var out []Result
	for i, r := range rows {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		e.progress("[%d/%d] %s: %s", i+1, len(rows), r.group, r.name)
		rctx, cancel := context.WithTimeout(ctx, 3*c.Duration+peerStartLimit+time.Minute)
		res, err := r.run(rctx)
		cancel()
		res.samples = nil // up to tens of MB a row: not kept for the table
		res.Group, res.Name, res.Shmx, res.Vs = r.group, r.name, r.shmx, r.vs
		if err != nil {
			res = Result{Group: r.group, Name: r.name, Shmx: r.shmx, Vs: r.vs, Unit: res.Unit, Skipped: err.Error()}
		}
		out = append(out, res)
	}
	e.progress("")
	ratios(out)
	return out, nil
}

// ratios fills Ratio for every alternative whose shmx row was measured.
func ratios(rs []Result) {
	for i := range rs {
		r := &rs[i]
		if r.Vs == "" || r.Value == 0 {
			continue
		}
		for _, s := range rs {
			if s.Group == r.Group && s.Name == r.Vs && s.Value != 0 {
				r.Ratio = s.Value / r.Value
			}
		}
	}
}

// env is the state of one Run.
type env struct {
	Config
	dir string
	seq int // numbers the memfiles and sockets of successive rows
}

func (e *env) progress(format string, args ...any) {
	if e.Progress == nil {
		return
	}
	fmt.Fprintf(e.Progress, "\r\033[K"+format, args...)
}

// rows lists the measurements in the order they run and print.
func (e *env) rows() []row {
	var rs []row
	rs = append(rs, e.uncontendedRows()...)
	rs = append(rs, e.handoffRows()...)
	rs = append(rs, e.contendedRows()...)
	for _, n := range e.Sizes {
		rs = append(rs, e.messageRows(n)...)
		rs = append(rs, e.spinRows(n)...)
	}
	rs = append(rs, e.ringThroughputRows()...)
	rs = append(rs, e.bulkRows()...)
	rs = append(rs, e.hugeBulkRows()...)
	rs = append(rs, e.broadcastRows()...)
	return rs
}

// errNoCgo skips the C baselines.
var errNoCgo = errors.New("C baselines need cgo on Linux or FreeBSD (this build has none)")

// percentiles sorts lat (ns) and fills r's percentiles and per-op value.
func percentiles(r *Result, lat []int64, total time.Duration) {
	r.Ops = int64(len(lat))
	if len(lat) == 0 {
		return
	}
	fillPercentiles(r, lat)
	r.Value = float64(total.Nanoseconds()) / float64(len(lat))
}

// fillPercentiles sorts lat (ns) and fills r's percentiles from it,
// keeping the samples for a merge, and leaves r's value alone: for a row
// whose value is a rate and whose percentiles time something else (the
// RWMutex row's writer waits).
func fillPercentiles(r *Result, lat []int64) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) }
	r.P50, r.P99, r.P999 = at(0.50), at(0.99), at(0.999)
	r.samples = lat
}

// removeDir removes dir and the files in it (the bench makes no
// subdirectories) one by one: under wine os.RemoveAll fails.
func removeDir(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.Remove(filepath.Join(dir, e.Name()))
	}
	os.Remove(dir)
}
