package memfile

import (
	"context"
	"testing"
)

// Benchmarks of the Semaphore's paths that make no system call, to set
// beside golang.org/x/sync/semaphore's Weighted (not a dependency of this
// module: measure it in a scratch module with the same loop bodies):
//
//	go test -run '^$' -bench 'Semaphore' -benchmem -count 5 ./memfile
//
// Medians measured on a 2-vCPU VM (noisy): Uncontended/bounded 92 ns,
// unbounded 66 ns, TryAcquire 86 ns, Contended 101 ns, no allocation;
// x/sync's Weighted 25, 19 and 32 ns; the CAS-only, unordered Semaphore
// before the holder table and the queue 16, 10 and 46 ns.

// BenchmarkSemaphoreUncontended is one Acquire and one Release of one
// unit with nobody else using the semaphore: capacity-bounded (the units
// are recorded against this process) and unbounded.
func BenchmarkSemaphoreUncontended(b *testing.B) {
	for _, c := range []struct {
		name            string
		capacity, count uint32
	}{{"bounded", 4, 4}, {"unbounded", 0, 4}} {
		b.Run(c.name, func(b *testing.B) {
			var s Semaphore
			s.Init(c.capacity, c.count)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Acquire(ctx, 1); err != nil {
					b.Fatal(err)
				}
				s.Release(1)
			}
		})
	}
}

// BenchmarkSemaphoreTryAcquire is a TryAcquire that succeeds and its
// Release.
func BenchmarkSemaphoreTryAcquire(b *testing.B) {
	var s Semaphore
	s.Init(4, 4)
	b.ReportAllocs()
	for b.Loop() {
		if !s.TryAcquire(1) {
			b.Fatal("TryAcquire failed on an idle semaphore")
		}
		s.Release(1)
	}
}

// BenchmarkSemaphoreContended: GOMAXPROCS goroutines of one process take
// and give back one unit of a semaphore of 2.
func BenchmarkSemaphoreContended(b *testing.B) {
	var s Semaphore
	s.Init(2, 2)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Acquire(ctx, 1); err != nil {
				b.Error(err)
				return
			}
			s.Release(1)
		}
	})
}
