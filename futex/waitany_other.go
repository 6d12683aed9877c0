//go:build !linux

package futex

import "time"

// waitAny polls: no kernel this package supports outside Linux waits on
// several words from one thread (see WaitAny).
func waitAny(ws []Watch, timeout time.Duration) (int, error) {
	return waitAnyPoll(ws, timeout)
}

func waitAnyWakes() bool { return false }

// parks: only Linux's io_uring queues a futex wait without a thread.
func parks() bool { return false }
