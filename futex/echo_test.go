package futex_test

import (
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/internal/testproc"
)

// echoStop tells a futex echo child to exit.
const echoStop = ^uint32(0)

// echoTimeout bounds every wait of an echo child and parent, so that
// neither hangs when the other dies.
var echoTimeout = testproc.Scale(60 * time.Second)

// TestEcho runs the echo children that BenchmarkPingPongProcesses and
// BenchmarkPipePingPong measure, and in the parent checks 100 round trips
// through each, so that the benchmarks' protocol is itself tested.
func TestEcho(t *testing.T) {
	switch testproc.Role() {
	case "futex":
		if err := echoFutexChild(word(childShared(t), 0)); err != nil {
			t.Fatalf("futex echo child: %v", err)
		}
		return
	case "pipe":
		if err := echoPipeChild(os.Stdin, os.Stdout); err != nil {
			t.Fatalf("pipe echo child: %v", err)
		}
		return
	}
	e := startFutexEcho(t)
	if err := e.roundTrips(100); err != nil {
		t.Fatal(err)
	}
	e.stop(t)
	p := startPipeEcho(t)
	if err := p.roundTrips(100); err != nil {
		t.Fatal(err)
	}
	p.stop(t)
}

// echoFutexChild answers every odd value the parent stores in w with the
// next even value, until echoStop.
func echoFutexChild(w *uint32) error {
	last := uint32(0)
	for {
		v := load(w)
		if v == last {
			if err := futex.Wait(w, v, echoTimeout); err != nil {
				return err
			}
			continue
		}
		if v == echoStop {
			return nil
		}
		last = v + 1
		atomic.StoreUint32(w, last)
		if _, err := futex.Wake(w, 1); err != nil {
			return err
		}
	}
}

// futexEcho is the parent's side of a futex echo child.
type futexEcho struct {
	w    *uint32
	next uint32 // the next odd value to send
	wait func() error
}

func startFutexEcho(tb testing.TB) *futexEcho {
	mem, env := newShared(tb)
	cmd := testproc.Command(tb, "TestEcho", "futex", env)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	e := &futexEcho{w: word(mem, 0), next: 1, wait: cmd.Wait}
	if err := e.roundTrips(1); err != nil { // the child is up and answering
		tb.Fatal(err)
	}
	return e
}

// roundTrips sends n values and waits for each answer.
func (e *futexEcho) roundTrips(n int) error {
	for range n {
		atomic.StoreUint32(e.w, e.next)
		if _, err := futex.Wake(e.w, 1); err != nil {
			return err
		}
		if err := awaitValue(e.w, e.next+1, echoTimeout); err != nil {
			return err
		}
		e.next += 2
	}
	return nil
}

func (e *futexEcho) stop(tb testing.TB) {
	atomic.StoreUint32(e.w, echoStop)
	futex.Wake(e.w, 1)
	if err := e.wait(); err != nil {
		tb.Fatalf("futex echo child: %v", err)
	}
}

// echoPipeChild copies every byte from r back to w until EOF: the same
// round trip as the futex echo, through two OS pipes.
func echoPipeChild(r io.Reader, w io.Writer) error {
	var b [1]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if _, err := w.Write(b[:]); err != nil {
			return err
		}
	}
}

// pipeEcho is the parent's side of a pipe echo child.
type pipeEcho struct {
	w, r *os.File
	wait func() error
}

func startPipeEcho(tb testing.TB) *pipeEcho {
	childIn, toChild, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	fromChild, childOut, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := testproc.Command(tb, "TestEcho", "pipe")
	cmd.Stdin, cmd.Stdout = childIn, childOut
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	childIn.Close()
	childOut.Close()
	p := &pipeEcho{w: toChild, r: fromChild, wait: cmd.Wait}
	tb.Cleanup(func() { toChild.Close(); fromChild.Close() })
	if err := p.roundTrips(1); err != nil {
		tb.Fatal(err)
	}
	return p
}

// roundTrips sends n bytes and reads each answer.
func (p *pipeEcho) roundTrips(n int) error {
	var b [1]byte
	for range n {
		if _, err := p.w.Write(b[:]); err != nil {
			return err
		}
		if _, err := io.ReadFull(p.r, b[:]); err != nil {
			return err
		}
	}
	return nil
}

func (p *pipeEcho) stop(tb testing.TB) {
	p.w.Close()
	io.Copy(io.Discard, p.r) // the child's test framework may print PASS
	if err := p.wait(); err != nil {
		tb.Fatalf("pipe echo child: %v", err)
	}
}
