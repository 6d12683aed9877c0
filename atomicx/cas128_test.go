package atomicx

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/testproc"
)

// newUint128 returns a 16-byte-aligned Uint128 in fresh Go memory.
func newUint128(t testing.TB) *Uint128 {
	u, err := Uint128At(aligned(16), 0)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

const ones = ^uint64(0)

// casCases are known answers: each half equal or not, on its own, at the
// extremes of the range.
var casCases = []struct {
	cur, old, new Uint128
	swapped       bool
}{
	{Uint128{0, 0}, Uint128{0, 0}, Uint128{1, 2}, true},
	{Uint128{1, 2}, Uint128{1, 2}, Uint128{0, 0}, true},
	{Uint128{1, 2}, Uint128{1, 3}, Uint128{5, 5}, false},                  // Hi differs
	{Uint128{1, 2}, Uint128{0, 2}, Uint128{5, 5}, false},                  // Lo differs
	{Uint128{1, 2}, Uint128{2, 1}, Uint128{5, 5}, false},                  // halves swapped
	{Uint128{ones, ones}, Uint128{ones, ones}, Uint128{0, ones}, true},    // all ones
	{Uint128{ones, 0}, Uint128{ones, ones}, Uint128{0, 0}, false},         // Hi only
	{Uint128{0, 1 << 63}, Uint128{0, 1 << 63}, Uint128{1 << 63, 0}, true}, // sign bits
	{Uint128{7, 7}, Uint128{7, 7}, Uint128{7, 7}, true},                   // new == old
}

func TestCAS128KnownAnswers(t *testing.T) {
	each(t, func(t *testing.T, _ impl) {
		u := newUint128(t)
		for _, c := range casCases {
			*u = c.cur
			if got := Load128(u); got != c.cur {
				t.Errorf("Load128 of %x = %x", c.cur, got)
			}
			swapped := CAS128(u, c.old, c.new)
			want := c.cur
			if c.swapped {
				want = c.new
			}
			if swapped != c.swapped || *u != want {
				t.Errorf("CAS128(%x, old %x, new %x) = %v leaving %x; want %v leaving %x",
					c.cur, c.old, c.new, swapped, *u, c.swapped, want)
			}
		}
	})
}

func TestNative128(t *testing.T) {
	if Native128() != useAsm {
		t.Errorf("Native128() = %v with useAsm %v", Native128(), useAsm)
	}
	each(t, func(t *testing.T, im impl) {
		if Native128() != im.native {
			t.Errorf("Native128() = %v for %s, want %v", Native128(), im.name, im.native)
		}
	})
}

// TestCAS128Misaligned checks that a misaligned address panics instead of
// faulting or tearing, for loads and swaps.
func TestCAS128Misaligned(t *testing.T) {
	b := aligned(64)
	for _, off := range []int{1, 4, 8, 12, 24} {
		u := (*Uint128)(unsafe.Pointer(&b[off]))
		for name, f := range map[string]func(){
			"CAS128":  func() { CAS128(u, Uint128{}, Uint128{1, 1}) },
			"Load128": func() { Load128(u) },
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s at offset %d did not panic", name, off)
					}
				}()
				f()
			}()
		}
	}
	for _, x := range b {
		if x != 0 {
			t.Fatalf("a rejected call wrote memory: % x", b)
		}
	}
}

// increment adds 1 to both halves of *u with a Load128/CAS128 loop,
// failing when it ever sees the halves disagree, which a torn read or
// write would cause.
func increment(t testing.TB, u *Uint128) {
	for {
		v := Load128(u)
		if v.Lo != v.Hi {
			t.Errorf("Load128 saw Lo %d != Hi %d", v.Lo, v.Hi)
			return
		}
		if CAS128(u, v, Uint128{v.Lo + 1, v.Hi + 1}) {
			return
		}
	}
}

func TestCAS128Concurrent(t *testing.T) {
	const perG = 20000
	each(t, func(t *testing.T, _ impl) {
		u := newUint128(t)
		g := max(4, 2*runtime.GOMAXPROCS(0))
		var wg sync.WaitGroup
		var done atomic.Bool
		wg.Go(func() { // a reader that only checks the invariant
			for !done.Load() {
				if v := Load128(u); v.Lo != v.Hi {
					t.Errorf("reader saw Lo %d != Hi %d", v.Lo, v.Hi)
					return
				}
			}
		})
		var writers sync.WaitGroup
		for range g {
			writers.Go(func() {
				for range perG {
					increment(t, u)
				}
			})
		}
		writers.Wait()
		done.Store(true)
		wg.Wait()
		if want := uint64(g * perG); *u != (Uint128{want, want}) {
			t.Errorf("%d goroutines × %d increments left %x, want %d in both halves", g, perG, *u, want)
		}
	})
}

// TestCAS128CrossProcess has two child processes increment both halves of
// one Uint128 in a shared file mapping 100000 times each, while the parent
// checks that no Load128 ever sees the halves differ; at the end both
// halves must be exactly 200000. Only native implementations are
// atomic across processes, so only they are run.
func TestCAS128CrossProcess(t *testing.T) {
	const perChild = 100000
	if testproc.Role() == "child" {
		defer implNamed(t, os.Getenv("IMPL")).set()()
		b := testproc.MapFile(t, os.Getenv("MAPFILE"), 4096)
		u, err := Uint128At(b, 128)
		if err != nil {
			t.Fatal(err)
		}
		ready, _ := Uint32At(b, 0)
		ready.Add(1)
		deadline := time.Now().Add(testproc.Scale(20 * time.Second))
		for ready.Load() < 2 && time.Now().Before(deadline) { // start together
			runtime.Gosched()
		}
		for range perChild {
			increment(t, u)
		}
		return
	}
	ran := false
	for _, im := range impls() {
		if !im.native {
			continue
		}
		ran = true
		t.Run(im.name, func(t *testing.T) {
			defer im.set()()
			dir := t.TempDir()
			path := filepath.Join(dir, "u128")
			// Removed after MapFile's unmap and before TempDir's
			// cleanup, which cannot remove a non-empty directory
			// under wine 8.0 (see .ci/bin/go_windows_amd64_exec).
			t.Cleanup(func() { os.Remove(path); os.Remove(dir) })
			b := testproc.MapFile(t, path, 4096)
			u, err := Uint128At(b, 128)
			if err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 2)
			for i := range 2 {
				cmd := testproc.Command(t, "TestCAS128CrossProcess", "child", "MAPFILE="+path, "IMPL="+im.name)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				go func() {
					if err := cmd.Wait(); err != nil {
						errs <- fmt.Errorf("child %d: %w", i, err)
						return
					}
					errs <- nil
				}()
			}
			finished, loads := 0, 0
			for finished < 2 {
				select {
				case err := <-errs:
					if err != nil {
						t.Error(err)
					}
					finished++
				default:
					if v := Load128(u); v.Lo != v.Hi {
						t.Fatalf("parent saw Lo %d != Hi %d", v.Lo, v.Hi)
					}
					loads++
					runtime.Gosched()
				}
			}
			if want := uint64(2 * perChild); *u != (Uint128{want, want}) {
				t.Errorf("two processes × %d increments left %x, want %d in both halves", perChild, *u, want)
			}
			t.Logf("parent checked %d loads while the children ran", loads)
		})
	}
	if !ran {
		t.Skip("no native 128-bit CAS in this build (purego, other arch, or no CMPXCHG16B): not atomic across processes")
	}
}

func TestCAS128NoAlloc(t *testing.T) {
	each(t, func(t *testing.T, _ impl) {
		u := newUint128(t)
		allocs := testing.AllocsPerRun(100, func() { increment(t, u) })
		if allocs != 0 {
			t.Errorf("Load128+CAS128 allocated %v times, want 0", allocs)
		}
	})
}
