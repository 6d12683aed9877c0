package fuzz_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/shmx/shmx/memfile"
)

// rwExclusion checks reader/writer exclusion: a writer is alone, readers
// only share with readers. Writers increment a plain counter and readers
// read it, so the race detector also checks the lock's happens-before.
type rwExclusion struct {
	writers, readers atomic.Int32
	taken            atomic.Int64
	counter          int64
}

func (x *rwExclusion) write(t *testing.T) {
	if w := x.writers.Add(1); w != 1 || x.readers.Load() != 0 {
		t.Errorf("RWMutex writer inside with %d writers and %d readers", w, x.readers.Load())
	}
	x.counter++
	x.taken.Add(1)
	x.writers.Add(-1)
}

func (x *rwExclusion) read(t *testing.T) {
	x.readers.Add(1)
	if w := x.writers.Load(); w != 0 {
		t.Errorf("RWMutex reader inside with %d writers", w)
	}
	_ = x.counter
	runtime.Gosched() // let other readers in meanwhile
	x.readers.Add(-1)
}

// FuzzRWMutexState places a memfile.RWMutex over RWMutexSize bytes
// initialised from state (garbage; missing bytes are zero), ending at a
// PROT_NONE page on Linux, and runs up to 16 operations from ops on 3
// goroutines. Each op byte: bits 0-2 the operation (LockContext,
// TryLock, RLockContext, TryRLock, LockContext+MarkConsistent, a
// cancelled RLockContext), bits 3-4 the timeout, bit 5 whether to write-
// lock with LockRecover (and MarkConsistent when it reports rw
// inconsistent), bits 6-7 the goroutine.
//
// Property: every operation ends without panic (only context variants
// and Try forms are used); a writer is alone and readers share only with
// readers; while a writer holds it, the owner field of the writer Mutex
// (bytes 4-7) holds this process's token; a counter written under the write lock ends exact; lock calls
// return nil with the lock held, or ErrOwnerDead, the context's error
// or ErrCorrupt without it. When the bytes started all zero, once every
// operation ended the RWMutex is unlocked again in every word that says
// so (writer Mutex state, reader-barring state, sleeping-reader count
// but its epoch, reader slots: bytes 0-7, 16-19, 24-26, and 64+64i to
// 71+64i for slot i) and TryLock and TryRLock
// succeed.
func FuzzRWMutexState(f *testing.F) {
	f.Fuzz(func(t *testing.T, state []byte, ops []byte) {
		mem := guarded(t, memfile.RWMutexSize)
		copy(mem, state)
		clean := allZero(mem)
		rw, err := memfile.RWMutexAt(mem)
		if err != nil {
			if errors.Is(err, memfile.ErrCorrupt) {
				return // garbage recognised up front: fine
			}
			t.Fatalf("RWMutexAt over %d aligned bytes: %v", len(mem), err)
		}
		if st := rw.State(); len(st.Readers) > 16 || st.WriterIn != (mem[16]&1 != 0) {
			t.Fatalf("State %+v of %x", st, mem[:48])
		}
		var x rwExclusion
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		runWorkers(t, schedule(ops), func(g int, ops []byte) {
			for _, op := range ops {
				rwOp(t, ctx, rw, mem, &x, op)
			}
		})
		if x.counter != x.taken.Load() {
			t.Errorf("counter %d after %d write sections", x.counter, x.taken.Load())
		}
		if !clean {
			return
		}
		words := [][2]int{{0, 8}, {16, 20}, {24, 27}} // byte 27 is the count's epoch, kept while empty
		for i := range 16 {
			words = append(words, [2]int{64 + 64*i, 72 + 64*i})
		}
		for _, r := range words {
			if !allZero(mem[r[0]:r[1]]) {
				t.Fatalf("RWMutex that started zero has bytes %d-%d = %x after every operation ended", r[0], r[1]-1, mem[r[0]:r[1]])
			}
		}
		if !rw.TryLock() {
			t.Fatalf("TryLock fails on a quiet RWMutex that started zero")
		}
		rw.Unlock()
		if !rw.TryRLock() {
			t.Fatalf("TryRLock fails on a quiet RWMutex that started zero")
		}
		rw.RUnlock()
	})
}

// rwOp runs one operation of FuzzRWMutexState.
func rwOp(t *testing.T, parent context.Context, rw *memfile.RWMutex, mem []byte, x *rwExclusion, op byte) {
	ctx, cancel := opContext(parent, op)
	defer cancel()
	switch op & 7 {
	case 0, 1, 6:
		var err error
		dirty := false
		if op&32 != 0 {
			dirty, err = rw.LockRecover(ctx)
		} else {
			err = rw.LockContext(ctx)
		}
		if !lockErr(t, "RWMutex.LockContext", err) {
			return
		}
		if dirty || op&7 == 6 {
			rw.MarkConsistent()
		}
		x.write(t)
		checkOwnerToken(t, mem, "RWMutex write-locked")
		if op&7 == 1 {
			hold()
			checkOwnerToken(t, mem, "RWMutex write-locked while others wait")
		}
		rw.Unlock()
	case 2:
		if rw.TryLock() {
			x.write(t)
			rw.Unlock()
		}
	case 3, 4:
		if lockErr(t, "RWMutex.RLockContext", rw.RLockContext(ctx)) {
			x.read(t)
			rw.RUnlock()
		}
	case 5:
		if rw.TryRLock() {
			x.read(t)
			rw.RUnlock()
		}
	case 7:
		c, stop := context.WithCancel(parent)
		stop()
		if lockErr(t, "RWMutex.RLockContext(cancelled)", rw.RLockContext(c)) {
			x.read(t)
			rw.RUnlock()
		}
	}
}
