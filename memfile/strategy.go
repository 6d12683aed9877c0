package memfile

import (
	"context"
	"fmt"
	"strconv"
	"time"

	sw "github.com/shmx/shmx/internal/word"
)

// WaitStrategy says how a blocking call waits for another process's
// signal: Event.Wait, Cond.Wait, Semaphore.Acquire and the Ring's Send,
// Recv, BeginSend and BeginRecv. Choose one per call with
// WithWaitStrategy; without one a call uses Backoff. (The locks, Mutex
// and RWMutex, keep their own adaptive wait: their holders leave within a
// critical section, so they spin for about 20 µs and then sleep.)
//
// The choice is the caller's, as Aeron's idle strategies and the LMAX
// Disruptor's wait strategies are: a trading gateway with a CPU to spare
// per waiter wants the lowest latency (BusySpin); a telemetry agent on a
// shared host wants to cost nothing while idle (Block); most programs
// want the default. The strategy travels in the context because the
// objects live in shared memory, where no per-process setting can be
// kept, and because it is a property of the caller's work, the same for
// every object that work waits on.
type WaitStrategy uint8

const (
	// Backoff spins for about 10 µs (PAUSE between tries; not at all
	// when only one CPU is usable), then sleeps in the kernel until
	// woken. A peer on another CPU usually answers within the spin, and
	// then neither side makes a system call; a peer that takes longer
	// costs a futex sleep and wake-up (10-20 µs on the virtual machines
	// measured). The default.
	Backoff WaitStrategy = iota
	// BusySpin never sleeps: it polls, with PAUSE between tries, until
	// the call succeeds or its ctx is done, and it registers nowhere, so
	// the process that signals makes no system call either. The lowest
	// latency, for a whole CPU per waiter while it waits. The work a
	// sleeper does at the end of each 50 ms slice (asking whether a
	// process it waits for died) is done every 50 ms of polling, and
	// Close is noticed within a few microseconds. A Semaphore waiter
	// still queues (waiters are served in order), and the Release that
	// grants it still makes its wake-up call.
	BusySpin
	// Block sleeps in the kernel at once, without spinning: the least
	// CPU, for a system call on both sides of every wait that is not
	// satisfied at once.
	Block
)

// String returns the strategy's name.
func (s WaitStrategy) String() string {
	switch s {
	case Backoff:
		return "backoff"
	case BusySpin:
		return "busy-spin"
	case Block:
		return "block"
	}
	return "WaitStrategy(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText returns the strategy's name, so that a WaitStrategy can be
// a flag (flag.TextVar) or a configuration field.
func (s WaitStrategy) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText sets s from a name: backoff, busy-spin or block.
func (s *WaitStrategy) UnmarshalText(b []byte) error {
	for _, w := range []WaitStrategy{Backoff, BusySpin, Block} {
		if w.String() == string(b) {
			*s = w
			return nil
		}
	}
	return fmt.Errorf("memfile: unknown wait strategy %q (backoff, busy-spin or block)", b)
}

type waitStrategyKey struct{}

// WithWaitStrategy returns a copy of parent (nil means
// context.Background()) that makes the blocking calls it is passed to
// wait with strategy s.
func WithWaitStrategy(parent context.Context, s WaitStrategy) context.Context {
	if parent == nil {
		parent = context.Background()
	}
	return context.WithValue(parent, waitStrategyKey{}, s)
}

// WaitStrategyOf returns the strategy the blocking calls given ctx use.
func WaitStrategyOf(ctx context.Context) WaitStrategy {
	if ctx == nil {
		return Backoff
	}
	s, _ := ctx.Value(waitStrategyKey{}).(WaitStrategy)
	if s > Block {
		return Backoff
	}
	return s
}

// spinPhase is the strategy's wait before a call registers to sleep: for
// Backoff, spinFor(handoffSpinBudget, try); Block and BusySpin skip it
// (BusySpin polls in place of every sleep instead, see waitOn).
func (s WaitStrategy) spinPhase(try func() bool) bool {
	return s == Backoff && spinFor(handoffSpinBudget, try)
}

// registers reports whether a waiter of this strategy counts itself
// among the sleepers (so that wakers call the kernel for it).
func (s WaitStrategy) registers() bool { return s != BusySpin }

// waitOn is sleep for a waiter of strategy s: BusySpin polls instead.
func (s WaitStrategy) waitOn(ctx context.Context, addr *uint32, val uint32, slice time.Duration) error {
	if s == BusySpin {
		return poll(ctx, addr, val, slice)
	}
	return sleep(ctx, addr, val, slice)
}

// pollCheck is how many polls pass between two looks at the clock, ctx
// and Close: a few hundred nanoseconds of PAUSE.
const pollCheck = 64

// poll is sleep for BusySpin: it loads addr, with a PAUSE between loads,
// until it no longer holds val or slice has passed (then nil), ctx is
// done (ctx.Err()) or the MemFile holding addr was closed (errClosed).
// It makes no system call and needs no wake-up.
func poll(ctx context.Context, addr *uint32, val uint32, slice time.Duration) error {
	return pollUntil(ctx, addr, func() bool { return sw.LoadUint32(addr) != val }, slice, func() bool { return true })
}

// pollUntil is BusySpin's wait: it retries try, with a PAUSE between
// tries, until it succeeds (nil), ctx (nil: none) is done or the MemFile
// holding addr was closed (the error; also when try succeeded in the
// zeros Close left). At the end of every slice it calls atSlice, the
// work of a sleeper at the end of a slice, and stops with nil if that
// says so. A condition that no single word shows (a Ring slot to claim)
// passes its own try; poll waits for one word to change.
func pollUntil(ctx context.Context, addr *uint32, try func() bool, slice time.Duration, atSlice func() (stop bool)) error {
	mp, err := enterPoll(addr)
	if err != nil {
		return err
	}
	defer mp.LeavePoll()
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	start := sw.Now()
	for i := 1; ; i++ {
		if try() {
			return closedErr(mp)
		}
		if i%pollCheck == 0 {
			if err := closedErr(mp); err != nil {
				return err
			}
			select {
			case <-done:
				return ctx.Err()
			default:
			}
			if sw.Since(start) >= slice {
				if atSlice() {
					return nil
				}
				start = sw.Now()
			}
		}
		sw.Pause()
	}
}
