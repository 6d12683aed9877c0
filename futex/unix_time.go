//go:build linux || freebsd

package futex

import (
	"math"
	"time"

	"golang.org/x/sys/unix"
)

// monotonicDeadline returns CLOCK_MONOTONIC now + d as a timespec. Linux
// and FreeBSD take an absolute deadline on that clock, so a wait that
// is retried after EINTR keeps the original deadline instead of drifting
// by the time already slept. The Timespec is returned by value so that it
// lives on the caller's stack.
func monotonicDeadline(d time.Duration) (unix.Timespec, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return ts, err
	}
	now := unix.TimespecToNsec(ts)
	end := int64(math.MaxInt64) // saturate: ~292 years is "no limit" in practice
	if int64(d) < end-now {
		end = now + int64(d)
	}
	return unix.NsecToTimespec(end), nil
}
