package memfile

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/testproc"
)

// Tests of the reader slots when one process holds in two of them at once
// (see the slot state machine in rwmutex.go). They use only what every
// version of the RWMutex had (takeSlot, dropSlot, the slot words), so
// that they also run, and fail, against the code that had the bug:
//
//	git show <commit>:memfile/rwmutex.go > memfile/rwmutex.go

// collidingToken returns a token of "another process" whose first slot
// is this process's first slot.
func collidingToken(t testing.TB) uint32 {
	home := slotStart(selfToken)
	for tok := uint32(1); tok != 0; tok++ {
		if tok != selfToken && slotStart(tok) == home {
			return tok
		}
	}
	t.Fatal("no token shares this process's first slot")
	return 0
}

// slotsOf counts the slots of rw that carry token.
func slotsOf(rw *RWMutex, token uint32) int {
	n := 0
	for i := range rw.slots {
		if s := atomic.LoadUint64(&rw.slots[i].v); s != 0 && uint32(s) == token {
			n++
		}
	}
	return n
}

// TestRWMutexBackOutBesideOwnSlot replays, in one goroutine, the steps of
// two goroutines of this process, A and B, and a writer, after which the
// old code left a slot with token 0 and 2^32-1 holds (no writer could
// lock again) or took a hold of another process's. Another process T
// reads in this process's first slot j, so A's RLock claims another; T
// leaves; B's enterRead takes a hold (the old takeSlot claimed the free
// slot j: this process now held in two); A's RUnlock returns a hold (the
// old one to slot j, which it emptied); a writer sets its bit; B sees it
// and backs out (the old dropSlot took the hold from slot j, empty by
// then, or T's again).
func TestRWMutexBackOutBesideOwnSlot(t *testing.T) {
	for _, tReturns := range []bool{false, true} {
		name := "slot j stays free"
		if tReturns {
			name = "T reads in slot j again"
		}
		t.Run(name, func(t *testing.T) {
			var rw RWMutex
			j := slotStart(selfToken)
			other := uint64(collidingToken(t)) | slotHold
			atomic.StoreUint64(&rw.slots[j].v, other) // T reads
			rw.RLock()                                // A
			if s := atomic.LoadUint64(&rw.slots[j].v); s != other {
				t.Fatalf("A's RLock changed T's slot %d from %#x to %#x", j, other, s)
			}
			if n := slotsOf(&rw, selfToken); n != 1 {
				t.Fatalf("A's RLock left this process in %d slots, want 1", n)
			}
			atomic.StoreUint64(&rw.slots[j].v, 0) // T leaves
			i, ok := rw.takeSlot()                // B: enterRead takes a hold...
			if !ok {
				t.Fatal("takeSlot found no slot")
			}
			rw.RUnlock() // A leaves
			if tReturns {
				if !atomic.CompareAndSwapUint64(&rw.slots[j].v, 0, other) {
					// This process holds in slot j (the old takeSlot);
					// T claims the next free slot instead: a real T can
					// only come back where nobody is.
					t.Logf("slot %d still this process's after A left: %#x", j, atomic.LoadUint64(&rw.slots[j].v))
					tReturns = false
				}
			}
			atomic.StoreUint32(&rw.rstate, rwWriter) // a writer bars readers
			rw.dropSlot(i)                           // ...B sees it and backs out
			if tReturns {
				if s := atomic.LoadUint64(&rw.slots[j].v); s != other {
					t.Errorf("B's backing out changed T's slot %d from %#x to %#x", j, other, s)
				}
				atomic.StoreUint64(&rw.slots[j].v, 0) // T leaves
			}
			checkSlotsFree(t, &rw, "A and B left")
			atomic.StoreUint32(&rw.rstate, 0) // the writer gives up
			if t.Failed() {
				return
			}
			if !rw.TryLock() {
				t.Fatal("TryLock of an RWMutex nobody holds failed")
			}
			rw.Unlock()
			if rw != (RWMutex{}) {
				t.Fatalf("RWMutex after all left differs from zero:\n% x", snapshot(unsafe.Pointer(&rw), RWMutexSize))
			}
		})
	}
}

// TestRWMutexWriterGetsInBesideCollidingReader: two reader goroutines of
// this process (RLock, TryRLock, and an enterRead that yields between its
// two steps; sometimes holding together) and a writer goroutine, while "another process" whose first slot is this process's
// keeps entering and leaving it; for a bounded time, every LockContext
// must succeed within seconds, no reader may see the writer inside, and
// the other process's slot is changed by nobody else. The old code lost
// the RWMutex here (a slot of token 0 with 2^32-1 holds) within a second.
func TestRWMutexWriterGetsInBesideCollidingReader(t *testing.T) {
	var rw RWMutex
	j := slotStart(selfToken)
	other := uint64(collidingToken(t)) | slotHold
	var inside atomic.Bool
	var stop atomic.Bool
	var writes, otherReads, backOuts atomic.Int64
	var longest time.Duration // the writer's longest wait
	deadline := time.Now().Add(testproc.Scale(time.Second))
	var wg sync.WaitGroup

	// The other process: a reader that only ever uses its first slot.
	wg.Go(func() {
		for !stop.Load() {
			if !atomic.CompareAndSwapUint64(&rw.slots[j].v, 0, other) {
				time.Sleep(time.Microsecond)
				continue
			}
			barred := atomic.LoadUint32(&rw.rstate)&rwWriter != 0
			if !barred {
				otherReads.Add(1)
				if inside.Load() {
					t.Error("the other process read with the writer inside")
				}
				runtime.Gosched() // read for a while
			}
			if !atomic.CompareAndSwapUint64(&rw.slots[j].v, other, 0) {
				t.Errorf("the other process's slot %d changed under it: %#x, want %#x", j, atomic.LoadUint64(&rw.slots[j].v), other)
				stop.Store(true)
				return
			}
			rw.afterReadLeave(true)
			if barred {
				backOuts.Add(1)
				time.Sleep(time.Microsecond) // as if on the gate
			}
		}
	})
	for g := range 2 {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				switch {
				case g == 1 && n%2 == 0:
					// enterRead, the goroutine preempted between taking
					// its hold and looking for a writer: the window in
					// which the old code went wrong, widened.
					i, ok := rw.takeSlot()
					if !ok {
						continue
					}
					if n%4 == 0 {
						runtime.Gosched()
					} else {
						time.Sleep(time.Microsecond)
					}
					if atomic.LoadUint32(&rw.rstate)&rwWriter != 0 {
						rw.dropSlot(i)
						continue
					}
				case n%3 == 0:
					if !rw.TryRLock() {
						continue
					}
				default:
					rw.RLock()
				}
				if inside.Load() {
					t.Error("a reader saw the writer inside")
				}
				if n%7 == 0 {
					time.Sleep(time.Microsecond) // overlap the other goroutine
				}
				rw.RUnlock()
			}
		})
	}
	wg.Go(func() {
		defer stop.Store(true)
		for time.Now().Before(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), testproc.Scale(2*time.Second))
			began := time.Now()
			err := rw.LockContext(ctx)
			longest = max(longest, time.Since(began))
			cancel()
			if err != nil {
				t.Errorf("writer after %d writes: LockContext = %v", writes.Load(), err)
				return
			}
			inside.Store(true)
			writes.Add(1)
			inside.Store(false)
			rw.Unlock()
			time.Sleep(time.Microsecond)
		}
	})
	wg.Wait()
	t.Logf("%d writes (longest wait %v); the other process read %d times and backed out %d times",
		writes.Load(), longest, otherReads.Load(), backOuts.Load())
	checkSlotsFree(t, &rw, "everybody left")
	if !t.Failed() && !rw.TryLock() {
		t.Fatal("TryLock of an RWMutex nobody holds failed")
	}
}
