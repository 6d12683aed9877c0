//go:build !linux && !freebsd && !darwin && !windows

package futex

import (
	"runtime"
	"sync/atomic"
	"time"
)

// wakeCounts: nobody sleeps in the kernel.
const wakeCounts = false

// maxPollSleep bounds the back-off of the poll: a waiter notices a change
// of its word at most about this late.
const maxPollSleep = time.Millisecond

// wait is the portable fallback for OSes without a process-shared wait
// primitive that this package knows: it re-reads the word, yielding a few
// times and then sleeping with exponential back-off up to maxPollSleep.
// It is correct (it returns once *addr != val or at the deadline) but
// slow and wasteful compared with a kernel wait; it returns only when the
// word changes, never because of a Wake.
func wait(addr *uint32, val uint32, timeout time.Duration) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	sleep := time.Microsecond
	for i := 0; ; i++ {
		if atomic.LoadUint32(addr) != val {
			return nil
		}
		rem := time.Duration(-1)
		if timeout > 0 {
			if rem = time.Until(deadline); rem <= 0 {
				return errTimeout
			}
		}
		if i < 4 {
			runtime.Gosched()
			continue
		}
		d := sleep
		if rem >= 0 && rem < d {
			d = rem
		}
		time.Sleep(d)
		sleep = min(2*sleep, maxPollSleep)
	}
}

// wake has nothing to do: pollers notice the change of the word by
// themselves. It wakes nobody, so the count is 0.
func wake(addr *uint32, n int) (int, error) { return 0, nil }
