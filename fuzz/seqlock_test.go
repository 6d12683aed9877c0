package fuzz_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/shmx/shmx/memfile"
)

// seqValue is the value FuzzSeqLock publishes: 20 bytes, so the last
// word is partly padding, and self-checking (B and C derive from A), so a
// torn copy is visible.
type seqValue struct {
	A, B uint64
	C    uint32
}

func seqMake(i uint64) seqValue { return seqValue{A: i, B: ^i, C: uint32(i * 7)} }

func (v seqValue) intact() bool { return v.B == ^v.A && v.C == uint32(v.A*7) }

// FuzzSeqLock places a memfile.SeqLock[seqValue] over SeqLockSize bytes
// initialised from mem (garbage: an odd sequence left by a writer that
// died mid-Store, a size recorded by another type, any value bytes;
// missing bytes are zero), ending at a PROT_NONE page on Linux. One
// writer goroutine stores as many values as ops has bytes with bit 0
// set, while two readers call TryLoad (and Load once the writer has
// stored, which it then will not wait for forever).
//
// Property: SeqLockAt fails with ErrCorrupt (a size word other than 0 or
// the type's size) or succeeds; nothing panics or hangs; a TryLoad that
// reports true returns either the value the bytes held when it started
// (before any Store) or a value that was stored, intact, never a mix;
// Load returns a stored value; and each Store advances Sequence by two
// (the first one only by one when it completes a dead writer's Store).
func FuzzSeqLock(f *testing.F) {
	f.Fuzz(func(t *testing.T, mem []byte, ops []byte) {
		b := guarded(t, memfile.SeqLockSize[seqValue]())
		copy(b, mem)
		before := append([]byte(nil), b...)
		l, err := memfile.SeqLockAt[seqValue](b)
		if err != nil {
			if !errors.Is(err, memfile.ErrCorrupt) {
				t.Fatalf("SeqLockAt error is not ErrCorrupt: %v", err)
			}
			return
		}
		var initial seqValue
		initialOK := false
		if s0 := binary.NativeEndian.Uint64(before); s0&1 == 0 {
			initial, initialOK = l.TryLoad() // nobody stores yet: must succeed
			if !initialOK {
				t.Fatalf("TryLoad fails on a quiet SeqLock with even sequence %d", s0)
			}
		}
		ops = ops[:min(len(ops), maxOps)]
		stores := 0
		for _, op := range ops {
			stores += int(op & 1)
		}
		s0 := l.Sequence()
		var per [maxWorkers][]byte
		per[0], per[1], per[2] = ops, ops, ops
		runWorkers(t, per, func(g int, ops []byte) {
			if g == 0 {
				i := uint64(1)
				for _, op := range ops {
					if op&1 != 0 {
						l.Store(seqMake(i))
						i++
					}
				}
				return
			}
			for _, op := range ops {
				if v, ok := l.TryLoad(); ok && !v.intact() && !(initialOK && v == initial) {
					t.Errorf("TryLoad returned %+v: neither stored nor the initial value", v)
				}
				if op&2 != 0 && stores > 0 && op&1 != 0 {
					if v := l.Load(); !v.intact() && !(initialOK && v == initial) {
						t.Errorf("Load returned %+v: neither stored nor the initial value", v)
					}
				}
			}
		})
		want := s0 + 2*uint64(stores)
		if s0&1 != 0 && stores > 0 {
			want--
		}
		if got := l.Sequence(); got != want {
			t.Fatalf("Sequence %d after %d Stores from %d, want %d", got, stores, s0, want)
		}
		if stores > 0 {
			if v, ok := l.TryLoad(); !ok || v != seqMake(uint64(stores)) {
				t.Fatalf("TryLoad after the last Store = %+v, %v; want %+v", v, ok, seqMake(uint64(stores)))
			}
		}
	})
}
