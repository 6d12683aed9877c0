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
// were acquired must not panic, whatever the count and capacity held);
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
			if errors.Is(err, memfile.ErrCorrupt) {
				return // garbage recognised up front: fine
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
