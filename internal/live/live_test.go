package live

import (
	"testing"
	"time"
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
	ua.Untrack()
	ua.Untrack() // idempotent
	if got := at(1500); got != nil {
		t.Errorf("after untrack, DomainOf(&mem[1500]) = %p, want nil", got)
	}
	if got := at(2048); got != db {
		t.Errorf("untracking a removed b: DomainOf(&mem[2048]) = %p, want %p", got, db)
	}
	ub.Untrack()
	if got := at(2048); got != nil {
		t.Errorf("after untrack, DomainOf(&mem[2048]) = %p, want nil", got)
	}
	if u := Track(nil, da); u != nil {
		t.Errorf("Track(nil) = %p, want nil", u)
	}
	(*Mapping)(nil).Untrack() // accepted
}

// TestMappingClose checks the closed state of a tracked mapping: Enter
// fails after Close, DomainOf forgets the domain, and Close keeps waking
// a registered sleeper until it leaves, then reports none left; with a
// sleeper that never leaves it gives up after its budget.
func TestMappingClose(t *testing.T) {
	mem := make([]uint32, 256) // stands for a mapping: Track needs only addresses
	b := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), 1024)
	d := &Domain{}
	m := Track(b, d)
	defer m.Untrack()
	if MappingOf(unsafe.Pointer(&mem[10])) != m || DomainOf(unsafe.Pointer(&mem[10])) != d || m.Closed() {
		t.Fatal("a fresh mapping is not found open with its domain")
	}
	if !m.Enter(&mem[10]) || !m.Enter(&mem[10]) || !m.Enter(&mem[20]) {
		t.Fatal("Enter of an open mapping failed")
	}
	woken := map[*uint32]int{}
	left := m.Close(func(a *uint32) {
		woken[a]++
		if woken[a] == 2 { // each leaves at its second wake-up, as a sleeper that missed the first one
			for range map[*uint32]int{&mem[10]: 2, &mem[20]: 1}[a] {
				m.Leave(a)
			}
		}
	}, time.Second)
	if left != 0 || woken[&mem[10]] != 2 || woken[&mem[20]] != 2 {
		t.Fatalf("Close left %d sleepers, woke %v; want 0 left, each word woken twice", left, woken)
	}
	if !m.Closed() || m.Enter(&mem[30]) || DomainOf(unsafe.Pointer(&mem[10])) != nil || MappingOf(unsafe.Pointer(&mem[10])) != m {
		t.Fatal("a closed mapping still admits sleepers, still has its domain, or is forgotten")
	}

	m2 := Track(unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), 1024)[:0:0], d)
	if m2 != nil {
		t.Fatal("Track of an empty slice tracked something")
	}
	var other [4]uint32
	m3 := Track(unsafe.Slice((*byte)(unsafe.Pointer(&other[0])), 16), d)
	defer m3.Untrack()
	m3.Enter(&other[0]) // never leaves
	if left := m3.Close(func(*uint32) {}, time.Millisecond); left != 1 {
		t.Fatalf("Close with a sleeper that never leaves reported %d left, want 1", left)
	}
	var nilMapping *Mapping
	if !nilMapping.Enter(&other[1]) || nilMapping.Closed() || nilMapping.Close(nil, 0) != 0 {
		t.Fatal("the nil Mapping (memory of no MemFile) is not an open one")
	}
	nilMapping.Leave(&other[1])
}

// TestMappingClosePollers: Close waits for a poller (EnterPoll) to leave,
// without waking it, and reports it left behind when the budget runs
// out; Waiting counts pollers with sleepers; EnterPoll fails after
// Close.
func TestMappingClosePollers(t *testing.T) {
	mem := make([]uint32, 64)
	m := Track(unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), 256), &Domain{})
	defer m.Untrack()
	if !m.EnterPoll() || !m.EnterPoll() || !m.Enter(&mem[1]) {
		t.Fatal("EnterPoll or Enter of an open mapping failed")
	}
	if n := m.Waiting(); n != 3 {
		t.Fatalf("Waiting = %d with two pollers and a sleeper, want 3", n)
	}
	m.LeavePoll()
	woken := 0
	start := time.Now()
	left := m.Close(func(a *uint32) {
		if a != &mem[1] {
			t.Errorf("Close woke %p, which nobody sleeps on", a)
		}
		if woken++; woken == 1 {
			m.Leave(a)
			go func() {
				time.Sleep(20 * time.Millisecond)
				m.LeavePoll() // the poller sees closed at its next look
			}()
		}
	}, 10*time.Second)
	if left != 0 {
		t.Fatalf("Close left %d registered, want 0", left)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("Close returned after %v, before the poller left", d)
	}
	if m.EnterPoll() || m.Waiting() != 0 {
		t.Fatal("a closed mapping admits a poller, or still counts one")
	}

	other := make([]uint32, 4)
	m2 := Track(unsafe.Slice((*byte)(unsafe.Pointer(&other[0])), 16), &Domain{})
	defer m2.Untrack()
	m2.EnterPoll() // never leaves
	if left := m2.Close(func(*uint32) {}, time.Millisecond); left != 1 {
		t.Fatalf("Close with a poller that never leaves reported %d left, want 1", left)
	}
	var nilMapping *Mapping
	if !nilMapping.EnterPoll() {
		t.Fatal("EnterPoll of the nil Mapping failed")
	}
	nilMapping.LeavePoll()
}

// BenchmarkEnterLeave compares a sleeper's registration (Enter, Leave)
// with a poller's (EnterPoll, LeavePoll), the cost a wait pays around
// its wait.
func BenchmarkEnterLeave(b *testing.B) {
	mem := make([]uint32, 64)
	m := Track(unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), 256), &Domain{})
	defer m.Untrack()
	b.Run("sleeper", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			MappingOf(unsafe.Pointer(&mem[3])).Enter(&mem[3])
			m.Leave(&mem[3])
		}
	})
	b.Run("poller", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			MappingOf(unsafe.Pointer(&mem[3])).EnterPoll()
			m.LeavePoll()
		}
	})
}
