package memfile

import (
	"context"
	"fmt"
	sw "github.com/shmx/shmx/internal/word"
)

// EventKind chooses how an Event resets.
type EventKind uint32

const (
	// AutoReset events release exactly one waiter per Set and reset as
	// they do; a Set with no waiter stays set until one comes (the
	// zero value, like a Windows auto-reset event).
	AutoReset EventKind = 0
	// ManualReset events release every waiter, present and future,
	// until Reset.
	ManualReset EventKind = 1
)

// String returns "AutoReset" or "ManualReset".
func (k EventKind) String() string {
	switch k {
	case AutoReset:
		return "AutoReset"
	case ManualReset:
		return "ManualReset"
	}
	return fmt.Sprintf("EventKind(%d)", uint32(k))
}

// Event is an auto-reset or manual-reset event that lives in memory shared
// between processes. Place one with EventAt (all-zero bytes are an
// auto-reset event, not set) or InitEvent.
//
// Layout (EventSize = 16 bytes, 8-byte aligned, the same everywhere):
//
//	offset size meaning
//	0      4    state: bit 0 set, bit 1 manual-reset, bits 2-31 bumped when
//	            the waiter count is recounted; the futex word
//	4      8    waiters: a waitCount (so Set makes no system call without
//	            a waiter, and a waiter that dies costs one needless
//	            wake-up, once: see waitCount)
//	12     4    reserved, 0
//
// Several Sets of an auto-reset event with no waiter in between release
// one waiter, not several: the event is set or not, it does not count
// (use a Semaphore to count).
type Event struct {
	_       [0]sw.Uint64 // 8-byte alignment on 32-bit platforms too
	state   uint32
	waiters waitCount
	_       uint32
}

// Event state bits.
const (
	eventSet    = 1 << iota // signalled
	eventManual             // manual-reset kind, fixed by Init
	eventNudge              // the unit of bits 2-31: a recount of the waiters changes the word (see waitCount)
)

// InitEvent places an Event over b like EventAt and initialises it to the
// given kind, not set. Only the process that creates the shared memory
// calls it, before any other process uses the event.
func InitEvent(b []byte, kind EventKind) (*Event, error) {
	e, err := EventAt(b)
	if err != nil {
		return nil, err
	}
	e.Init(kind)
	return e, nil
}

// Init resets e to the given kind, not set, with no waiter. It must not
// run while any process uses e.
func (e *Event) Init(kind EventKind) {
	var s uint32
	if kind == ManualReset {
		s = eventManual
	}
	sw.StoreUint32(&e.waiters.word, 0)
	sw.StoreUint32(&e.state, s)
}

// Kind reports whether e is auto-reset or manual-reset.
func (e *Event) Kind() EventKind {
	if sw.LoadUint32(&e.state)&eventManual != 0 {
		return ManualReset
	}
	return AutoReset
}

// IsSet reports whether e is set.
func (e *Event) IsSet() bool { return sw.LoadUint32(&e.state)&eventSet != 0 }

// Set sets e. An auto-reset event releases one waiter (now or the next to
// come); a manual-reset event releases all of them until Reset.
func (e *Event) Set() {
	for {
		s := sw.LoadUint32(&e.state)
		if s&eventSet != 0 || sw.CompareAndSwapUint32(&e.state, s, s|eventSet) {
			break
		}
	}
	// The store above comes before this load and a waiter's count comes
	// before its look at the state, so one of us sees the other.
	n := e.waiters.n()
	if n == 0 {
		return
	}
	if sw.LoadUint32(&e.state)&eventManual == 0 {
		n = 1
	}
	woke, err := sw.Wake(&e.state, int(n))
	e.waiters.woke(woke, err, &e.state, eventNudge)
}

// Reset clears e.
func (e *Event) Reset() {
	for {
		s := sw.LoadUint32(&e.state)
		if s&eventSet == 0 || sw.CompareAndSwapUint32(&e.state, s, s&^eventSet) {
			return
		}
	}
}

// TryWait reports whether e is set, resetting it if it is auto-reset
// (then exactly one of several concurrent TryWait or Wait calls sees it).
func (e *Event) TryWait() bool {
	for {
		s := sw.LoadUint32(&e.state)
		if s&eventSet == 0 {
			return false
		}
		if s&eventManual != 0 || sw.CompareAndSwapUint32(&e.state, s, s&^eventSet) {
			return true
		}
	}
}

// Wait waits until e is set (consuming the signal of an auto-reset
// event) or ctx is done; then it returns ctx.Err() and leaves e
// unchanged. Cancellation is noticed at once (nil ctx means
// context.Background()). It waits as ctx's WaitStrategy says: by default
// (Backoff) it spins for up to 10 µs before it sleeps, so a hand-off
// between processes running on different CPUs costs no system call on
// either side.
func (e *Event) Wait(ctx context.Context) error {
	if e.TryWait() {
		return nil // before any look at ctx: the fast path makes no interface call
	}
	strat := WaitStrategyOf(ctx)
	ctx = cancellable(ctx)
	if ctx != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	// A peer on another CPU usually sets the event within a microsecond
	// or two: spin for that before paying a futex sleep and wake-up.
	if strat.spinPhase(e.TryWait) {
		return nil
	}
	if !strat.registers() {
		return e.poll(ctx)
	}
	epoch := e.waiters.register()
	for {
		s := sw.LoadUint32(&e.state)
		if s&eventSet != 0 {
			if e.TryWait() {
				e.waiters.unregister(epoch)
				return nil
			}
			continue
		}
		if epoch != 0 && !e.waiters.counted(epoch) {
			epoch = e.waiters.register() // a recount dropped us: see waitCount
			continue
		}
		slice := sliceWait
		if epoch == 0 {
			slice = shortWait // not counted: nobody wakes us
		}
		if err := sleep(ctx, &e.state, s, slice); err != nil {
			e.giveUp(epoch)
			return err
		}
	}
}

// poll is Wait for BusySpin: uncounted, so Set makes no system call.
func (e *Event) poll(ctx context.Context) error {
	for {
		s := sw.LoadUint32(&e.state)
		if s&eventSet != 0 {
			if e.TryWait() {
				return nil
			}
			continue
		}
		if err := poll(ctx, &e.state, s, sliceWait); err != nil {
			return err
		}
	}
}

// giveUp removes a waiter that stops waiting. An auto-reset Set may have
// woken it rather than another waiter: pass the wake-up on.
func (e *Event) giveUp(epoch uint32) {
	n := e.waiters.unregister(epoch)
	if n > 0 && sw.LoadUint32(&e.state)&(eventSet|eventManual) == eventSet {
		wake(&e.state, 1)
	}
}
