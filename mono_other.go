//go:build !windows

package shmx

import "time"

// monoNanos returns nanoseconds of Go's monotonic clock (nanotime: the
// vDSO clock_gettime(CLOCK_MONOTONIC) on Linux, mach_absolute_time on
// macOS) since the package was initialised.
func monoNanos() uint64 { return uint64(time.Since(epoch)) }
