package fuzz_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/live"
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
// died mid-Store, with its token or none, a kind word of another type or
// layout version, any value bytes; missing bytes are zero): when tracked
// is false in memory that ends at a PROT_NONE page on Linux and that no
// MemFile maps, so nothing vouches for any process; when it is true in
// the data of a real segment this process made with memfile.Create, whose
// kernel-held liveness locks say that a writer token nobody holds is
// dead. One writer goroutine stores as many values as ops has bytes with
// bit 0 set, while two readers call TryLoad (and Load once the writer has
// stored, which it then will not wait for forever).
//
// Property: SeqLockAt fails with ErrCorrupt (a size of another type) or
// ErrVersion (another layout version) or succeeds; nothing hangs. If the
// sequence starts odd and the kernel does not say its writer is dead
// (untracked memory, token 0, this process's token), no Store is taken
// over: Store panics before it writes a byte, TryLoad fails and
// LoadContext only times out. Otherwise nothing panics; a TryLoad that
// reports true returns either the value the bytes held when it started
// (before any Store) or a value that was stored, intact, never a mix;
// Load returns a stored value; a dead writer makes LoadContext report
// ErrOwnerDead until the next Store; and each Store advances Sequence by
// two modulo 2^32 (the first one only by one when it completes a dead
// writer's Store), leaving no writer token behind.
func FuzzSeqLock(f *testing.F) {
	seg := trackedMemory(f, memfile.SeqLockSize[seqValue]())
	f.Fuzz(func(t *testing.T, mem []byte, ops []byte, tracked bool) {
		n := memfile.SeqLockSize[seqValue]()
		var b []byte
		if tracked {
			b = seg[:n:n]
			clear(b)
		} else {
			b = guarded(t, n)
		}
		copy(b, mem)
		l, err := memfile.SeqLockAt[seqValue](b)
		if err != nil {
			if !errors.Is(err, memfile.ErrCorrupt) && !errors.Is(err, memfile.ErrVersion) {
				t.Fatalf("SeqLockAt error is neither ErrCorrupt nor ErrVersion: %v", err)
			}
			return
		}
		before := append([]byte(nil), b...) // SeqLockAt may have recorded the kind
		w0 := binary.NativeEndian.Uint64(before)
		odd, writer := w0&1 != 0, uint32(w0>>32)
		dead := odd && live.Judge(unsafe.Pointer(&b[0]), writer) == live.Dead
		if odd && !dead {
			checkStuckSeqLock(t, l, b, before)
			return
		}
		var initial seqValue
		initialOK := false
		if !odd {
			initial, initialOK = l.TryLoad() // nobody stores yet: must succeed
			if !initialOK {
				t.Fatalf("TryLoad fails on a quiet SeqLock with even sequence word %#x", w0)
			}
		} else {
			if _, ok := l.TryLoad(); ok {
				t.Fatalf("TryLoad succeeded with a dead writer's Store in progress (word %#x)", w0)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := l.LoadContext(ctx)
			cancel()
			if !errors.Is(err, memfile.ErrOwnerDead) {
				t.Fatalf("LoadContext with a dead writer (token %#x) = %v, want ErrOwnerDead", writer, err)
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
		if odd && stores > 0 {
			want--
		}
		want &= 1<<32 - 1
		if got := l.Sequence(); got != want {
			t.Fatalf("Sequence %d after %d Stores from %d, want %d", got, stores, s0, want)
		}
		if stores > 0 {
			if v, ok := l.TryLoad(); !ok || v != seqMake(uint64(stores)) {
				t.Fatalf("TryLoad after the last Store = %+v, %v; want %+v", v, ok, seqMake(uint64(stores)))
			}
			if w := binary.NativeEndian.Uint64(b); w>>32 != 0 {
				t.Fatalf("sequence word %#x names a writer after the last Store ended", w)
			}
		}
	})
}

// checkStuckSeqLock checks a SeqLock whose Store in progress nobody may
// take over: Store panics before it writes, so b stays as it was; TryLoad
// fails; LoadContext times out and does not call the writer dead.
func checkStuckSeqLock(t *testing.T, l *memfile.SeqLock[seqValue], b, before []byte) {
	t.Helper()
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("Store over another writer's Store in progress (word %x) did not panic", before[:8])
			}
		}()
		l.Store(seqMake(1))
	}()
	if !bytes.Equal(b, before) {
		t.Fatalf("the refused Store wrote: %x, was %x", b, before)
	}
	if v, ok := l.TryLoad(); ok {
		t.Fatalf("TryLoad = %+v during another writer's Store", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := l.LoadContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LoadContext with a writer nobody calls dead = %v, want DeadlineExceeded", err)
	}
}

// trackedMemory returns n zeroed bytes, 8-byte aligned, in the data of a
// segment made with memfile.Create, so that internal/live judges the
// tokens found there by the kernel's liveness locks (tracked memory),
// for the whole fuzzing process. Each execution clears what it uses.
func trackedMemory(f *testing.F, n int) []byte {
	dir := linkDir(f)
	mf, err := memfile.Create(filepath.Join(dir, "tracked.link"), memfile.LockNone, max(n, 64))
	if err != nil {
		f.Fatalf("memfile.Create for tracked memory: %v", err)
	}
	f.Cleanup(func() { mf.Close() })
	return mf.Bytes()
}
