package fuzz_test

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/memfile"
)

// FuzzMutexState places a memfile.Mutex over MutexSize bytes initialised
// from state (garbage a dying or hostile process may have left; missing
// bytes are zero), at the end of a page followed by a PROT_NONE page on
// Linux, and runs up to 16 operations from ops on 3 goroutines. Each op
// byte: bits 0-2 the operation (LockContext, TryLock, a longer critical
// section, MarkConsistent, an expired context, TryLock while held, a
// cancelled context), bits 3-4 the timeout (expired, 100 µs, 500 µs,
// 2 ms; all within a 5 ms budget per execution), bit 5 whether to lock
// with LockRecover (and MarkConsistent when it reports the Mutex
// inconsistent) instead of LockContext, bits 6-7 the goroutine.
//
// Property: every operation ends (no hang, no panic: only the context
// variants and TryLock are used, never Lock, which panics by design on a
// dead owner); a lock is held by at most one goroutine at a time and a
// counter incremented under it ends exact; while a goroutine holds it,
// the owner field (bytes 4-7) holds this process's token, also while
// others register as waiters; LockContext returns nil with the lock
// held, or ErrOwnerDead, the context's error or ErrCorrupt without it. When the bytes started all zero (an unlocked Mutex), the
// state word (bytes 0-7) is zero again once every operation has ended, so
// the next locker finds the Mutex as a fresh one: unlocked, fast paths
// open, no stale waiter or flag.
func FuzzMutexState(f *testing.F) {
	f.Fuzz(func(t *testing.T, state []byte, ops []byte) {
		mem := guarded(t, memfile.MutexSize)
		copy(mem, state)
		clean := allZero(mem)
		m, err := memfile.MutexAt(mem)
		if err != nil {
			if errors.Is(err, memfile.ErrCorrupt) {
				return // garbage recognised up front: fine
			}
			t.Fatalf("MutexAt over %d aligned bytes: %v", len(mem), err)
		}
		if st := m.State(); st.Locked != (mem[0]&1 != 0) || st.Inconsistent != (mem[0]&8 != 0) {
			t.Fatalf("State %+v of state word %x", st, mem[:8])
		}
		var x exclusion
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		runWorkers(t, schedule(ops), func(g int, ops []byte) {
			for _, op := range ops {
				mutexOp(t, ctx, m, mem, &x, op)
			}
		})
		x.check(t)
		if clean && !allZero(mem[:8]) {
			t.Fatalf("a Mutex that started unlocked and zero has state word %x after every operation ended", mem[:8])
		}
		if clean && !m.TryLock() {
			t.Fatalf("TryLock fails on a quiet Mutex that started zero (state %x)", mem[:8])
		} else if clean {
			m.Unlock()
		}
	})
}

// checkOwnerToken checks, for a goroutine holding the Mutex in mem, that
// the owner field (bytes 4-7 of the documented layout: the token of the
// owning process, internal/live) names this process, as a waiter judging
// the owner's liveness reads it.
func checkOwnerToken(t *testing.T, mem []byte, when string) {
	if got := binary.LittleEndian.Uint32(mem[4:]); got != live.Self() {
		t.Errorf("%s: owner field names token %08x, this process is %08x (state %x)", when, got, live.Self(), mem[:8])
	}
}

// hold keeps a lock for about 200 µs: longer than a contender spins
// before it registers as a waiter and sleeps.
func hold() {
	for start := time.Now(); time.Since(start) < 200*time.Microsecond; {
		runtime.Gosched()
	}
}

// mutexOp runs one operation of FuzzMutexState.
func mutexOp(t *testing.T, parent context.Context, m *memfile.Mutex, mem []byte, x *exclusion, op byte) {
	switch op & 7 {
	case 0, 1, 3, 4, 6:
		ctx, cancel := opContext(parent, op)
		var err error
		dirty := false
		if op&32 != 0 {
			dirty, err = m.LockRecover(ctx)
		} else {
			err = m.LockContext(ctx)
		}
		cancel()
		if !lockErr(t, "Mutex.LockContext", err) {
			return
		}
		if dirty || op&7 == 4 {
			m.MarkConsistent()
		}
		x.section(t, "Mutex")
		checkOwnerToken(t, mem, "Mutex after LockContext")
		switch op & 7 {
		case 3:
			hold() // while others spin, register and sleep
			checkOwnerToken(t, mem, "Mutex held while others wait")
			x.section(t, "Mutex")
		case 6:
			if m.TryLock() {
				t.Errorf("TryLock succeeded on a Mutex this goroutine holds")
				return // unlocking twice would panic
			}
		}
		m.Unlock()
	case 2:
		if m.TryLock() {
			x.section(t, "Mutex")
			m.Unlock()
		}
	case 5:
		ctx, cancel := context.WithTimeout(parent, 0)
		err := m.LockContext(ctx)
		cancel()
		if lockErr(t, "Mutex.LockContext(expired)", err) {
			x.section(t, "Mutex")
			m.Unlock()
		}
	case 7:
		ctx, cancel := context.WithCancel(parent)
		cancel()
		if lockErr(t, "Mutex.LockContext(cancelled)", m.LockContext(ctx)) {
			x.section(t, "Mutex")
			m.Unlock()
		}
	}
}
