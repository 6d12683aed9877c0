package memfile

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkCancelLatency measures how long a blocked call takes to return
// after its context is cancelled: a goroutine blocks (on a held Mutex, a
// write-locked RWMutex, an unset Event, an empty Semaphore, an empty
// Ring), is given time to fall asleep, and is cancelled. It reports the
// latency's p50, p99 and maximum over the iterations; run it with
// -benchtime=1000x for the p99 of 1,000 cancellations:
//
//	go test -run '^$' -bench CancelLatency -benchtime=1000x ./memfile
func BenchmarkCancelLatency(b *testing.B) {
	cases := []struct {
		name  string
		setup func(mem []byte) (block func(context.Context) error, done func())
	}{
		{"Mutex", func(mem []byte) (func(context.Context) error, func()) {
			m, _ := MutexAt(mem)
			m.Lock()
			return m.LockContext, m.Unlock
		}},
		{"RWMutex", func(mem []byte) (func(context.Context) error, func()) {
			rw, _ := RWMutexAt(mem)
			rw.Lock()
			return rw.RLockContext, rw.Unlock
		}},
		{"Event", func(mem []byte) (func(context.Context) error, func()) {
			e, _ := EventAt(mem)
			return e.Wait, func() {}
		}},
		{"Semaphore", func(mem []byte) (func(context.Context) error, func()) {
			s, _ := SemaphoreAt(mem)
			return func(ctx context.Context) error { return s.Acquire(ctx, 1) }, func() {}
		}},
		{"Ring", func(mem []byte) (func(context.Context) error, func()) {
			r, _ := InitRing(mem, 8, 2)
			buf := make([]byte, 8)
			return func(ctx context.Context) error { _, err := r.Recv(ctx, buf); return err }, func() {}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			block, done := c.setup(benchMem(b))
			defer done()
			lat := make([]time.Duration, 0, b.N)
			errc := make(chan error)
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				go func() { errc <- block(ctx) }()
				time.Sleep(300 * time.Microsecond) // past the spin: asleep in the kernel
				t0 := time.Now()
				cancel()
				err := <-errc
				lat = append(lat, time.Since(t0))
				if err != context.Canceled {
					b.Fatalf("blocked call returned %v after cancel", err)
				}
			}
			slices.Sort(lat)
			at := func(q float64) float64 { return float64(lat[min(int(q*float64(len(lat))), len(lat)-1)].Nanoseconds()) }
			b.ReportMetric(at(0.5), "p50-ns")
			b.ReportMetric(at(0.99), "p99-ns")
			b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
		})
	}
}
