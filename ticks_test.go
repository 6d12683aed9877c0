package shmx

import (
	"testing"
	"time"
)

// checkTicks checks the current Ticks implementation: it never goes
// backwards within one goroutine over many reads, it advances across a
// sleep, and converted with TicksPerSecond it agrees with the monotonic
// clock over the same interval within a factor of two. That is an
// agreement of two clocks (the reference is monoNanos, the best clock of
// the OS), not a timing assertion: a preemption stretches both alike.
func checkTicks(t *testing.T) {
	t.Helper()
	prev := Ticks()
	for i := range 100000 {
		now := Ticks()
		if now < prev {
			t.Fatalf("Ticks went backwards at read %d: %d after %d", i, now, prev)
		}
		prev = now
	}
	tps := TicksPerSecond()
	if tps == 0 {
		t.Fatal("TicksPerSecond() = 0")
	}
	start, c0 := monoNanos(), Ticks()
	time.Sleep(20 * time.Millisecond)
	c1, wall := Ticks(), time.Duration(monoNanos()-start)
	if c1 <= c0 {
		t.Fatalf("Ticks did not advance across a sleep: %d then %d", c0, c1)
	}
	got := time.Duration(scale(c1-c0, 1e9, tps))
	if got < wall/2 || got > wall*2 {
		t.Errorf("Ticks measured %v where the monotonic clock measured %v (rate %d/s)", got, wall, tps)
	}
}

func TestTicks(t *testing.T) { checkTicks(t) }

// TestTicksResolution checks that Ticks steps in well under a millisecond,
// so that spin budgets of microseconds mean something (Go's own clock on
// Windows steps in 0.5 to 15.6 ms). The smallest of ten observed steps is
// used: a preemption can only make one step look larger.
func TestTicksResolution(t *testing.T) {
	for _, c := range []struct {
		name string
		read func() uint64
		rate uint64
	}{{"Ticks", Ticks, TicksPerSecond()}, {"ticksGeneric", ticksGeneric, genericTicksPerSecond}} {
		best := ^uint64(0)
		for range 10 {
			a := c.read()
			b := a
			for i := 0; b == a && i < 1<<26; i++ {
				b = c.read()
			}
			best = min(best, b-a)
		}
		if ns := scale(best, 1e9, c.rate); ns > uint64(time.Millisecond) {
			t.Errorf("%s steps by %v at best, want under 1ms", c.name, time.Duration(ns))
		}
	}
}

func TestTicksGenericRate(t *testing.T) {
	r := calibrate(ticksGeneric)
	if r < genericTicksPerSecond/2 || r > genericTicksPerSecond*2 {
		t.Errorf("calibrate(ticksGeneric) = %d, want about %d", r, uint64(genericTicksPerSecond))
	}
}

func TestCalibrateBrokenCounter(t *testing.T) {
	if r := calibrate(func() uint64 { return 7 }); r != genericTicksPerSecond {
		t.Errorf("calibrate(stuck counter) = %d, want the fallback %d", r, uint64(genericTicksPerSecond))
	}
}

func TestScale(t *testing.T) {
	max := ^uint64(0)
	for _, c := range []struct{ x, num, den, want uint64 }{
		{0, 3e9, 1e9, 0},
		{1e9, 3e9, 1e9, 3e9},                      // 1 s at 3 GHz
		{20e3, 2445517855, 1e9, 48910},            // 20 µs at 2.4 GHz
		{uint64(time.Hour), 3e9, 1e9, 3600 * 3e9}, // product past 64 bits
		{max, 3e9, 1e9, max},                      // saturates
		{max, 1, 1, max},                          // identity at the top
		{1e9, 24e6, 1e9, 24e6},                    // Apple's 24 MHz counter
	} {
		if got := scale(c.x, c.num, c.den); got != c.want {
			t.Errorf("scale(%d, %d, %d) = %d, want %d", c.x, c.num, c.den, got, c.want)
		}
	}
}

func BenchmarkTicks(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Ticks()
	}
}

func BenchmarkPause(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Pause()
	}
}
