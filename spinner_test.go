package shmx

import (
	"runtime"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/testproc"
)

func TestSpinnerZeroNeverSpins(t *testing.T) {
	var s Spinner
	if s.Spin() {
		t.Error("zero Spinner spun")
	}
	for _, d := range []time.Duration{0, -time.Second} {
		s := NewSpinner(d)
		if s.Spin() {
			t.Errorf("NewSpinner(%v) spun", d)
		}
	}
}

// TestSpinnerEnds checks that a Spinner stops by itself, that its batches
// double up to maxBatch (pollBatch for NewPollSpinner), and that once it
// reported false it stays false.
func TestSpinnerEnds(t *testing.T) {
	if !spinUseful() {
		t.Skip("one usable CPU: Spinner never spins (checked by TestSpinnerOneCPU)")
	}
	t.Run("NewSpinner", func(t *testing.T) { testSpinnerEnds(t, NewSpinner(200*time.Microsecond), maxBatch) })
	t.Run("NewPollSpinner", func(t *testing.T) { testSpinnerEnds(t, NewPollSpinner(200*time.Microsecond), pollBatch) })
}

func testSpinnerEnds(t *testing.T, s Spinner, maxBatch uint32) {
	deadline := time.Now().Add(testproc.Scale(10 * time.Second)) // bounds a hang only
	want := uint32(1)
	n := 0
	for s.Spin() {
		n++
		want = min(want*2, maxBatch)
		if s.batch != want {
			t.Fatalf("after %d spins batch = %d, want %d", n, s.batch, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Spinner with a 200µs budget still spinning after %d batches", n)
		}
	}
	if n == 0 {
		t.Error("Spinner with a 200µs budget never spun")
	}
	if s.Spin() {
		t.Error("Spin reported true after it reported false")
	}
}

// TestSpinnerOneCPU checks the sync.Mutex rule: no spinning when only one
// CPU is usable.
func TestSpinnerOneCPU(t *testing.T) {
	old := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(old)
	s := NewSpinner(time.Second)
	if s.Spin() {
		t.Error("Spinner spun with GOMAXPROCS=1")
	}
	p := NewPollSpinner(time.Second)
	if p.Spin() {
		t.Error("poll Spinner spun with GOMAXPROCS=1")
	}
}

func TestSpinnerNoAlloc(t *testing.T) {
	TicksPerSecond() // calibration allocates once; not part of the hot path
	allocs := testing.AllocsPerRun(100, func() {
		s := NewSpinner(time.Microsecond)
		for s.Spin() {
		}
	})
	if allocs != 0 {
		t.Errorf("NewSpinner+Spin allocated %v times per run, want 0", allocs)
	}
}

// BenchmarkNewSpinner is what a lock pays to enter its slow path:
// reading GOMAXPROCS and the counter, and converting the budget.
func BenchmarkNewSpinner(b *testing.B) {
	b.ReportAllocs()
	TicksPerSecond()
	for b.Loop() {
		s := NewSpinner(time.Microsecond)
		_ = s
	}
}
