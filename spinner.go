package shmx

import (
	"runtime"
	"time"
)

// maxBatch caps the Pauses of one Spin call, so that a Spinner overshoots
// its budget by at most one batch: 64 Pauses are under 1 µs with 10-cycle
// PAUSEs and about 3 µs with 140-cycle ones.
const maxBatch = 64

// pollBatch caps the batches of a NewPollSpinner: 4 Pauses are 40 ns with
// 10-cycle PAUSEs and about 200 ns with 140-cycle ones.
const pollBatch = 4

// Spinner spins a lock's slow path for a bounded time before the caller
// parks (futex wait). It is a small value with no pointers: it lives on
// the caller's stack and never allocates.
//
//	s := shmx.NewSpinner(20 * time.Microsecond)
//	for s.Spin() {
//		if tryLock() {
//			return
//		}
//	}
//	park()
//
// Each Spin executes one batch of Pauses, the batch doubling from 1 up to
// maxBatch (exponential back-off, so that many spinners on one line spread
// out their re-reads). The budget is in time, read from Ticks, because a
// Pause costs anywhere from a few to ~50 ns depending on the CPU. The zero
// Spinner never spins.
type Spinner struct {
	start  uint64 // Ticks when the Spinner was made
	budget uint64 // budget in ticks; 0 means spinning is over
	batch  uint32 // Pauses in the next Spin
	most   uint32 // the largest batch: maxBatch, or pollBatch
}

// NewSpinner returns a Spinner that spins for about budget. When at most
// one CPU is usable (GOMAXPROCS is 1 or the machine has one CPU) spinning
// only delays the process that would release the lock, so, as sync.Mutex
// does, the Spinner then never spins; likewise for budget <= 0. The first
// NewSpinner of a process may calibrate TicksPerSecond (about 1 ms).
func NewSpinner(budget time.Duration) Spinner {
	if budget <= 0 || !spinUseful() {
		return Spinner{}
	}
	b := scale(uint64(budget), TicksPerSecond(), 1e9)
	if b == 0 {
		b = 1
	}
	return Spinner{start: Ticks(), budget: b, batch: 1, most: maxBatch}
}

// NewPollSpinner is NewSpinner for a waiter that polls by loads alone (a
// flag another process will set, a ring slot it will fill): its batches
// grow only to 4 Pauses. The back-off of NewSpinner spreads out the
// compare-and-swaps of many spinners on one line; loads of a line that
// has not changed cost nothing to the process that will change it, and
// a long batch only delays the waiter's noticing the change: with 64
// Pauses of 25 ns (an AMD EPYC), by 0.8 µs on average once the spin has
// run for 3 µs, which in a 64 KiB zero-copy round trip, where each side
// waits about 3 µs for the other, was a third of the time.
func NewPollSpinner(budget time.Duration) Spinner {
	s := NewSpinner(budget)
	s.most = min(s.most, pollBatch)
	return s
}

// spinUseful reports whether another CPU could release what we spin on
// while we spin. GOMAXPROCS can change at run time, so it is read on each
// call (NewSpinner is only ever on a slow path).
func spinUseful() bool {
	return runtime.NumCPU() > 1 && runtime.GOMAXPROCS(0) > 1
}

// Spin executes one batch of Pauses and reports true, or reports false
// without pausing once the budget is spent (and on every later call).
// The caller re-checks its condition after each true. The first Spin of a
// Spinner from NewSpinner always spins (one Pause), even if the goroutine
// was descheduled since NewSpinner, so that a caller always gets at least
// one re-check before it parks.
func (s *Spinner) Spin() bool {
	if s.budget == 0 {
		return false
	}
	// Unsigned difference: a counter that stepped back (a goroutine
	// moved to a core with a skewed TSC) reads as a huge elapsed time and
	// ends spinning early, which is always safe.
	if s.batch > 1 && Ticks()-s.start >= s.budget {
		s.budget = 0
		return false
	}
	for i := s.batch; i > 0; i-- {
		Pause()
	}
	if s.batch < s.most {
		s.batch <<= 1
	}
	return true
}
