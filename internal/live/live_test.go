package live

import (
	"testing"
	"unsafe"
)

// TestSelf: the process token is never 0 and never changes.
func TestSelf(t *testing.T) {
	tok := Self()
	if tok == 0 {
		t.Fatal("Self() = 0")
	}
	for range 1000 {
		if Self() != tok {
			t.Fatalf("Self() changed from %#x to %#x", tok, Self())
		}
	}
	if self != tok {
		t.Fatalf("Self() = %#x, package token %#x", tok, self)
	}
}

// TestRandomNeverZero: the token source never returns 0 and is not stuck
// on one value.
func TestRandomNeverZero(t *testing.T) {
	seen := map[uint32]bool{}
	for range 1000 {
		r := random()
		if r == 0 {
			t.Fatal("random() = 0")
		}
		seen[r] = true
	}
	// 1000 draws of 32 bits: a repeat has probability ~1e-4.
	if len(seen) < 990 {
		t.Fatalf("1000 random tokens have only %d distinct values", len(seen))
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Unknown: "unknown", Alive: "alive", Dead: "dead", Verdict(42): "unknown"} {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", v, got, want)
		}
	}
}

// TestJudgeUntracked: memory in no tracked mapping has no domain, and
// nothing in it is ever judged dead; token 0 and this process's own token
// are alive wherever they are found.
func TestJudgeUntracked(t *testing.T) {
	var x [64]byte
	p := unsafe.Pointer(&x[8])
	if d := DomainOf(p); d != nil {
		t.Fatalf("DomainOf(Go memory) = %p, want nil", d)
	}
	for _, tok := range []uint32{1, 0xdeadbeef, ^uint32(0), Self() ^ 1} {
		if tok == Self() {
			continue
		}
		if v := Judge(p, tok); v != Unknown {
			t.Errorf("Judge(untracked, %#x) = %v, want unknown", tok, v)
		}
		if Gone(p, tok) {
			t.Errorf("Gone(untracked, %#x) = true", tok)
		}
	}
	if v := Judge(p, 0); v != Alive {
		t.Errorf("Judge(untracked, 0) = %v, want alive", v)
	}
	if v := Judge(p, Self()); v != Alive {
		t.Errorf("Judge(untracked, Self) = %v, want alive", v)
	}
	if tok := Self() ^ 0x55; Judge(nil, tok) != Unknown {
		t.Errorf("Judge(nil, %#x) = %v, want unknown", tok, Judge(nil, tok))
	}
}

// TestTrackBounds: the span bookkeeping of Track and DomainOf, with
// domains that are never asked to judge (so no system object is needed):
// both ends of a span, the bytes just outside, several spans at once,
// untracking (twice), and the panic on overlap.
func TestTrackBounds(t *testing.T) {
	// One Go allocation stands in for mappings: DomainOf only compares
	// addresses, and heap objects do not move.
	mem := make([]byte, 4096)
	a, b := mem[1024:2048], mem[2048:3072] // adjacent
	da, db := &Domain{}, &Domain{}
	ua := Track(a, da)
	ub := Track(b, db)
	at := func(i int) *Domain { return DomainOf(unsafe.Pointer(&mem[i])) }
	cases := []struct {
		i    int
		want *Domain
	}{{0, nil}, {1023, nil}, {1024, da}, {1500, da}, {2047, da}, {2048, db}, {3071, db}, {3072, nil}, {4095, nil}}
	for _, c := range cases {
		if got := at(c.i); got != c.want {
			t.Errorf("DomainOf(&mem[%d]) = %p, want %p (a %p, b %p)", c.i, got, c.want, da, db)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Track of an overlapping span did not panic")
			}
		}()
		Track(mem[2000:2100], &Domain{})
	}()
	if got := at(2050); got != db {
		t.Errorf("a refused Track changed the spans: DomainOf(&mem[2050]) = %p", got)
	}
	ua()
	ua() // idempotent
	if got := at(1500); got != nil {
		t.Errorf("after untrack, DomainOf(&mem[1500]) = %p, want nil", got)
	}
	if got := at(2048); got != db {
		t.Errorf("untracking a removed b: DomainOf(&mem[2048]) = %p, want %p", got, db)
	}
	ub()
	if got := at(2048); got != nil {
		t.Errorf("after untrack, DomainOf(&mem[2048]) = %p, want nil", got)
	}
	if u := Track(nil, da); u == nil {
		t.Error("Track(nil) returned a nil untrack")
	} else {
		u()
	}
}
