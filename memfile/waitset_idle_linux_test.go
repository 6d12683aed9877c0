package memfile

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkWaitSetIdle watches 10,000 events in one WaitSet (79 loops)
// and reports, while nothing happens for a second, the CPU the process
// uses (cpu-%, of one CPU) and its OS threads; then the time from a Set
// of one of them to its Watcher's receive (ns/op). Where futex_waitv is
// missing the loops poll, and cpu-% shows it.
func BenchmarkWaitSetIdle(b *testing.B) {
	const n = 10000
	mem := ringLiveMem(b, n*EventSize)
	ws := NewWaitSet()
	defer ws.Close()
	evs := make([]*Event, n)
	ww := make([]*Watcher, n)
	for i := range n {
		evs[i], _ = EventAt(mem[i*EventSize:])
		var err error
		if ww[i], err = ws.AddEvent(evs[i]); err != nil {
			b.Fatal(err)
		}
	}
	idleThenWake(b, 100*time.Millisecond, n, func(k int) {
		evs[k].Set()
		<-ww[k].C
		evs[k].TryWait()
	})
	b.ReportMetric(float64(len(ws.shards)), "loops")
}

// idleThenWake waits settle (every waiter asleep), measures the process's
// CPU over a second of nothing happening and its threads, then times
// b.N rounds of wake on waiters spread over n, and reports the figures.
func idleThenWake(b *testing.B, settle time.Duration, n int, wake func(k int)) {
	time.Sleep(settle)
	c0, t0 := rusageCPU(), time.Now()
	time.Sleep(time.Second)
	idle := float64(rusageCPU()-c0) / float64(time.Since(t0))
	th := threads()
	b.ResetTimer()
	for i := range b.N {
		wake((i * 7919) % n)
	}
	b.StopTimer()
	b.ReportMetric(100*idle, "idle-cpu-%")
	b.ReportMetric(float64(th), "threads")
}

func rusageCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threads reads this process's OS thread count from /proc/self/status.
func threads() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// BenchmarkIdleWaiters blocks 10,000 goroutines of this process in
// shmx calls, all on one object ("one") and each on its own ("own"), for
// each kind: Event.Wait, Mutex.Lock, RWMutex.Lock, Semaphore.Acquire and
// Ring.Recv. While nothing happens for a second it reports the process's
// CPU (idle-cpu-%, of one CPU) and its OS threads; then ns/op is one
// wake-up: a Set, Unlock, Release or Send to the return of the goroutine
// it lets through (which blocks again at once). Run it with
// SHMX_FUTEX=thread for the waits on their own threads.
func BenchmarkIdleWaiters(b *testing.B) {
	const n = 10000
	type kind struct {
		name string
		size int
		// setup lays out object i in mem and returns the blocking call
		// and the call that lets one blocked call through.
		setup func(b *testing.B, mem []byte) (block func() error, wake func())
	}
	kinds := []kind{
		{"Event", EventSize, func(b *testing.B, mem []byte) (func() error, func()) {
			e, _ := EventAt(mem)
			return func() error { return e.Wait(nil) }, e.Set
		}},
		{"Mutex", MutexSize, func(b *testing.B, mem []byte) (func() error, func()) {
			m, _ := MutexAt(mem)
			m.Lock() // held by this process: every Lock blocks
			return func() error { m.Lock(); return nil }, m.Unlock
		}},
		{"RWMutex", RWMutexSize, func(b *testing.B, mem []byte) (func() error, func()) {
			rw, _ := RWMutexAt(mem)
			rw.Lock()
			return func() error { rw.Lock(); return nil }, rw.Unlock
		}},
		{"Semaphore", SemaphoreSize, func(b *testing.B, mem []byte) (func() error, func()) {
			s, err := InitSemaphore(mem, 0, 0)
			if err != nil {
				b.Fatal(err)
			}
			return func() error { return s.Acquire(nil, 1) }, func() { s.Release(1) }
		}},
		{"Ring", RingSize(8, 4), func(b *testing.B, mem []byte) (func() error, func()) {
			r, err := InitRing(mem, 8, 4)
			if err != nil {
				b.Fatal(err)
			}
			msg, buf := make([]byte, 8), make([]byte, 8)
			return func() error { _, err := r.Recv(nil, buf); return err },
				func() {
					if err := r.Send(nil, msg); err != nil {
						b.Error(err)
					}
				}
		}},
	}
	for _, k := range kinds {
		for _, shape := range []string{"one", "own"} {
			b.Run(k.name+"/"+shape, func(b *testing.B) {
				objs := 1
				if shape == "own" {
					objs = n
				}
				size := (k.size + 63) &^ 63
				mem := ringLiveMem(b, objs*size)
				blocks := make([]func() error, objs)
				wakes := make([]func(), objs)
				for i := range objs {
					blocks[i], wakes[i] = k.setup(b, mem[i*size:(i+1)*size])
				}
				back, exits := make(chan struct{}, n), make(chan struct{}, n)
				var quit atomic.Bool
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						block := blocks[i%objs]
						for {
							if err := block(); err != nil {
								b.Error(err)
								return
							}
							if quit.Load() {
								exits <- struct{}{}
								return
							}
							back <- struct{}{}
						}
					}()
				}
				b.ReportAllocs()
				idleThenWake(b, 2*time.Second, n, func(j int) {
					wakes[j%objs]()
					<-back
				})
				// Let them out one by one (a Mutex must be held again
				// before the next Unlock).
				quit.Store(true)
				for i := range n {
					wakes[i%objs]()
					<-exits
				}
				wg.Wait() // before the mapping goes
			})
		}
	}
}

// BenchmarkDeadlineCrowd measures what a timed-out wait costs the other
// sleepers of its object: 1,000 goroutines sleep on one Event (Wait) or
// one empty Ring (Recv) without a deadline, and each op is one more
// Wait or Recv with a 1 ms timeout that expires. It reports the
// process's CPU per op (cpu-ns/op): an expiry that woke every sleeper of
// the word (as a cancellation does) made the thousand run, re-check and
// sleep again; one bounded by the sleep's own timeout wakes nobody
// (cancelWakes).
func BenchmarkDeadlineCrowd(b *testing.B) {
	benchCrowd(b, func(block func(context.Context) error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		if err := block(ctx); !errors.Is(err, context.DeadlineExceeded) {
			b.Fatal(err)
		}
		cancel()
	})
}

// BenchmarkCancelCrowd is BenchmarkDeadlineCrowd with a cancellation
// instead of an expiry: the waiter's context is cancelled 200 µs into its
// sleep. A wait parked through io_uring (the crowd's, and this one's,
// beyond the first four of the process, see futex.Parks) cancels its own
// entry; before, every cancellation woke every sleeper of the word, and
// the 1,000 ran, re-checked and slept again.
func BenchmarkCancelCrowd(b *testing.B) {
	benchCrowd(b, func(block func(context.Context) error) {
		ctx, cancel := context.WithCancel(context.Background())
		t := time.AfterFunc(200*time.Microsecond, cancel)
		if err := block(ctx); !errors.Is(err, context.Canceled) {
			b.Fatal(err)
		}
		t.Stop()
		cancel()
	})
}

// benchCrowd puts 1,000 goroutines to sleep on one Event and on one Ring,
// then runs one per iteration (given the object's blocking call) and
// reports the process's CPU per iteration.
func benchCrowd(b *testing.B, one func(block func(context.Context) error)) {
	const crowd = 1000
	for _, kind := range []string{"Event", "Ring"} {
		b.Run(kind, func(b *testing.B) {
			mem := ringLiveMem(b, 4096)
			var block func(ctx context.Context) error
			var release func()
			if kind == "Event" {
				e, err := InitEvent(mem, ManualReset)
				if err != nil {
					b.Fatal(err)
				}
				block, release = e.Wait, func() { e.Set() }
			} else {
				r, err := InitRing(mem, 8, 2)
				if err != nil {
					b.Fatal(err)
				}
				block = func(ctx context.Context) error { _, err := r.Recv(ctx, make([]byte, 8)); return err }
				release = func() {
					for range crowd {
						r.Send(nil, []byte{1})
					}
				}
			}
			var wg sync.WaitGroup
			for range crowd {
				wg.Add(1)
				go func() { defer wg.Done(); block(nil) }()
			}
			time.Sleep(500 * time.Millisecond) // all asleep
			c0 := rusageCPU()
			b.ResetTimer()
			for range b.N {
				one(block)
			}
			b.StopTimer()
			b.ReportMetric(float64(rusageCPU()-c0)/float64(b.N), "cpu-ns/op")
			release()
			wg.Wait()
		})
	}
}
