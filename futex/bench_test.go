package futex_test

import (
	"testing"

	"github.com/shmx/shmx/futex"
)

// BenchmarkWakeNoWaiters is the cost of a Wake nobody waits for (a system
// call on every OS; callers skip it with a waiters bit), on a registered
// shared word.
func BenchmarkWakeNoWaiters(b *testing.B) {
	mem, _ := newShared(b)
	w := word(mem, 0)
	b.ReportAllocs()
	for b.Loop() {
		futex.Wake(w, 1)
	}
}

// BenchmarkPingPongProcesses is one round trip between two processes
// through a shared word: store, Wake, and Wait for the answer, with a
// child process started per run that echoes. Compare with
// BenchmarkPipePingPong, the same round trip through two pipes.
func BenchmarkPingPongProcesses(b *testing.B) {
	e := startFutexEcho(b)
	b.ReportAllocs()
	b.ResetTimer()
	if err := e.roundTrips(b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	e.stop(b)
}

// BenchmarkPipePingPong is one round trip of one byte to a child process
// through two OS pipes and back: the usual alternative to a shared futex.
func BenchmarkPipePingPong(b *testing.B) {
	p := startPipeEcho(b)
	b.ReportAllocs()
	b.ResetTimer()
	if err := p.roundTrips(b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	p.stop(b)
}
