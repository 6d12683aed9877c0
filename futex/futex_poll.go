//go:build !linux && !freebsd && !darwin && !windows

package futex

import "time"

// wakeCounts: nobody sleeps in the kernel.
const wakeCounts = false

// wait is the portable fallback for OSes without a process-shared wait
// primitive that this package knows: WaitAny's poll of one word (it
// yields a few times, then sleeps with exponential back-off up to 1 ms).
// It is correct (it returns once *addr != val or at the deadline) but
// slow and wasteful compared with a kernel wait; it returns only when the
// word changes, never because of a Wake.
func wait(addr *uint32, val uint32, timeout time.Duration) error {
	var w [1]Watch
	w[0].Set(addr, val)
	_, err := waitAnyPoll(w[:], timeout)
	return err
}

// wake has nothing to do: pollers notice the change of the word by
// themselves. It wakes nobody, so the count is 0.
func wake(addr *uint32, n int) (int, error) { return 0, nil }
