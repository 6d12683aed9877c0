package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shmx/shmx/internal/bench"
	"github.com/shmx/shmx/internal/cbench"
)

// benchPeerCmd is the hidden subcommand bench re-executes itself with for
// the processes on the other side of its measurements.
const benchPeerCmd = "bench-peer"

type benchConfig struct {
	bench.Config
	json, markdown bool
	svg            string
	runs           int
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("shmx bench", flag.ContinueOnError)
	var c benchConfig
	fs.DurationVar(&c.Duration, "duration", time.Second, "time per measurement")
	sizes := fs.String("sizes", "64,64KiB", "message sizes of the round-trip rows, comma-separated (B, KiB, MiB suffixes)")
	fs.IntVar(&c.Procs, "procs", max(2, runtime.NumCPU()), "processes in the contended rows (1-64)")
	bulk := fs.String("bulk", "1GiB", "bytes each bulk-transfer row moves")
	fs.StringVar(&c.Only, "only", "", "run only the measurements whose group name contains this `text` (e.g. \"bulk\")")
	fs.BoolVar(&c.json, "json", false, "print the results as JSON")
	fs.BoolVar(&c.markdown, "markdown", false, "print the results as a Markdown table")
	fs.IntVar(&c.runs, "runs", 1, "run every measurement this many times, one whole run after another, and show each row's range over the runs")
	fs.StringVar(&c.svg, "svg", "", "also write a plot of the round-trip latency percentiles to this `file`")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: shmx bench [flags]\n\n"+
			"Measures shmx against the alternatives on this machine, in one run: lock+unlock\n"+
			"(sync.Mutex, pthread, flock), 2-process hand-off (pthread mutex+cond, pipe, Unix\n"+
			"socket), contended throughput (pthread, flock), message round trips (Unix socket,\n"+
			"pipe, TCP loopback; each wait strategy with its CPU per round trip, and zero-copy\n"+
			"rows, against C spinning limits)\n"+
			"and bulk transfer (sockets, pipe, plain copy; a huge-page Ring where there are huge\n"+
			"pages). Each result is stated as a ratio to the shmx row it is compared with.\n"+
			"Progress goes to stderr.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if c.Sizes, err = parseSizes(*sizes); err == nil {
		var b int64
		b, err = parseSize(*bulk)
		c.Bulk = b
	}
	if err == nil && (c.Duration <= 0 || c.Procs < 1 || c.Procs > 64 || c.Bulk <= 0 || c.runs < 1 || c.runs > 100) {
		err = errors.New("-duration and -bulk must be positive, -procs 1 to 64, -runs 1 to 100")
	}
	if err == nil && c.json && c.markdown {
		err = errors.New("-json and -markdown exclude each other")
	}
	if err != nil {
		fs.Usage()
		return usageError{err}
	}
	return runBenchConfig(os.Stdout, os.Stderr, c)
}

// runBenchConfig measures and prints; progress goes to progress.
func runBenchConfig(w, progress io.Writer, c benchConfig) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	c.Peer = benchPeer(exe)
	c.Progress = progress
	var runs [][]bench.Result
	for i := range max(c.runs, 1) {
		if c.runs > 1 {
			fmt.Fprintf(progress, "run %d of %d\n", i+1, c.runs)
		}
		rs, err := bench.Run(context.Background(), c.Config)
		if err != nil {
			return err
		}
		runs = append(runs, rs)
	}
	rs := runs[len(runs)-1]
	rep := newBenchReport(c, rs)
	if len(runs) > 1 {
		rep.Runs = runs
	}
	if c.svg != "" {
		if err := writeSVGFile(c.svg, rep); err != nil {
			return err
		}
	}
	if c.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	title := rep.title()
	if len(runs) > 1 {
		title += fmt.Sprintf(", %d runs", len(runs))
	}
	if c.markdown {
		fmt.Fprintf(w, "%s\n\n", title)
		if len(runs) > 1 {
			return bench.WriteRangeMarkdown(w, bench.Ranges(runs), len(runs))
		}
		return bench.WriteMarkdown(w, rs)
	}
	fmt.Fprintln(w, title)
	fmt.Fprintln(w, "shmx ÷ this: for times below 1 means shmx is faster, for rates above 1 does.")
	if !cbench.Available {
		fmt.Fprintln(w, "This build has no cgo: the C baselines (pthread, spinning limits) are skipped.")
	}
	if len(runs) > 1 {
		return bench.WriteRangeTable(w, bench.Ranges(runs), len(runs))
	}
	return bench.WriteTable(w, rs)
}

// benchReport is what -json prints.
type benchReport struct {
	CPU      string         `json:"cpu"`
	OS       string         `json:"os"`
	Arch     string         `json:"arch"`
	CPUs     int            `json:"cpus"`
	Go       string         `json:"go"`
	Cgo      bool           `json:"cgo"`
	Duration string         `json:"duration"`
	Procs    int            `json:"procs"`
	Sizes    []int          `json:"sizes"`
	Bulk     int64          `json:"bulk"`
	Results  []bench.Result `json:"results"` // the last run's
	// Runs holds every run's results, with -runs above 1.
	Runs [][]bench.Result `json:"runs,omitempty"`
}

func newBenchReport(c benchConfig, rs []bench.Result) benchReport {
	return benchReport{CPU: bench.CPUName(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
		Go: runtime.Version(), Cgo: cbench.Available, Duration: c.Duration.String(), Procs: c.Procs,
		Sizes: c.Sizes, Bulk: c.Bulk, Results: rs}
}

func (r benchReport) title() string {
	return fmt.Sprintf("shmx bench on %s (%s/%s, %d CPUs, %s), %s per measurement",
		r.CPU, r.OS, r.Arch, r.CPUs, r.Go, r.Duration)
}

// benchPeer returns the Config.Peer of the shmx command: exe itself with
// the hidden subcommand (see selfCommand).
func benchPeer(exe string) func(ctx context.Context, args ...string) *exec.Cmd {
	return func(ctx context.Context, args ...string) *exec.Cmd {
		return selfCommand(ctx, exe, benchPeerCmd, args...)
	}
}

// runBenchPeer is the body of a peer process.
func runBenchPeer(args []string) error { return bench.RunPeer(args) }

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := parseSize(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if n > 1<<24 {
			return nil, fmt.Errorf("message size %d is over 16 MiB", n)
		}
		out = append(out, int(n))
	}
	return out, nil
}

// parseSize reads a byte count with an optional B, KiB, MiB or GiB suffix.
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("bad size %q: want a positive byte count, optionally with B, KiB, MiB or GiB", s)
	}
	return n * mult, nil
}
