package memfile

import (
	"context"
	"time"

	sw "github.com/shmx/shmx/internal/word"
)

// Waiting policy shared by every object of this package.
const (
	// spinBudget is how long a contended slow path spins before it sleeps:
	// about two cross-process cache-line round trips on bare metal times a
	// few dozen, far less than a futex sleep/wake (10-20 µs here).
	spinBudget = 20 * time.Microsecond
	// handoffSpinBudget is how long a waiter for another process's signal
	// (Event.Wait, Semaphore.Acquire, a blocked Ring Send or Recv) keeps
	// retrying before it sleeps. A peer running on another CPU answers
	// within a microsecond or two, far below a futex sleep and wake (10-20
	// µs on the virtual machines measured); but when the CPUs are
	// oversubscribed the peer is not running, and every spinning
	// microsecond is taken from it. So the budget is about what blocking
	// costs the waker (a few µs of system call), the classic competitive
	// choice: measured under heavy load, 5 µs kept the round trip at the
	// futex cost while 20-100 µs made it 3-10x worse; on a quiet machine
	// 5-10 µs already catches the fast answers. A waiter that is still
	// spinning has not registered, so the Set or Release that ends its
	// wait makes no system call either.
	handoffSpinBudget = 10 * time.Microsecond
	// sliceWait bounds every sleep: a waiter wakes at least this often to
	// ask internal/live whether the process it waits for is alive (owner
	// death is noticed within about sliceWait).
	sliceWait = 50 * time.Millisecond
	// shortWait is the slice of a waiter that nobody can wake (it is not
	// counted anywhere, so it polls).
	shortWait = 10 * time.Millisecond
	// cancelWait bounds a sleep under a context that can be cancelled:
	// cancellation is noticed within this time.
	cancelWait = 10 * time.Millisecond
	// starveAfter is how long a waiter waits before the lock turns fair
	// (sync.Mutex's starvationThresholdNs).
	starveAfter = time.Millisecond
)

// spinFor retries try for about budget (not at all when only one CPU is
// usable) and reports whether it succeeded: the spin phase of the waits
// for another process's signal (Event, Semaphore, Ring), before they
// register and sleep.
func spinFor(budget time.Duration, try func() bool) bool {
	sp := sw.NewSpinner(budget)
	for sp.Spin() {
		if try() {
			return true
		}
	}
	return false
}

// sleep waits on addr while it holds val, for at most one slice and never
// past ctx's deadline. It returns ctx.Err() when ctx is done (or its
// deadline passed), else nil: woken, timed out or spurious alike, since
// every caller re-reads its word anyway.
func sleep(ctx context.Context, addr *uint32, val uint32, slice time.Duration) error {
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		// ctx can be cancelled (the callers pass nil otherwise): wake up
		// often enough to notice, and never sleep past its deadline.
		slice = min(slice, cancelWait)
		if dl, ok := ctx.Deadline(); ok {
			left := sw.Until(dl)
			if left <= 0 {
				return context.DeadlineExceeded // ctx.Err() may lag its timer
			}
			slice = min(slice, left)
		}
	}
	sw.Wait(addr, val, slice)
	return nil
}

// wake wakes up to n sleepers on addr; callers only call it when their
// word says somebody may sleep there.
func wake(addr *uint32, n int) {
	if n > 0 {
		sw.Wake(addr, n)
	}
}
