package shmx

import (
	"math/bits"
	"time"
)

// Ticks returns a cheap, monotonic tick count: the time-stamp counter
// (RDTSC) on amd64, the virtual counter CNTVCT_EL0 on arm64, and
// nanoseconds of Go's monotonic clock in the pure-Go twin. Ticks are only
// meaningful as differences, converted with TicksPerSecond.
//
// On amd64 RDTSC is neither serialising nor ordered with loads; that is
// deliberate, since Ticks only measures spin budgets of microseconds,
// where a few cycles of skew do not matter and the fence of RDTSCP or
// LFENCE would double the cost of every check. Every x86 CPU since about
// 2008 has an invariant TSC that ticks at a constant rate in all power
// states and is synchronised across cores; a goroutine that migrates
// between cores of an older or misconfigured machine may see a small step
// backwards, which callers treat as "no time passed" (unsigned difference
// wrap is checked by Spinner).
func Ticks() uint64 { return ticks() }

// TicksPerSecond returns the rate of Ticks. On arm64 the architecture
// states it (CNTFRQ_EL0). On amd64 it is calibrated once, lazily, on the
// first call, against Go's monotonic clock over about a millisecond (the
// first caller sleeps that long); the result is within a few parts in
// 100000. The pure-Go twin ticks in nanoseconds: 1e9.
func TicksPerSecond() uint64 { return ticksPerSecond() }

// genericTicksPerSecond is the rate of ticksGeneric: nanoseconds.
const genericTicksPerSecond = 1e9

// epoch is the origin of ticksGeneric; time.Since reads the monotonic
// clock (nanotime), never the wall clock.
var epoch = time.Now()

// ticksGeneric is the pure-Go twin of the assembly Ticks: nanoseconds of
// the monotonic clock since the package was initialised.
func ticksGeneric() uint64 { return uint64(time.Since(epoch)) }

// calibrate measures the rate of read against the monotonic clock. Each
// end of the window reads the counter between two clock reads and keeps
// the reading only when the two are close, so that a preemption between
// the reads cannot skew the result; the window is slept, not spun, so
// that calibration does not steal a CPU.
func calibrate(read func() uint64) uint64 {
	const window = time.Millisecond
	t0, c0 := bracket(read)
	time.Sleep(window)
	t1, c1 := bracket(read)
	ns := uint64(t1.Sub(t0))
	if ns == 0 || c1 <= c0 {
		return genericTicksPerSecond // a broken counter: never divide by zero
	}
	return scale(c1-c0, 1e9, ns)
}

// bracket reads the counter between two reads of the monotonic clock,
// retrying a few times when they are far apart (a preemption), and returns
// the clock's midpoint with the counter.
func bracket(read func() uint64) (time.Time, uint64) {
	var t time.Time
	var c uint64
	for range 5 {
		a := time.Now()
		c = read()
		b := time.Now()
		t = a.Add(b.Sub(a) / 2)
		if b.Sub(a) < 2*time.Microsecond {
			break
		}
	}
	return t, c
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
