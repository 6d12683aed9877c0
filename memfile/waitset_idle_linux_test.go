package memfile

import (
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

// BenchmarkEventWaitIdle is BenchmarkWaitSetIdle's baseline (run it with
// -benchtime 200x: a Set takes up to a second to reach its waiter here): 10,000
// goroutines blocked in Event.Wait, each on its own event (every sleeping
// goroutine holds an OS thread in the kernel, and wakes every slice);
// ns/op is a Set to the waiter's return.
func BenchmarkEventWaitIdle(b *testing.B) {
	const n = 10000
	mem := ringLiveMem(b, n*EventSize)
	evs := make([]*Event, n)
	back := make([]chan struct{}, n)
	var quit atomic.Bool
	var wg sync.WaitGroup
	for i := range n {
		evs[i], _ = EventAt(mem[i*EventSize:])
		back[i] = make(chan struct{}, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				evs[i].Wait(nil)
				if quit.Load() {
					return
				}
				back[i] <- struct{}{}
			}
		}()
	}
	idleThenWake(b, time.Second, n, func(k int) {
		evs[k].Set()
		<-back[k]
	})
	quit.Store(true)
	for _, e := range evs {
		e.Set()
	}
	wg.Wait() // before the mapping goes
}
