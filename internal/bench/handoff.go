package bench

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/shmx/shmx/internal/cbench"
	"github.com/shmx/shmx/memfile"
)

// handoffRows: two processes pass the turn back and forth; the figure is
// one round trip (the parent's turn to the parent's next turn).
func (e *env) handoffRows() []row {
	const g = "lock hand-off, 2 processes"
	return []row{
		{g, "shmx Mutex, turn polled under the lock", true, "", e.pongMutex},
		{g, "shmx Event pair", true, "", e.pongEvent},
		{g, "shmx Event pair, this side waits in a WaitSet select", true, "shmx Event pair", e.pongEventWaitSet},
		{g, "pthread mutex, turn polled under the lock (C loop)", false, "shmx Mutex, turn polled under the lock",
			func(ctx context.Context) (Result, error) { return e.pongC(ctx, "pong-pthread-poll", cbench.PollPong) }},
		{g, "pthread mutex + cond (C loop)", false, "shmx Event pair",
			func(ctx context.Context) (Result, error) { return e.pongC(ctx, "pong-pthread-cond", cbench.PingPong) }},
		{g, "pipe, 1 byte", false, "shmx Event pair",
			func(ctx context.Context) (Result, error) { return e.streamRoundTrip(ctx, "pipe", 1) }},
		{g, "Unix socket, 1 byte", false, "shmx Event pair",
			func(ctx context.Context) (Result, error) { return e.streamRoundTrip(ctx, "unix", 1) }},
	}
}

// withPeer creates a row's memfile with payload bytes, lets prepare lay
// it out, starts one peer of kind and releases it, then runs measure and
// stops the peer.
func (e *env) withPeer(ctx context.Context, kind string, payload int, more []string,
	prepare func(*shared) error, measure func(*shared) (Result, error)) (Result, error) {
	return e.withPeerOn(ctx, false, kind, payload, more, prepare, measure)
}

// withPeerCPU is withPeer that also reports the CPU time both processes
// spent per operation (Result.CPU): this process's during measure, the
// peer's over its whole life (its start-up and stop are in it: a few
// milliseconds of CPU, under 1% of a one-second row). Where the peer has
// no round-trip loop of its own to calibrate, as the echo rows, that is
// what the wait strategy costs.
func (e *env) withPeerCPU(ctx context.Context, kind string, payload int, more []string,
	prepare func(*shared) error, measure func(*shared) (Result, error)) (Result, error) {
	var peers []*exec.Cmd
	var self time.Duration
	r, err := e.withPeerOn(ctx, false, kind, payload, more, prepare, func(s *shared) (Result, error) {
		c0 := processCPU()
		r, err := measure(s)
		self = processCPU() - c0
		peers = s.peers
		return r, err
	})
	if err != nil || r.Ops == 0 || self <= 0 {
		return r, err
	}
	for _, p := range peers {
		if p.ProcessState != nil {
			self += p.ProcessState.UserTime() + p.ProcessState.SystemTime()
		}
	}
	r.CPU = float64(self.Nanoseconds()) / float64(r.Ops)
	return r, nil
}

// withPeerOn is withPeer with the memfile on huge pages if huge.
func (e *env) withPeerOn(ctx context.Context, huge bool, kind string, payload int, more []string,
	prepare func(*shared) error, measure func(*shared) (Result, error)) (Result, error) {
	s, err := e.newShared(payload, segmentOptions(huge)...)
	if err != nil && huge {
		return Result{}, fmt.Errorf("%s%w", noHuge, err)
	}
	if err != nil {
		return Result{}, err
	}
	defer s.close()
	if prepare != nil {
		if err := prepare(s); err != nil {
			return Result{}, err
		}
	}
	if huge {
		more = append(more[:len(more):len(more)], "-huge")
	}
	peers, err := s.launch(ctx, 1, func(int) (*exec.Cmd, error) { return e.startPeer(ctx, kind, s, more...) })
	if err != nil {
		return Result{}, err
	}
	s.peers = peers
	r, err := measure(s)
	if err != nil {
		killPeers(peers)
		return Result{}, err
	}
	return r, stopPeers(s, peers)
}

// latencies collects round-trip times; start it just before the loop.
type latencies struct {
	ns    []int64
	start time.Time
	last  time.Time
}

func newLatencies() *latencies {
	now := time.Now()
	return &latencies{ns: make([]int64, 0, 1<<16), start: now, last: now}
}

// lap records the time since the previous lap and reports whether d has
// passed since the start.
func (l *latencies) lap(d time.Duration) bool {
	now := time.Now()
	l.ns = append(l.ns, now.Sub(l.last).Nanoseconds())
	l.last = now
	return now.Sub(l.start) < d
}

func (l *latencies) result() Result {
	r := Result{Unit: NsPerRoundTrip}
	percentiles(&r, l.ns, l.last.Sub(l.start))
	return r
}

func (e *env) pongMutex(ctx context.Context) (Result, error) {
	return e.withPeer(ctx, "pong-mutex", 0, nil, nil, func(s *shared) (Result, error) {
		m, err := memfile.MutexAt(s.b[offMutex:])
		if err != nil {
			return Result{}, err
		}
		turn := s.u32(offTurn)
		l := newLatencies()
		for {
			for spins, taken := 0, false; !taken; spins++ {
				if spins&4095 == 4095 && ctx.Err() != nil {
					return Result{}, fmt.Errorf("the peer stopped taking its turn: %w", ctx.Err())
				}
				m.Lock()
				if turn.Load() == 0 {
					turn.Store(1)
					taken = true
				}
				m.Unlock()
			}
			if !l.lap(e.Duration) {
				break
			}
		}
		return l.result(), nil
	})
}

func (e *env) pongEvent(ctx context.Context) (Result, error) {
	return e.pongEventWith(ctx, func(s *shared) (func() error, func(), error) {
		return func() error { return s.resp.Wait(ctx) }, func() {}, nil
	})
}

// pongEventWaitSet is pongEvent with this side's wait a select on a
// WaitSet Watcher of the answer event (and a channel that never fires):
// what waiting in a select costs over a blocking Wait. The peer is the
// same.
func (e *env) pongEventWaitSet(ctx context.Context) (Result, error) {
	return e.pongEventWith(ctx, func(s *shared) (func() error, func(), error) {
		ws := memfile.NewWaitSet()
		w, err := ws.AddEvent(s.resp)
		if err != nil {
			ws.Close()
			return nil, nil, err
		}
		never := make(chan struct{})
		return func() error {
			for !s.resp.TryWait() {
				select {
				case <-w.C:
				case <-never:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}, func() { ws.Close() }, nil
	})
}

// pongEventWith runs the Event pair: set the peer's event, wait for the
// answer with the wait newWait returns (and its clean-up), lap.
func (e *env) pongEventWith(ctx context.Context, newWait func(*shared) (wait func() error, done func(), err error)) (Result, error) {
	return e.withPeer(ctx, "pong-event", 0, nil, nil, func(s *shared) (Result, error) {
		wait, done, err := newWait(s)
		if err != nil {
			return Result{}, err
		}
		defer done()
		l := newLatencies()
		for {
			s.req.Set()
			if err := wait(); err != nil {
				return Result{}, err
			}
			if !l.lap(e.Duration) {
				break
			}
		}
		s.u32(offStop).Store(1)
		s.req.Set() // wake the peer to see the stop
		return l.result(), nil
	})
}

// pongC runs a C hand-off loop, which cannot stop on a flag: a first run
// of calibrate rounds sizes the second to last about Duration, and the
// count is handed to the peer through the memfile. C loops time only the
// whole run, so these rows have no percentiles.
func (e *env) pongC(ctx context.Context, kind string, loop func(mem []byte, me, n int)) (Result, error) {
	if !cbench.Available {
		return Result{Unit: NsPerRoundTrip}, errNoCgo
	}
	return e.withPeer(ctx, kind, 0, nil, nil, func(s *shared) (Result, error) {
		mem := s.b[offPthread:]
		t0 := time.Now()
		loop(mem, 0, calibrate)
		per := time.Since(t0) / calibrate
		n := int64(e.Duration / max(per, 1))
		n = min(max(n, 1000), 1<<30)
		s.u64(offN).Store(uint64(n))
		s.param.Set()
		t0 = time.Now()
		loop(mem, 0, int(n))
		d := time.Since(t0)
		return Result{Unit: NsPerRoundTrip, Value: float64(d.Nanoseconds()) / float64(n), Ops: n}, nil
	})
}

// calibrate is the round count of a C loop's sizing run.
const calibrate = 2000
