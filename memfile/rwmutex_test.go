package memfile

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/testproc"
)

func TestRWMutexBasics(t *testing.T) {
	var rw RWMutex
	rw.RLock()
	rw.RLock()
	if !rw.TryRLock() {
		t.Fatal("TryRLock failed with only readers")
	}
	if rw.TryLock() {
		t.Fatal("TryLock succeeded with readers in")
	}
	rw.RUnlock()
	rw.RUnlock()
	rw.RUnlock()
	if !rw.TryLock() {
		t.Fatal("TryLock of a free RWMutex failed")
	}
	if rw.TryRLock() || rw.TryLock() {
		t.Fatal("Try*Lock succeeded with a writer in")
	}
	rw.Unlock()
	rw.Lock()
	rw.Unlock()
	if err := rw.RLockContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	rw.RUnlock()
	if err := rw.LockContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	rw.Unlock()
	l := rw.RLocker()
	l.Lock()
	if rw.TryLock() {
		t.Fatal("TryLock succeeded under RLocker().Lock")
	}
	l.Unlock()
	if rw != (RWMutex{}) {
		t.Fatalf("RWMutex after all unlocked differs from zero:\n% x", snapshot(unsafe.Pointer(&rw), RWMutexSize))
	}
}

func TestRWMutexMisusePanics(t *testing.T) {
	for name, f := range map[string]func(*RWMutex){
		"RUnlock of unlocked RWMutex": (*RWMutex).RUnlock,
		"Unlock of unlocked RWMutex":  (*RWMutex).Unlock,
	} {
		func() {
			defer func() {
				if s, _ := recover().(string); !strings.Contains(s, name) {
					t.Errorf("recovered %q, want a panic saying %s", s, name)
				}
			}()
			f(new(RWMutex))
		}()
	}
}

// rwCheck runs readers and writers on rw over the shared words at data:
// a writer sets an "inside" flag, bumps a plain counter and clears the
// flag; a reader fails if it ever sees the flag. It returns the number of
// writes done.
func rwCheck(t *testing.T, rw *RWMutex, inside *atomic.Uint32, n *uint64, gs, iters int) {
	var wg sync.WaitGroup
	for g := range gs {
		wg.Go(func() {
			for i := range iters {
				if (i+g)%4 == 0 {
					rw.Lock()
					inside.Store(1)
					*n++
					inside.Store(0)
					rw.Unlock()
					continue
				}
				rw.RLock()
				if inside.Load() != 0 {
					t.Error("reader saw a writer inside")
				}
				rw.RUnlock()
			}
		})
	}
	wg.Wait()
}

func writesOf(gs, iters int) uint64 {
	w := 0
	for g := range gs {
		for i := range iters {
			if (i+g)%4 == 0 {
				w++
			}
		}
	}
	return uint64(w)
}

func TestRWMutexGoroutines(t *testing.T) {
	var rw RWMutex
	var inside atomic.Uint32
	var n uint64
	iters := iterations(t, 20000)
	rwCheck(t, &rw, &inside, &n, 8, iters)
	if want := writesOf(8, iters); n != want {
		t.Fatalf("writes = %d, want %d", n, want)
	}
}

// TestRWMutexProcesses: 4 processes x 4 goroutines, readers and writers;
// no reader ever sees a writer inside and the write count is exact.
func TestRWMutexProcesses(t *testing.T) {
	const procs, gs = 4, 4
	if testproc.Role() == "rw" {
		b := childMapping(t)
		rw, _ := RWMutexAt(b)
		rwCheck(t, rw, word(b, 512), counter(b, 520), gs, iterations(t, 10000))
		return
	}
	b, env := parentMapping(t)
	waitChildren(t, startChildren(t, procs, "TestRWMutexProcesses", "rw", env))
	if got, want := *counter(b, 520), procs*writesOf(gs, iterations(t, 10000)); got != want {
		t.Fatalf("writes = %d, want %d", got, want)
	}
}

func TestRWMutexCancelLeavesUnchanged(t *testing.T) {
	var rw RWMutex
	rw.RLock() // a reader in: writers wait
	before := snapshot(unsafe.Pointer(&rw), RWMutexSize)
	err := rw.LockContext(timeoutCtx(t, 30*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockContext with a reader in = %v", err)
	}
	if after := snapshot(unsafe.Pointer(&rw), RWMutexSize); string(after) != string(before) {
		t.Fatalf("timed-out writer changed the bytes:\nbefore % x\nafter  % x", before, after)
	}
	rw.RUnlock()
	rw.Lock() // a writer in: readers and writers wait
	before = snapshot(unsafe.Pointer(&rw), RWMutexSize)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Duration(10+i*5)*time.Millisecond, cancel)
			var err error
			if i%2 == 0 {
				err = rw.RLockContext(ctx)
			} else {
				err = rw.LockContext(ctx)
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("wait on a held RWMutex = %v", err)
			}
		})
	}
	wg.Wait()
	if after := snapshot(unsafe.Pointer(&rw), RWMutexSize); string(after) != string(before) {
		t.Fatalf("cancelled waiters changed the bytes:\nbefore % x\nafter  % x", before, after)
	}
	rw.Unlock()
}

// TestRWMutexOwnerDeath: a dead writer (seen by a reader and by a
// writer) and a dead reader (seen by a writer) are taken over with
// ErrOwnerDead; the news persists until MarkConsistent.
func TestRWMutexOwnerDeath(t *testing.T) {
	switch testproc.Role() {
	case "writer", "reader":
		b := childMapping(t)
		rw, _ := RWMutexAt(b)
		if testproc.Role() == "writer" {
			rw.Lock()
		} else {
			rw.RLock()
		}
		word(b, 512).Store(1)
		time.Sleep(testproc.Scale(20 * time.Second)) // killed long before
		return
	}
	for _, tc := range []struct{ child, waiter string }{
		{"writer", "reader"}, {"writer", "writer"}, {"reader", "writer"},
	} {
		t.Run(tc.child+" dies, "+tc.waiter+" waits", func(t *testing.T) {
			b, env := parentMapping(t)
			rw, _ := RWMutexAt(b)
			cmds := startChildren(t, 1, "TestRWMutexOwnerDeath", tc.child, env)
			waitFlag(t, b, 512, 1)
			lock, unlock := rw.LockContext, rw.Unlock
			if tc.waiter == "reader" {
				lock, unlock = rw.RLockContext, rw.RUnlock
			}
			killed := make(chan time.Time, 1)
			done := make(chan error, 1)
			var took time.Duration
			go func() {
				err := lock(timeoutCtx(t, testproc.Scale(5*time.Second)))
				took = time.Since(<-killed)
				done <- err
			}()
			time.Sleep(20 * time.Millisecond)
			killAndReap(t, cmds[0], killed)
			err := <-done
			t.Logf("dead %s noticed %v after the kill", tc.child, took)
			if !isOwnerDead(err) {
				t.Fatalf("%s lock after the %s died = %v, want ErrOwnerDead", tc.waiter, tc.child, err)
			}
			unlock() // without MarkConsistent: still inconsistent
			if err := rw.RLockContext(context.Background()); !isOwnerDead(err) {
				t.Fatalf("RLockContext of an inconsistent RWMutex = %v, want ErrOwnerDead", err)
			}
			rw.RUnlock()
			if err := rw.LockContext(context.Background()); !isOwnerDead(err) {
				t.Fatalf("LockContext of an inconsistent RWMutex = %v, want ErrOwnerDead", err)
			}
			rw.MarkConsistent()
			rw.Unlock()
			if err := rw.RLockContext(context.Background()); err != nil {
				t.Fatalf("RLockContext after MarkConsistent = %v", err)
			}
			rw.RUnlock()
			if err := rw.LockContext(context.Background()); err != nil {
				t.Fatalf("LockContext after MarkConsistent = %v", err)
			}
			rw.Unlock()
		})
	}
}

func TestRWMutexZeroAllocs(t *testing.T) {
	var rw RWMutex
	ctx := context.Background()
	n := testing.AllocsPerRun(1000, func() {
		rw.RLock()
		rw.RUnlock()
		rw.Lock()
		rw.Unlock()
		rw.TryRLock()
		rw.RUnlock()
		rw.TryLock()
		rw.Unlock()
		rw.RLockContext(ctx)
		rw.RUnlock()
		rw.LockContext(ctx)
		rw.Unlock()
	})
	if n != 0 {
		t.Fatalf("%v allocations per round", n)
	}
}

// TestRWMutexLeavingReaderChangesWriterWord pins the protocol that keeps
// a writer from sleeping through a reader's exit. The writer sets
// rwWriterSleeps, finds a reader still in, and sleeps on rstate; a reader
// that leaves between that check and the futex wait changes only its slot
// unless it also changes rstate. It must: the writer's wait on the value
// it read then returns at once instead of running out its 50 ms slice.
func TestRWMutexLeavingReaderChangesWriterWord(t *testing.T) {
	for _, leave := range []struct {
		name string
		fn   func(rw *RWMutex)
	}{
		{"RUnlock", func(rw *RWMutex) { rw.RUnlock() }},
		{"reader backing out", func(rw *RWMutex) {
			// A reader that takes a hold, sees the writer and drops it.
			if rw.enterRead() {
				t.Fatal("enterRead succeeded beside a writer")
			}
		}},
	} {
		t.Run(leave.name, func(t *testing.T) {
			var rw RWMutex
			rw.RLock()
			// The writer's state after it set the bit and found the slot
			// taken, about to sleep on this value.
			rw.w.Lock()
			sleeping := uint32(rwWriter | rwWriterSleeps)
			atomic.StoreUint32(&rw.rstate, sleeping)
			leave.fn(&rw)
			if got := atomic.LoadUint32(&rw.rstate); got == sleeping {
				t.Fatalf("rstate still %#x after a reader left: a writer about to wait on it would sleep through the wake-up", got)
			}
		})
	}
}

// BenchmarkRWMutexRLockUncontended: one goroutine takes and returns a
// read hold, the hot path (the slot of this process is free in between).
func BenchmarkRWMutexRLockUncontended(b *testing.B) {
	rw, _ := RWMutexAt(benchMem(b))
	b.ReportAllocs()
	for b.Loop() {
		rw.RLock()
		rw.RUnlock()
	}
}

// BenchmarkRWMutexRLockNested: a second read hold while this process
// holds one already (adds to the process's slot instead of claiming it).
func BenchmarkRWMutexRLockNested(b *testing.B) {
	rw, _ := RWMutexAt(benchMem(b))
	rw.RLock()
	defer rw.RUnlock()
	b.ReportAllocs()
	for b.Loop() {
		rw.RLock()
		rw.RUnlock()
	}
}

// BenchmarkRWMutexRLockParallel: GOMAXPROCS goroutines of one process
// read only, sharing the process's slot.
func BenchmarkRWMutexRLockParallel(b *testing.B) {
	rw, _ := RWMutexAt(benchMem(b))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rw.RLock()
			rw.RUnlock()
		}
	})
}
