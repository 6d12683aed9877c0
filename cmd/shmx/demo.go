package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/shmx/shmx/memfile"
)

// demoPeerCmd is the hidden subcommand the demo re-executes itself with to
// run its writer and reader processes.
const demoPeerCmd = "demo-peer"

// demoArea is the user data of the demo's memfile: one request and one
// response slot, each on its own cache line(s), so the two processes do
// not false-share. Fixed-width fields only: memfile.View checks.
type demoArea struct {
	Req  demoMsg
	_    [128 - 64]byte
	Resp demoMsg
}

// demoMsg is one message: a sequence number and some text.
type demoMsg struct {
	Seq  uint64
	Len  uint32
	_    uint32
	Text [48]byte
}

// stopSeq in a request tells the reader to exit.
const stopSeq = ^uint64(0)

// Events of the demo's memfile.
const (
	evRequest  = 0 // set by the writer when a request is in Req
	evResponse = 1 // set by the reader when the response is in Resp
)

type demoConfig struct {
	n       int
	maxTime time.Duration
	wait    memfile.WaitStrategy
}

// waitStrategies are the -wait flag's values.
var waitStrategies = []memfile.WaitStrategy{memfile.Backoff, memfile.BusySpin, memfile.Block}

func runDemo(args []string) error {
	fs := flag.NewFlagSet("shmx demo", flag.ContinueOnError)
	var c demoConfig
	fs.IntVar(&c.n, "n", 50000, "number of round trips (request + response)")
	fs.DurationVar(&c.maxTime, "d", 10*time.Second, "stop after this long even if -n round trips are not done")
	fs.TextVar(&c.wait, "wait", memfile.Backoff, "how both processes wait for each other's Event: backoff (spin about 10 µs, then sleep), busy-spin (poll, a CPU each) or block (sleep at once)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: shmx demo [-n round-trips] [-d max-duration] [-wait strategy]\n\n"+
			"Starts a writer and a reader process that ping-pong messages through a memfile\n"+
			"(a Mutex guards the data, two Events signal request and response), then prints\n"+
			"the message rate and round-trip latency percentiles.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if c.n <= 0 || c.maxTime <= 0 {
		fs.Usage()
		return usageError{errors.New("-n and -d must be positive")}
	}
	return demo(os.Stdout, c)
}

// demo creates the memfile, runs the two peers and waits for them. The
// writer prints the report to w.
func demo(w io.Writer, c demoConfig) error {
	dir, err := os.MkdirTemp("", "shmx-demo")
	if err != nil {
		return err
	}
	defer os.Remove(dir) // emptied by the owner's Close, which runs first
	link := filepath.Join(dir, "demo.link")
	f, err := memfile.Create(link, memfile.LockMutex, 4096, memfile.WithEvents(2))
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(w, "memfile %s -> segment %s (Mutex + 2 Events); writer and reader processes ping-pong %d round trips\n", link, f.OSID(), c.n)
	fmt.Fprintf(w, "wait strategy: %s (%s; choose with -wait)\n", c.wait, waitDoc(c.wait))

	ctx, cancel := context.WithTimeout(context.Background(), c.maxTime+30*time.Second)
	defer cancel()
	common := []string{"-link", link, "-n", strconv.Itoa(c.n), "-d", c.maxTime.String(), "-wait", c.wait.String()}
	reader, err := startPeer(ctx, append([]string{"-role", "reader"}, common...), io.Discard)
	if err != nil {
		return err
	}
	writer, err := startPeer(ctx, append([]string{"-role", "writer"}, common...), w)
	if err != nil {
		reader.Process.Kill()
		reader.Wait()
		return err
	}
	werr := writer.Wait()
	rerr := reader.Wait()
	if werr != nil {
		return fmt.Errorf("writer process: %w", werr)
	}
	if rerr != nil {
		return fmt.Errorf("reader process: %w", rerr)
	}
	return nil
}

// startPeer starts this executable again with the hidden peer subcommand
// (see selfCommand).
func startPeer(ctx context.Context, args []string, stdout io.Writer) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := selfCommand(ctx, exe, demoPeerCmd, args...)
	cmd.Stdout = stdout
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	return cmd, cmd.Start()
}

// runDemoPeer is one of the demo's two processes.
func runDemoPeer(args []string) error {
	fs := flag.NewFlagSet("shmx "+demoPeerCmd, flag.ContinueOnError)
	role := fs.String("role", "", "writer or reader")
	link := fs.String("link", "", "link path of the demo's memfile")
	var c demoConfig
	fs.IntVar(&c.n, "n", 0, "round trips")
	fs.DurationVar(&c.maxTime, "d", 0, "maximum duration")
	fs.TextVar(&c.wait, "wait", memfile.Backoff, "wait strategy")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f, err := memfile.Open(*link)
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := newPeer(f)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(memfile.WithWaitStrategy(context.Background(), c.wait), c.maxTime+20*time.Second)
	defer cancel()
	switch *role {
	case "writer":
		return p.write(ctx, os.Stdout, c)
	case "reader":
		return p.read(ctx)
	}
	return usageError{fmt.Errorf("unknown -role %q", *role)}
}

// peer is one end of the ping-pong.
type peer struct {
	f             *memfile.MemFile
	area          *demoArea
	request, resp *memfile.Event
}

func newPeer(f *memfile.MemFile) (*peer, error) {
	area, err := memfile.View[demoArea](f)
	if err != nil {
		return nil, err
	}
	req, err := f.Event(evRequest)
	if err != nil {
		return nil, err
	}
	resp, err := f.Event(evResponse)
	if err != nil {
		return nil, err
	}
	return &peer{f: f, area: area, request: req, resp: resp}, nil
}

// write sends c.n requests (or as many as fit in c.maxTime), waits for
// each response, checks it, and reports rates and latencies to w.
func (p *peer) write(ctx context.Context, w io.Writer, c demoConfig) error {
	rtts := make([]time.Duration, 0, c.n)
	start := time.Now()
	var last string
	for seq := uint64(1); seq <= uint64(c.n) && time.Since(start) < c.maxTime; seq++ {
		t0 := time.Now()
		if err := p.send(&p.area.Req, seq, "ping #"); err != nil {
			return err
		}
		p.request.Set()
		if err := p.resp.Wait(ctx); err != nil {
			return fmt.Errorf("waiting for response %d: %w", seq, err)
		}
		err := p.f.Read(func([]byte) error {
			if got := p.area.Resp.Seq; got != seq {
				return fmt.Errorf("response %d to request %d", got, seq)
			}
			if seq == uint64(c.n) {
				last = msgText(&p.area.Req) + " -> " + msgText(&p.area.Resp)
			}
			return nil
		})
		if err != nil {
			return err
		}
		rtts = append(rtts, time.Since(t0))
	}
	elapsed := time.Since(start)
	if err := p.send(&p.area.Req, stopSeq, "stop"); err != nil {
		return err
	}
	p.request.Set()
	report(w, rtts, elapsed, last)
	return nil
}

// read answers requests until told to stop.
func (p *peer) read(ctx context.Context) error {
	for {
		if err := p.request.Wait(ctx); err != nil {
			return fmt.Errorf("waiting for a request: %w", err)
		}
		var seq uint64
		p.f.Read(func([]byte) error { seq = p.area.Req.Seq; return nil })
		if seq == stopSeq {
			return nil
		}
		if err := p.send(&p.area.Resp, seq, "pong #"); err != nil {
			return err
		}
		p.resp.Set()
	}
}

// send writes a message under the lock, without allocating.
func (p *peer) send(m *demoMsg, seq uint64, text string) error {
	return p.f.Write(func([]byte) error {
		m.Seq = seq
		n := copy(m.Text[:], text)
		if seq != stopSeq {
			n += len(strconv.AppendUint(m.Text[n:n], seq, 10))
		}
		m.Len = uint32(n)
		return nil
	})
}

func msgText(m *demoMsg) string { return string(m.Text[:min(int(m.Len), len(m.Text))]) }

// report prints the rates and the latency percentiles of the round trips.
func report(w io.Writer, rtts []time.Duration, elapsed time.Duration, last string) {
	if len(rtts) == 0 {
		fmt.Fprintln(w, "no round trip completed")
		return
	}
	slices.Sort(rtts)
	pct := func(p float64) time.Duration { return rtts[int(p*float64(len(rtts)-1))] }
	perSec := float64(len(rtts)) / elapsed.Seconds()
	fmt.Fprintf(w, "%d round trips in %v: %.0f round trips/s, %.0f messages/s\n",
		len(rtts), elapsed.Round(time.Millisecond), perSec, 2*perSec)
	fmt.Fprintf(w, "round-trip latency: p50 %v  p99 %v  p99.9 %v  max %v\n",
		pct(0.50), pct(0.99), pct(0.999), rtts[len(rtts)-1])
	if last != "" {
		fmt.Fprintf(w, "last exchange: %s\n", last)
	}
}

// waitDoc says in a few words what strategy s costs.
func waitDoc(s memfile.WaitStrategy) string {
	switch s {
	case memfile.BusySpin:
		return "each waiter polls, a CPU each while it waits, no system calls"
	case memfile.Block:
		return "each waiter sleeps in the kernel at once: least CPU, a system call per hand-off"
	}
	return "each waiter spins about 10 µs, then sleeps in the kernel: the default"
}
