package memfile

import (
	"context"
	"time"

	"github.com/shmx/shmx/futex"
)

// Waiting policy shared by every object of this package.
const (
	// spinBudget is how long a contended slow path spins before it sleeps:
	// about two cross-process cache-line round trips on bare metal times a
	// few dozen, far less than a futex sleep/wake (10-20 µs here).
	spinBudget = 20 * time.Microsecond
	// sliceWait bounds every sleep: a waiter wakes at least this often to
	// check that the process it waits for is alive (owner death is noticed
	// within about sliceWait+confirmWait).
	sliceWait = 50 * time.Millisecond
	// confirmWait is the short second look after a holder first looked
	// dead, so that a holder caught between its CAS and the store of its
	// owner record is never judged by a stale record.
	confirmWait = 10 * time.Millisecond
	// cancelWait bounds a sleep under a context that can be cancelled:
	// cancellation is noticed within this time.
	cancelWait = 10 * time.Millisecond
	// starveAfter is how long a waiter waits before the lock turns fair
	// (sync.Mutex's starvationThresholdNs).
	starveAfter = time.Millisecond
)

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
			left := time.Until(dl)
			if left <= 0 {
				return context.DeadlineExceeded // ctx.Err() may lag its timer
			}
			slice = min(slice, left)
		}
	}
	futex.Wait(addr, val, slice)
	return nil
}

// wake wakes up to n sleepers on addr; callers only call it when their
// word says somebody may sleep there.
func wake(addr *uint32, n int) {
	if n > 0 {
		futex.Wake(addr, n)
	}
}
