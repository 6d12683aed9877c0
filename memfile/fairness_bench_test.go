package memfile

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmx/shmx"
)

// Fairness under contention, shmx beside sync in the same run and with
// the same workload: goroutines in 2 processes for shmx, as many
// goroutines in one process for sync. Each records how long every lock
// call waited:
//
//	go test -run '^$' -bench 'Fairness' -benchtime 200000x -count 5 ./memfile
//
// Reported per sub-benchmark: p50, p99 and max wait, and how many waits
// took over 1 ms and over 5 ms. Fix the op count (-benchtime Nx) so that
// the tail counts of the rows compare.

// Offsets of the fairness benchmarks in the benchmark mapping.
const (
	benchHistChild = 16 << 10 // the child's waitHist
	benchStop      = 1056     // parent -> child: stop reading (rw-fair)
)

// waitHist counts wait times in buckets of 1/8 of a power of two of
// nanoseconds (an HDR histogram in small: quantiles within 12.5%), plus
// the exact max and the tail counts. Plain words: one goroutine fills
// one, merge adds them up.
type waitHist struct {
	n, max, over1ms, over5ms uint64
	b                        [64 * 8]uint64
}

// bucket is the index of ns in waitHist.b.
func bucket(ns uint64) int {
	if ns < 8 {
		return int(ns)
	}
	e := bits.Len64(ns) - 1 // 2^e <= ns < 2^(e+1), e >= 3
	return (e-2)*8 + int(ns>>(e-3)&7)
}

// bucketTop is the largest ns of bucket i.
func bucketTop(i int) uint64 {
	if i < 8 {
		return uint64(i)
	}
	e, sub := i/8+2, uint64(i%8)
	return (8+sub+1)<<(e-3) - 1
}

func (h *waitHist) add(ns uint64) {
	h.n++
	h.max = max(h.max, ns)
	if ns > 1e6 {
		h.over1ms++
	}
	if ns > 5e6 {
		h.over5ms++
	}
	h.b[bucket(ns)]++
}

func (h *waitHist) merge(o *waitHist) {
	h.n += o.n
	h.max = max(h.max, o.max)
	h.over1ms += o.over1ms
	h.over5ms += o.over5ms
	for i := range h.b {
		h.b[i] += o.b[i]
	}
}

// quantile is the top of the bucket that holds quantile q, capped by max.
func (h *waitHist) quantile(q float64) uint64 {
	want := uint64(q * float64(h.n))
	var seen uint64
	for i, c := range h.b {
		if seen += c; seen > want {
			return min(bucketTop(i), h.max)
		}
	}
	return h.max
}

func (h *waitHist) report(b *testing.B, prefix string) {
	b.ReportMetric(float64(h.quantile(0.50)), prefix+"p50-ns")
	b.ReportMetric(float64(h.quantile(0.99)), prefix+"p99-ns")
	b.ReportMetric(float64(h.max), prefix+"max-ns")
	b.ReportMetric(float64(h.over1ms), prefix+"waits>1ms")
	b.ReportMetric(float64(h.over5ms), prefix+"waits>5ms")
}

// histAt is the waitHist at off in mem.
func histAt(mem []byte, off int) *waitHist {
	return (*waitHist)(unsafe.Pointer(&mem[off : off+int(unsafe.Sizeof(waitHist{}))][0]))
}

// fairWork is the work of the fairness benchmarks inside and outside the
// lock: a few hundred ns of arithmetic, the same for every row.
var fairSink atomic.Uint64

func fairWork(n int) {
	x := uint64(n)
	for i := range n {
		x = x*6364136223846793005 + uint64(i)
	}
	if x == 0 {
		fairSink.Add(1)
	}
}

// fairLoop does k lock/unlock pairs, 50 units of work inside and outside
// units after each, timing each lock call into h.
func fairLoop(lock, unlock func(), k, outside int, h *waitHist, c *uint64) {
	tps := float64(shmx.TicksPerSecond())
	for range k {
		t0 := shmx.Ticks()
		lock()
		w := shmx.Ticks() - t0
		*c++
		fairWork(50)
		unlock()
		h.add(uint64(float64(w) * 1e9 / tps))
		fairWork(outside)
	}
}

// fairGoroutines runs g goroutines of fairLoop sharing k pairs and
// merges their histograms into h.
func fairGoroutines(g int, lock, unlock func(), k int, h *waitHist, c *uint64) {
	var wg sync.WaitGroup
	hs := make([]waitHist, g)
	for i := range g {
		n := k / g
		if i < k%g {
			n++
		}
		wg.Go(func() { fairLoop(lock, unlock, n, 100, &hs[i], c) })
	}
	wg.Wait()
	for i := range hs {
		h.merge(&hs[i])
	}
}

// fairReaders runs r reader goroutines until stop says so, timing each
// read lock call into h.
func fairReaders(r int, rlock, runlock func(), h *waitHist, stop func() bool) {
	tps := float64(shmx.TicksPerSecond())
	var wg sync.WaitGroup
	hs := make([]waitHist, r)
	for i := range r {
		wg.Go(func() {
			for !stop() {
				t0 := shmx.Ticks()
				rlock()
				w := shmx.Ticks() - t0
				fairWork(50)
				runlock()
				hs[i].add(uint64(float64(w) * 1e9 / tps))
				fairWork(20)
			}
		})
	}
	wg.Wait()
	for i := range hs {
		h.merge(&hs[i])
	}
}

// fairWriterOutside is the RWMutex writer's work between writes: ten
// times more than inside the lock.
const fairWriterOutside = 500

// fairPer is how many goroutines each process of the shmx rows runs:
// half the CPUs, so that the two processes have a CPU per thread, as the
// sync rows' goroutines have a P each (oversubscribed threads would
// measure the OS scheduler's preemption of holders, not the lock).
func fairPer() int { return max(runtime.GOMAXPROCS(0)/2, 1) }

// fairReadersN is how many readers the RWMutex rows run beside their
// writer.
func fairReadersN() int { return max(runtime.GOMAXPROCS(0)-1, 1) }

// fairChild is the child side of mutex-fair and rw-fair.
func fairChild(mem []byte, kind string, n int) {
	c := counter(mem, benchCounter)
	switch kind {
	case "mutex-fair":
		m, _ := MutexAt(mem)
		fairGoroutines(fairPer(), m.Lock, m.Unlock, n, histAt(mem, benchHistChild), c)
	case "rw-fair":
		rw, _ := RWMutexAt(mem)
		stop := word(mem, benchStop)
		fairReaders(fairReadersN(), rw.RLock, rw.RUnlock, histAt(mem, benchHistChild), func() bool { return stop.Load() != 0 })
	}
}

// BenchmarkMutexFairness: 2 processes contend for one Mutex (b.N pairs
// in all, fairPer goroutines each), beside twice as many goroutines of
// one process contending for a sync.Mutex.
func BenchmarkMutexFairness(b *testing.B) {
	per := fairPer()
	b.Run("shmx", func(b *testing.B) {
		mem, env := benchMapping(b)
		m, _ := MutexAt(mem)
		var h waitHist
		half := b.N / 2
		runWithChild(b, mem, env, "mutex-fair", b.N-half, func() {
			fairGoroutines(per, m.Lock, m.Unlock, half, &h, counter(mem, benchCounter))
		})
		if got := *counter(mem, benchCounter); got != uint64(b.N) {
			b.Fatalf("counter %d, want %d: the lock did not exclude", got, b.N)
		}
		h.merge(histAt(mem, benchHistChild))
		h.report(b, "")
	})
	b.Run("sync", func(b *testing.B) {
		var m sync.Mutex
		var h waitHist
		var c uint64
		fairGoroutines(2*per, m.Lock, m.Unlock, b.N, &h, &c)
		h.report(b, "")
	})
}

// BenchmarkRWMutexFairness: a writer process does b.N writes while
// another process's readers (fairReadersN goroutines) read until it is
// done; beside the same goroutines in one process on a sync.RWMutex.
// Reports writer ("w-") and reader ("r-") waits: neither side starves.
func BenchmarkRWMutexFairness(b *testing.B) {
	readers := fairReadersN()
	b.Run("shmx", func(b *testing.B) {
		mem, env := benchMapping(b)
		rw, _ := RWMutexAt(mem)
		var hw waitHist
		runWithChild(b, mem, env, "rw-fair", b.N, func() {
			fairLoop(rw.Lock, rw.Unlock, b.N, fairWriterOutside, &hw, counter(mem, benchCounter))
			word(mem, benchStop).Store(1)
		})
		if got := *counter(mem, benchCounter); got != uint64(b.N) {
			b.Fatalf("counter %d, want %d", got, b.N)
		}
		hw.report(b, "w-")
		histAt(mem, benchHistChild).report(b, "r-")
	})
	b.Run("sync", func(b *testing.B) {
		var rw sync.RWMutex
		var hw, hr waitHist
		var c uint64
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Go(func() { fairReaders(readers, rw.RLock, rw.RUnlock, &hr, stop.Load) })
		fairLoop(rw.Lock, rw.Unlock, b.N, fairWriterOutside, &hw, &c)
		stop.Store(true)
		wg.Wait()
		hw.report(b, "w-")
		hr.report(b, "r-")
	})
}

// TestWaitHist checks the histogram's buckets and quantiles against
// exact values.
func TestWaitHist(t *testing.T) {
	for _, ns := range []uint64{0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 12345, 1e6, 1e9, 1 << 62} {
		i := bucket(ns)
		if top := bucketTop(i); ns > top || i > 0 && ns <= bucketTop(i-1) {
			t.Errorf("ns %d in bucket %d [%d, %d]", ns, i, bucketTop(i-1)+1, top)
		}
	}
	var h waitHist
	for ns := uint64(1); ns <= 1000; ns++ {
		h.add(ns * 1000)
	}
	for _, q := range []float64{0.5, 0.99} {
		exact := uint64(q*1000+1) * 1000
		if got := h.quantile(q); got < exact || float64(got) > float64(exact)*1.13 {
			t.Errorf("quantile(%v) = %d, exact %d", q, got, exact)
		}
	}
	if h.max != 1e6 || h.over1ms != 0 || h.n != 1000 {
		t.Errorf("max %d, over1ms %d, n %d", h.max, h.over1ms, h.n)
	}
}
