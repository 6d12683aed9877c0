package memfile

import (
	"context"
	"fmt"
	"unsafe"

	sw "github.com/shmx/shmx/internal/word"
)

// Cond is a condition variable that lives in memory shared between
// processes and pairs with a Mutex, as sync.Cond pairs with a sync.Mutex:
// a goroutine holding the Mutex calls Wait, which unlocks it, sleeps until
// Signal or Broadcast (from any process) and locks it again before it
// returns. Place one with CondAt; all-zero bytes are a Cond nobody waits
// on. Like sync.Cond, a Cond is used with any one Mutex at a time, and
// the waiter re-checks its condition in a loop:
//
//	mu.Lock()
//	defer mu.Unlock()
//	for !ready() {
//		if err := c.Wait(ctx, mu); err != nil {
//			return err // mu is held: the defer unlocks it
//		}
//	}
//
// Layout (CondSize = 16 bytes, 8-byte aligned, the same everywhere):
//
//	offset size meaning
//	0      4    seq: changed by every Signal and Broadcast; the futex word
//	4      8    waiters: a waitCount of the goroutines registered to sleep
//	            (so Signal and Broadcast make no system call without one)
//	12     4    reserved, 0
//
// A waiter reads seq before it unlocks the Mutex and sleeps only while
// seq still has that value, so a Signal that comes after it unlocked is
// never missed. Signal wakes one sleeper; the kernel wakes the one that
// slept first (Linux, and Windows through package futex's queue), which
// is the one a Signal after its unlock is for. A waiter that registered
// after the Signal and was woken for it instead (where the kernel does
// not wake in order, or a sleep that ended at its slice) sees seq
// unchanged since its own read and sleeps on; the one the Signal was for
// then notices at the end of its 50 ms slice at the latest.
//
// Dead processes. A waiter killed while it sleeps is gone from the
// kernel's queue, so Signal wakes a live one; it leaves its registration
// in the waiter count, until a Signal or Broadcast whose wake-up finds
// nobody drops the count and bumps seq (live waiters take that for a
// spurious wake-up and register again; see waitCount): one needless
// wake-up call, once. A holder of the
// Mutex that dies is the Mutex's business: Wait locks the Mutex again
// with LockRecover and reports an inconsistent one (see Wait).
//
// Transitions of seq and waiters:
//
//	word     from   to     by                       when
//	seq      s      s+1    Signal, Broadcast        always (wraps)
//	seq      s      s+1    a recount of waiters     a wake-up found nobody (see waitCount)
//	waiters  n      n+1    Wait                     before its sleep, after its spin, and
//	                                                again if a recount dropped it
//	waiters  n      n-1    Wait                     after seq changed, ctx was done or f closed
//	waiters  n      0      Signal, Broadcast        recount: the wake-up found nobody
type Cond struct {
	_       [0]sw.Uint64 // 8-byte alignment on 32-bit platforms too
	seq     uint32
	waiters waitCount
	_       uint32
}

// CondAt returns the Cond stored in the first CondSize bytes of b, which
// must be 8-byte aligned. All-zero bytes are a Cond nobody waits on.
// Every value of its bytes is a valid Cond (another process can only
// make it wake its waiters, or call the kernel for nobody).
func CondAt(b []byte) (*Cond, error) {
	p, err := objectAt(b, CondSize, "Cond")
	return (*Cond)(p), err
}

// errCondInconsistent is what Wait returns, with the Mutex held, when the
// Mutex it locked again is inconsistent (preallocated).
var errCondInconsistent = fmt.Errorf("memfile: Cond.Wait locked the Mutex again and it is inconsistent, a holder died (repair, MarkConsistent, Unlock): %w", ErrOwnerDead)

// Wait unlocks m, which the caller must hold, waits until Signal or
// Broadcast is called (after Wait unlocked m) or ctx is done, and locks m
// again. It returns with m held in every case but one, so that
// "defer m.Unlock()" stays right, as with sync.Cond:
//
//   - nil: signalled;
//   - ctx.Err(): ctx was done first (cancellation is noticed at once; nil
//     means context.Background());
//   - an error matching ErrOwnerDead: while m was unlocked a process died
//     holding it, and m is inconsistent now. m is held, as LockRecover
//     would return it: repair the data and call MarkConsistent, or
//     unlock and leave the mark for the next LockRecover;
//   - an error matching fs.ErrClosed: the MemFile holding c or m was
//     closed; m's memory is private zeros now, where an Unlock harms
//     nobody (see MemFile.Close).
//
// Wait waits as ctx's WaitStrategy says: by default (Backoff) it spins
// for up to 10 µs before it sleeps, so a Signal from a process running on
// another CPU costs no system call on either side.
func (c *Cond) Wait(ctx context.Context, m *Mutex) error {
	strat := WaitStrategyOf(ctx)
	ctx = cancellable(ctx)
	s := sw.LoadUint32(&c.seq)
	m.Unlock()
	err := c.wait(ctx, strat, s)
	inconsistent, lerr := m.lockRecover(nil)
	switch {
	case lerr != nil:
		return lerr // not held: only errClosed comes without a ctx
	case inconsistent:
		return errCondInconsistent
	}
	return err
}

// wait waits for seq to change from s, or for ctx, as strat says; it
// returns ctx's error or errClosed, else nil.
func (c *Cond) wait(ctx context.Context, strat WaitStrategy, s uint32) error {
	changed := func() bool { return sw.LoadUint32(&c.seq) != s }
	if changed() || strat.spinPhase(changed) {
		return nil
	}
	if !strat.registers() {
		for !changed() {
			if err := poll(ctx, &c.seq, s, sliceWait); err != nil {
				return err
			}
		}
		return c.closedAfterWait()
	}
	epoch := c.waiters.register()
	defer func() { c.waiters.unregister(epoch) }()
	for !changed() {
		if epoch != 0 && !c.waiters.counted(epoch) {
			epoch = c.waiters.register() // a recount dropped us: see waitCount
			continue
		}
		slice := sliceWait
		if epoch == 0 {
			slice = shortWait // not counted: nobody wakes us
		}
		if err := sleep(ctx, &c.seq, s, slice); err != nil {
			return err
		}
	}
	return c.closedAfterWait()
}

// closedAfterWait returns errClosed if seq "changed" because Close zeroed
// c between two sleeps, else nil.
func (c *Cond) closedAfterWait() error {
	if closedAt(unsafe.Pointer(c)) {
		return errClosed
	}
	return nil
}

// Signal wakes one goroutine waiting on c, in any process, if there is
// one. The caller need not hold the Mutex (as with sync.Cond), though a
// waiter's condition is usually changed under it.
func (c *Cond) Signal() {
	sw.AddUint32(&c.seq, 1)
	if c.waiters.n() > 0 {
		woke, err := sw.Wake(&c.seq, 1)
		c.waiters.woke(woke, err, &c.seq, 1)
	}
}

// Broadcast wakes every goroutine waiting on c, in every process.
func (c *Cond) Broadcast() {
	sw.AddUint32(&c.seq, 1)
	if c.waiters.n() > 0 {
		woke, err := sw.WakeAll(&c.seq)
		c.waiters.woke(woke, err, &c.seq, 1)
	}
}
