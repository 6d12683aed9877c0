//go:build gc && !purego && (amd64 || arm64)

package shmx

import "testing"

// withGeneric runs f with the pure-Go twins selected instead of the
// assembly, so one test binary exercises both through the public API.
func withGeneric(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	useAsm = false
	defer func() { useAsm = true }()
	f(t)
}

func TestPauseBoth(t *testing.T) {
	for range 1000 {
		Pause()
	}
	withGeneric(t, func(t *testing.T) {
		for range 1000 {
			Pause()
		}
	})
}

// TestTicksBoth runs the Ticks checks on the assembly counter and on the
// monotonic-clock twin, then checks that the two agree on the rate of time
// loosely (within a factor of two over the same interval).
func TestTicksBoth(t *testing.T) {
	t.Run("asm", checkTicks)
	t.Run("generic", func(t *testing.T) { withGeneric(t, checkTicks) })

	a0, g0 := ticksAsm(), ticksGeneric()
	for range 200000 {
		pauseAsm()
	}
	a1, g1 := ticksAsm(), ticksGeneric()
	asmNs := scale(a1-a0, 1e9, asmTicksPerSecond())
	genNs := g1 - g0
	if asmNs < genNs/2 || asmNs > genNs*2 {
		t.Errorf("over one interval the assembly counter measured %d ns, the monotonic clock %d ns", asmNs, genNs)
	}
}

func BenchmarkPauseGeneric(b *testing.B) {
	useAsm = false
	defer func() { useAsm = true }()
	for b.Loop() {
		Pause()
	}
}

func BenchmarkTicksGeneric(b *testing.B) {
	useAsm = false
	defer func() { useAsm = true }()
	for b.Loop() {
		Ticks()
	}
}
