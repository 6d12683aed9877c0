package fuzz_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmx/shmx/memfile"
)

// FuzzSemaphoreState places a memfile.Semaphore over SemaphoreSize bytes
// initialised from state (garbage; missing bytes are zero), ending at a
// PROT_NONE page on Linux, and runs up to 16 operations from ops on 3
// goroutines, each of which gives back exactly the units it took. Each op
// byte: bits 0-2 the operation (Acquire, TryAcquire, Acquire of 0 units,
// Acquire of more units than there are, a cancelled Acquire, Count and
// Capacity), bits 3-4 the timeout, bit 5 one or two units, bits 6-7 the
// goroutine.
//
// Property: every operation ends without panic (Release of units that
// were acquired must not panic, whatever the count, capacity, holder
// table and queue held);
// Acquire returns nil with the units taken, or the context's error (or
// ErrCorrupt) without; the units held at once never exceed the count the
// semaphore started with; and once every operation ended the count and
// the waiter count are as they started and the capacity never changed.
func FuzzSemaphoreState(f *testing.F) {
	f.Fuzz(func(t *testing.T, state []byte, ops []byte) {
		mem := guarded(t, memfile.SemaphoreSize)
		copy(mem, state)
		before := append([]byte(nil), mem...)
		s, err := memfile.SemaphoreAt(mem)
		if err != nil {
			if errors.Is(err, memfile.ErrCorrupt) || errors.Is(err, memfile.ErrVersion) {
				return // garbage or another layout recognised up front: fine
			}
			t.Fatalf("SemaphoreAt over %d aligned bytes: %v", len(mem), err)
		}
		start, capacity := s.Count(), s.Capacity()
		var held atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		runWorkers(t, schedule(ops), func(g int, ops []byte) {
			for _, op := range ops {
				semOp(t, ctx, s, start, &held, op)
			}
		})
		if c := s.Count(); c != start {
			t.Fatalf("Semaphore count %d after every unit came back, started at %d (capacity %d)", c, start, capacity)
		}
		if c := s.Capacity(); c != capacity {
			t.Fatalf("Semaphore capacity changed from %d to %d", capacity, c)
		}
		le := binary.LittleEndian
		if got, was := le.Uint32(mem[8:]), le.Uint32(before[8:]); got != was {
			t.Fatalf("Semaphore waiter count %d after every operation ended, %d before", got, was)
		}
	})
}

// semOp runs one operation of FuzzSemaphoreState.
func semOp(t *testing.T, parent context.Context, s *memfile.Semaphore, start uint32, held *atomic.Int64, op byte) {
	n := int64(1 + op>>5&1)
	hold := func(n int64) {
		if h := held.Add(n); h > int64(start) {
			t.Errorf("%d units held at once from a Semaphore that started with %d", h, start)
		}
		runtime.Gosched()
		held.Add(-n)
		release(t, s, n)
	}
	acquire := func(ctx context.Context, n int64) {
		if lockErr(t, fmt.Sprintf("Semaphore.Acquire(%d)", n), s.Acquire(ctx, n)) {
			hold(n)
		}
	}
	ctx, cancel := opContext(parent, op)
	defer cancel()
	switch op & 7 {
	case 0, 1:
		acquire(ctx, n)
	case 2:
		if s.TryAcquire(n) {
			hold(n)
		}
	case 3:
		acquire(ctx, 0)
	case 4:
		acquire(ctx, min(int64(start)+n, math.MaxUint32)) // more than there will ever be
	case 5:
		c, stop := context.WithCancel(parent)
		stop()
		acquire(c, n)
	case 6, 7:
		s.Count()
		s.Capacity()
	}
}

// release gives back n acquired units; a panic there is a finding (the
// caller did nothing wrong), reported with the semaphore's state.
func release(t *testing.T, s *memfile.Semaphore, n int64) {
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("Release(%d) of acquired units panicked (count %d, capacity %d): %v", n, s.Count(), s.Capacity(), p)
		}
	}()
	s.Release(n)
}

// FuzzSemaphoreAt places arbitrary bytes, every byte of the SemaphoreSize
// another process can write (the Mutex, a pending journal, holder table
// and queue included), in untracked memory or in a real segment (tracked:
// there a token no live process holds is judged dead), then runs
// SemaphoreAt. It must refuse them with an error matching ErrCorrupt or
// ErrVersion, or accept a semaphore that works: in tracked memory Recover
// (bounded by a deadline: a Mutex word can name token 0, which no kernel
// lock vouches for or against, and then nothing gets the lock) gives back
// every unit a (necessarily dead) process held and drops its queued
// Acquires, leaving count + unowned = capacity and no waiter; a
// TryAcquire and a bounded Acquire may take units, whose Release must not
// panic; and the bytes left are accepted again by SemaphoreAt (no
// operation turns a valid state into an invalid one). Over untracked
// memory a Mutex word locked by a foreign token is held for good, so only
// the calls that cannot wait for it run there.
func FuzzSemaphoreAt(f *testing.F) {
	seg := trackedMemory(f, memfile.SemaphoreSize)
	f.Fuzz(func(t *testing.T, state []byte, tracked bool) {
		mem := guarded(t, memfile.SemaphoreSize)
		if tracked {
			mem = seg[:memfile.SemaphoreSize]
			clear(mem)
		}
		copy(mem, state)
		s, err := memfile.SemaphoreAt(mem)
		if err != nil {
			if errors.Is(err, memfile.ErrCorrupt) || errors.Is(err, memfile.ErrVersion) {
				return
			}
			t.Fatalf("SemaphoreAt: %v", err)
		}
		capacity := s.Capacity()
		le := binary.LittleEndian
		if tracked {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			_, err := s.Recover(ctx)
			cancel()
			if err != nil {
				// A Mutex held by a token no kernel lock names (0, say)
				// is held for good: nothing more can run.
				lockErr(t, "Semaphore.Recover", err)
				return
			}
			if w := s.Waiters(); w != 0 {
				t.Fatalf("%d waiters of dead processes left after Recover", w)
			}
			if c, un := s.Count(), le.Uint32(mem[32:]); capacity > 0 && uint64(c)+uint64(un) != uint64(capacity) {
				t.Fatalf("after Recover count %d + unowned %d != capacity %d", c, un, capacity)
			}
		}
		if s.TryAcquire(1) {
			release(t, s, 1)
		}
		if tracked {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			if lockErr(t, "Semaphore.Acquire(1)", s.Acquire(ctx, 1)) {
				release(t, s, 1)
			}
			cancel()
		}
		if c := s.Capacity(); c != capacity {
			t.Fatalf("capacity changed from %d to %d", capacity, c)
		}
		if _, err := memfile.SemaphoreAt(mem); err != nil {
			t.Fatalf("SemaphoreAt refused what the operations left: %v", err)
		}
	})
}
