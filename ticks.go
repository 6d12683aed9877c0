package shmx

import (
	"math/bits"
	"time"
)

// Ticks returns a cheap, monotonic tick count: the time-stamp counter
// (RDTSC) on amd64, the virtual counter CNTVCT_EL0 on arm64, and
// nanoseconds of a monotonic clock in the pure-Go twin (Go's own, or
// QueryPerformanceCounter on Windows, where Go's steps in ms). Ticks are only
// meaningful as differences, converted with TicksPerSecond.
//
// On amd64 RDTSC is neither serialising nor ordered with loads; that is
// deliberate, since Ticks only measures spin budgets of microseconds,
// where a few cycles of skew do not matter and the fence of RDTSCP or
// LFENCE would double the cost of every check. Every x86 CPU since about
// 2008 has an invariant TSC that ticks at a constant rate in all power
// states and is synchronised across cores; a goroutine that migrates
// between cores of an older or misconfigured machine may see a small step
// backwards, so compute elapsed time as an unsigned difference and treat
// a huge one as "budget spent", as Spinner does: it ends spinning early,
// which is always safe.
func Ticks() uint64 { return ticks() }

// TicksPerSecond returns the rate of Ticks. On arm64 the architecture
// states it (CNTFRQ_EL0). On amd64 it is calibrated once, lazily, on the
// first call, against Go's monotonic clock over a bit more than a
// millisecond (the first caller waits that long; on Windows, whose clock
// steps in 0.5-15.6 ms, up to two steps longer); repeated calibrations
// agree to a few parts in 100000. The pure-Go twin ticks in nanoseconds.
func TicksPerSecond() uint64 { return ticksPerSecond() }

// genericTicksPerSecond is the rate of ticksGeneric: nanoseconds.
const genericTicksPerSecond = 1e9

// epoch is the origin of ticksGeneric on most systems; time.Since reads
// the monotonic clock (nanotime), never the wall clock.
var epoch = time.Now()

// ticksGeneric is the pure-Go twin of the assembly Ticks: nanoseconds of
// a monotonic clock with sub-microsecond resolution (see monoNanos).
func ticksGeneric() uint64 { return monoNanos() }

// calibrate measures the rate of read against monoNanos over at least a
// millisecond. Each end of the window is a step of that clock (see edge),
// so the result is right whatever its resolution. monoNanos rather than
// time.Now, because Go's clock on Windows steps in 0.5 to 15.6 ms and,
// under wine, is not even accurate over a few ms. The window is slept,
// not spun, so that calibration does not steal a CPU.
func calibrate(read func() uint64) uint64 {
	t0, c0 := edge(read)
	time.Sleep(time.Millisecond)
	t1, c1 := edge(read)
	if t1 <= t0 || c1 <= c0 {
		return genericTicksPerSecond // a broken counter: never divide by zero
	}
	return scale(c1-c0, 1e9, t1-t0)
}

// edge waits for monoNanos to step and returns the new reading with the
// counter read right after it: the two then describe the same instant to
// within one loop iteration (tens of ns), not within one step of the
// clock. A clock that never steps (broken) ends the wait after 1<<24
// reads, well under a second.
func edge(read func() uint64) (ns, count uint64) {
	a := monoNanos()
	for range 1 << 24 {
		b := monoNanos()
		c := read()
		if b != a {
			return b, c
		}
	}
	return a, read()
}

// scale returns x*num/den without intermediate overflow, saturating at
// the largest uint64 when the result does not fit.
func scale(x, num, den uint64) uint64 {
	hi, lo := bits.Mul64(x, num)
	if hi >= den {
		return ^uint64(0)
	}
	q, _ := bits.Div64(hi, lo, den)
	return q
}
