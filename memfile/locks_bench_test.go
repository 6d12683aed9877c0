package memfile

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx"
	"github.com/shmx/shmx/internal/cbench"
	"github.com/shmx/shmx/internal/testproc"
)

// Benchmarks of the locks beside their alternatives in the same run:
//
//	go test -run '^$' -bench 'Uncontended|PingPong|Contended|ReadMostly' -count 5 ./memfile
//
// The C baselines (internal/cbench) need cgo; without it those
// sub-benchmarks skip, saying so.

// Offsets in the benchmark mapping.
const (
	benchLock    = 0    // a Mutex, Event pair or RWMutex
	benchGo      = 1024 // parent -> child: start
	benchDone    = 1028 // child -> parent: finished
	benchTurn    = 1032 // ping-pong turn / counter
	benchWorst   = 1040 // child's worst wait, ns
	benchCounter = 1048 // plain counter
	benchPthread = 2048 // cbench shared block
)

const envBenchN, envBenchKind = "SHMX_BENCH_N", "SHMX_BENCH_KIND"

func skipNoCgo(b *testing.B) {
	if !cbench.Available {
		b.Skip("C baseline needs cgo on Linux or FreeBSD (internal/cbench)")
	}
}

func BenchmarkMutexUncontended(b *testing.B) {
	b.Run("shmx", func(b *testing.B) {
		m, _ := MutexAt(benchMem(b))
		b.ReportAllocs()
		for b.Loop() {
			m.Lock()
			m.Unlock()
		}
	})
	b.Run("sync", func(b *testing.B) {
		var m sync.Mutex
		b.ReportAllocs()
		for b.Loop() {
			m.Lock()
			m.Unlock()
		}
	})
	b.Run("pthread", func(b *testing.B) {
		skipNoCgo(b)
		mem := benchMem(b)[benchPthread:]
		if err := cbench.InitShared(mem); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < b.N; i += 1000 {
			cbench.LockLoop(mem, min(1000, b.N-i))
		}
	})
}

// benchMem maps a fresh shared file for one benchmark.
func benchMem(b *testing.B) []byte {
	mem, _ := benchMapping(b)
	return mem
}

// benchMapping is parentMapping for benchmarks.
func benchMapping(b *testing.B) ([]byte, string) {
	dir, err := os.MkdirTemp("", "shmx-bench-")
	if err != nil {
		b.Fatal(err)
	}
	path := dir + string(os.PathSeparator) + "locks"
	b.Cleanup(func() { os.Remove(path); os.Remove(dir) })
	return lockMapping(b, path), envLockFile + "=" + path
}

// TestBenchChild is the other process of the two-process benchmarks; in
// an ordinary test run it does nothing.
func TestBenchChild(t *testing.T) {
	if testproc.Role() != "bench" {
		t.Skip("helper process of the benchmarks")
	}
	b := childMapping(t)
	n, _ := strconv.Atoi(os.Getenv(envBenchN))
	for word(b, benchGo).Load() == 0 {
		runtime.Gosched()
	}
	switch os.Getenv(envBenchKind) {
	case "mutex-pingpong":
		m, _ := MutexAt(b)
		mutexPong(m, word(b, benchTurn), 1, n)
	case "pthread-pollpong":
		cbench.PollPong(b[benchPthread:], 1, n)
	case "pthread-condpong":
		cbench.PingPong(b[benchPthread:], 1, n)
	case "event-pingpong":
		ping, _ := EventAt(b[0:])
		pong, _ := EventAt(b[EventSize:])
		ctx := testproc.Context(t, time.Minute)
		for range n {
			if err := ping.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			pong.Set()
		}
	case "mutex-fair", "rw-fair":
		fairChild(b, os.Getenv(envBenchKind), n)
	case "mutex-contended", "pthread-contended", "flock-contended":
		worst := contend(b, os.Getenv(envLockFile), os.Getenv(envBenchKind), n)
		atomic.StoreUint64((*uint64)(counter(b, benchWorst)), uint64(worst))
	}
	word(b, benchDone).Store(1)
}

// runWithChild runs the child side of kind for n rounds and the parent
// side f, timing only the part where both run.
func runWithChild(b *testing.B, mem []byte, env, kind string, n int, f func()) {
	b.StopTimer()
	cmd := testproc.Command(b, "TestBenchChild", "bench", env, envBenchN+"="+strconv.Itoa(n), envBenchKind+"="+kind)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(testproc.Scale(50 * time.Millisecond)) // let it map and spin
	b.StartTimer()
	word(mem, benchGo).Store(1)
	f()
	for word(mem, benchDone).Load() == 0 {
		runtime.Gosched()
	}
	b.StopTimer()
	waitBenchChild(b, cmd)
}

func waitBenchChild(b *testing.B, cmd *exec.Cmd) {
	if err := cmd.Wait(); err != nil {
		b.Fatalf("benchmark child: %v", err)
	}
}

// mutexPong plays n rounds as side me: poll the turn under the lock.
func mutexPong(m *Mutex, turn *atomic.Uint32, me uint32, n int) {
	t := counter32(turn)
	for i := 0; i < n; {
		m.Lock()
		if *t == me {
			*t = 1 - me
			i++
		}
		m.Unlock()
	}
}

// counter32 gives plain access to a word only touched under a lock.
func counter32(w *atomic.Uint32) *uint32 { return (*uint32)(unsafe.Pointer(w)) }

// BenchmarkMutexPingPongProcesses: two processes hand the lock back and
// forth (one round trip per op): shmx, a pthread mutex polled the same
// way, and a pthread mutex + condition variable.
func BenchmarkMutexPingPongProcesses(b *testing.B) {
	b.Run("shmx", func(b *testing.B) {
		mem, env := benchMapping(b)
		m, _ := MutexAt(mem)
		runWithChild(b, mem, env, "mutex-pingpong", b.N, func() { mutexPong(m, word(mem, benchTurn), 0, b.N) })
	})
	b.Run("pthread-poll", func(b *testing.B) {
		skipNoCgo(b)
		mem, env := benchMapping(b)
		if err := cbench.InitShared(mem[benchPthread:]); err != nil {
			b.Fatal(err)
		}
		runWithChild(b, mem, env, "pthread-pollpong", b.N, func() { cbench.PollPong(mem[benchPthread:], 0, b.N) })
	})
	b.Run("pthread-cond", func(b *testing.B) {
		skipNoCgo(b)
		mem, env := benchMapping(b)
		if err := cbench.InitShared(mem[benchPthread:]); err != nil {
			b.Fatal(err)
		}
		runWithChild(b, mem, env, "pthread-condpong", b.N, func() { cbench.PingPong(mem[benchPthread:], 0, b.N) })
	})
}

// BenchmarkEventPingPong: two processes wake each other with two
// auto-reset events (one round trip per op), beside a pthread condition
// variable doing the same.
func BenchmarkEventPingPong(b *testing.B) {
	b.Run("shmx", func(b *testing.B) {
		mem, env := benchMapping(b)
		ping, _ := EventAt(mem[0:])
		pong, _ := EventAt(mem[EventSize:])
		ctx := context.Background()
		runWithChild(b, mem, env, "event-pingpong", b.N, func() {
			for range b.N {
				ping.Set()
				if err := pong.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("pthread-cond", func(b *testing.B) {
		skipNoCgo(b)
		mem, env := benchMapping(b)
		if err := cbench.InitShared(mem[benchPthread:]); err != nil {
			b.Fatal(err)
		}
		runWithChild(b, mem, env, "pthread-condpong", b.N, func() { cbench.PingPong(mem[benchPthread:], 0, b.N) })
	})
}

// contend runs GOMAXPROCS goroutines doing n lock/unlock pairs in all
// (each incrementing a plain shared counter inside) and returns the
// worst wait for the lock in ns.
func contend(mem []byte, path, kind string, n int) int64 {
	p := runtime.GOMAXPROCS(0)
	var worst atomic.Int64
	var wg sync.WaitGroup
	c := counter(mem, benchCounter)
	for g := range p {
		k := n / p
		if g < n%p {
			k++
		}
		wg.Go(func() {
			w := contendOne(mem, path, kind, k, c)
			for {
				old := worst.Load()
				if w <= old || worst.CompareAndSwap(old, w) {
					break
				}
			}
		})
	}
	wg.Wait()
	return worst.Load()
}

// contendOne is one goroutine of contend.
func contendOne(mem []byte, path, kind string, k int, c *uint64) int64 {
	switch kind {
	case "pthread-contended":
		var w int64
		for i := 0; i < k; i += 1000 {
			w = max(w, cbench.TimedLockLoop(mem[benchPthread:], min(1000, k-i), c))
		}
		return w
	case "flock-contended":
		return flockLoop(path, k, c)
	}
	m, _ := MutexAt(mem)
	tps := shmx.TicksPerSecond()
	var w uint64
	for range k {
		t0 := shmx.Ticks()
		m.Lock()
		w = max(w, shmx.Ticks()-t0)
		*c++
		m.Unlock()
	}
	return int64(float64(w) * 1e9 / float64(tps))
}

// BenchmarkMutexContended: 2 processes x GOMAXPROCS goroutines lock one
// Mutex (b.N lock/unlock pairs in all); reports the worst wait seen.
func BenchmarkMutexContended(b *testing.B) {
	for _, kind := range []string{"mutex", "pthread", "flock"} {
		name := kind
		if kind == "mutex" {
			name = "shmx"
		}
		b.Run(name, func(b *testing.B) {
			if kind == "pthread" {
				skipNoCgo(b)
			}
			if kind == "flock" && !flockAvailable {
				b.Skip("flock is Unix-only")
			}
			mem, env := benchMapping(b)
			if kind == "pthread" {
				if err := cbench.InitShared(mem[benchPthread:]); err != nil {
					b.Fatal(err)
				}
			}
			k := kind + "-contended"
			half := b.N / 2
			var worst int64
			path := env[len(envLockFile)+1:]
			runWithChild(b, mem, env, k, b.N-half, func() { worst = contend(mem, path, k, half) })
			if got := *counter(mem, benchCounter); got != uint64(b.N) {
				b.Fatalf("counter %d, want %d: the lock did not exclude", got, b.N)
			}
			worst = max(worst, int64(atomic.LoadUint64(counter(mem, benchWorst))))
			b.ReportMetric(float64(worst), "worst-wait-ns")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// BenchmarkRWMutexReadMostly: GOMAXPROCS goroutines of one process, one
// write per 100 reads, beside sync.RWMutex.
func BenchmarkRWMutexReadMostly(b *testing.B) {
	b.Run("shmx", func(b *testing.B) {
		rw, _ := RWMutexAt(benchMem(b))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if i++; i%100 == 0 {
					rw.Lock()
					rw.Unlock()
				} else {
					rw.RLock()
					rw.RUnlock()
				}
			}
		})
	})
	b.Run("sync", func(b *testing.B) {
		var rw sync.RWMutex
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if i++; i%100 == 0 {
					rw.Lock()
					rw.Unlock()
				} else {
					rw.RLock()
					rw.RUnlock()
				}
			}
		})
	})
}

// BenchmarkMutexDeadWaiter: Lock/Unlock by GOMAXPROCS goroutines of one
// process, on a clean Mutex and on one that holds the registration of a
// waiter that died (as a SIGKILL during Lock leaves it). The first Unlock
// that wakes for the dead waiter finds nobody and drops the count (see
// recount), so both rows should cost the same; before the recount the
// dead registration made every Unlock take two needless wake-up calls.
// Reports the waiter count left at the end (0 where the kernel counts
// wake-ups).
func BenchmarkMutexDeadWaiter(b *testing.B) {
	for _, dead := range []bool{false, true} {
		name := "clean"
		if dead {
			name = "dead-waiter"
		}
		b.Run(name, func(b *testing.B) {
			m, _ := MutexAt(benchMem(b))
			if dead {
				atomic.StoreUint64(&m.state, m.register(0))
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m.Lock()
					m.Unlock()
				}
			})
			b.ReportMetric(float64(waiters(m.load())), "waiters-left")
		})
	}
}
