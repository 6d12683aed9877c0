package memfile

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/futex"
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
		rwCheck(t, rw, word(b, rwTestFlag), counter(b, rwTestFlag+8), gs, iterations(t, 10000))
		return
	}
	b, env := parentMapping(t)
	waitChildren(t, startChildren(t, procs, "TestRWMutexProcesses", "rw", env))
	if got, want := *counter(b, rwTestFlag+8), procs*writesOf(gs, iterations(t, 10000)); got != want {
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
	before = snapshotIdle(unsafe.Pointer(&rw), RWMutexSize, unsafe.Offsetof(rw.rwait))
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
	if after := snapshotIdle(unsafe.Pointer(&rw), RWMutexSize, unsafe.Offsetof(rw.rwait)); string(after) != string(before) {
		t.Fatalf("cancelled waiters changed the bytes (but the gate count's epoch):\nbefore % x\nafter  % x", before, after)
	}
	rw.Unlock()
}

// TestRWMutexOwnerDeath: a dead writer (seen by a reader and by a
// writer) and a dead reader (seen by a writer; one that held in two slots
// too) are taken over at the first look after the kill, and refused with
// ErrOwnerDead, nothing held, until a LockRecover and MarkConsistent. Waiters under a context that
// can be cancelled look every 10 ms, the others every 50 ms.
func TestRWMutexOwnerDeath(t *testing.T) {
	switch testproc.Role() {
	case "writer", "reader", "reader in two slots", "readers on every CPU":
		b := childMapping(t)
		rw, _ := RWMutexAt(b)
		switch testproc.Role() {
		case "writer":
			rw.Lock()
		case "reader":
			rw.RLock()
		case "readers on every CPU":
			// GOMAXPROCS goroutines take a read hold each and spin
			// until all have one, so that they hold at once on
			// different Ps: the process holds in several home slots.
			n := runtime.GOMAXPROCS(0)
			var held atomic.Int32
			for range n {
				go func() {
					rw.RLock()
					held.Add(1)
					for held.Load() < int32(n) {
					}
					select {}
				}()
			}
			for held.Load() < int32(n) {
				time.Sleep(time.Millisecond)
			}
			slots := 0
			for i := range rw.slots {
				if s := atomic.LoadUint64(&rw.slots[i].v); s != 0 && uint32(s) == selfToken {
					slots++
				}
			}
			word(b, rwTestFlag+4).Store(uint32(slots))
		default:
			// As after two goroutines claimed slots at once.
			rw.RLock()
			claimed := false
			for j := range rw.slots {
				if claimed = atomic.CompareAndSwapUint64(&rw.slots[j].v, 0, uint64(selfToken)|slotHold); claimed {
					break
				}
			}
			if !claimed {
				t.Fatal("no second slot is free")
			}
		}
		word(b, rwTestFlag).Store(1)
		time.Sleep(testproc.Scale(20 * time.Second)) // killed long before
		return
	}
	for _, tc := range []struct {
		child, waiter string
		forever       bool // wait under context.Background: 50 ms slices
	}{
		{"writer", "reader", false}, {"writer", "writer", false},
		{"reader", "writer", false}, {"reader in two slots", "writer", false},
		{"readers on every CPU", "writer", false},
		{"writer", "reader", true}, {"reader", "writer", true},
	} {
		name := tc.child + " dies, " + tc.waiter + " waits"
		if tc.forever {
			name += " forever"
		}
		t.Run(name, func(t *testing.T) {
			b, env := parentMapping(t)
			rw, _ := RWMutexAt(b)
			cmds := startChildren(t, 1, "TestRWMutexOwnerDeath", tc.child, env)
			waitFlag(t, b, rwTestFlag, 1)
			lock, unlock := rw.LockContext, rw.Unlock
			if tc.waiter == "reader" {
				lock, unlock = rw.RLockContext, rw.RUnlock
			}
			ctx := context.Background()
			if !tc.forever {
				ctx = timeoutCtx(t, testproc.Scale(5*time.Second))
			}
			killed := make(chan time.Time, 1)
			done := make(chan error, 1)
			var took time.Duration
			go func() {
				err := lock(ctx)
				took = time.Since(<-killed)
				done <- err
			}()
			time.Sleep(20 * time.Millisecond)
			if tc.child == "readers on every CPU" {
				t.Logf("the child's %d goroutines held in %d slots", runtime.GOMAXPROCS(0), word(b, rwTestFlag+4).Load())
			}
			killAndReap(t, cmds[0], killed)
			var err error
			select {
			case err = <-done:
			case <-time.After(testproc.Scale(10 * time.Second)):
				t.Fatalf("%s still waits 10 s after the %s was killed", tc.waiter, tc.child)
			}
			t.Logf("dead %s recovered %v after the kill", tc.child, took)
			if !isOwnerDead(err) {
				t.Fatalf("%s lock after the %s died = %v, want ErrOwnerDead", tc.waiter, tc.child, err)
			}
			_ = unlock // the refusal holds nothing: see checkNothingHeld
			checkNothingHeld(t, rw, "after the refusal")
			if err := rw.RLockContext(context.Background()); !isOwnerDead(err) {
				t.Fatalf("RLockContext of an inconsistent RWMutex = %v, want ErrOwnerDead", err)
			}
			if err := rw.LockContext(context.Background()); !isOwnerDead(err) {
				t.Fatalf("LockContext of an inconsistent RWMutex = %v, want ErrOwnerDead", err)
			}
			checkNothingHeld(t, rw, "after more refusals")
			if dirty, err := rw.LockRecover(ctx); err != nil || !dirty {
				t.Fatalf("LockRecover of an inconsistent RWMutex = %v, %v; want true, nil", dirty, err)
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
			checkSlotsFree(t, rw, "after recovery")
		})
	}
}

// checkSlotsFree fails unless every reader slot is free, naming the words
// that are not.
func checkSlotsFree(t *testing.T, rw *RWMutex, what string) {
	t.Helper()
	for i := range rw.slots {
		if s := atomic.LoadUint64(&rw.slots[i].v); s != 0 {
			t.Errorf("%s: slot %d = token %#x with %d holds, want free", what, i, uint32(s), s>>32)
		}
	}
}

// deadTokens returns n tokens that no process of this test holds in any
// liveness domain: in a tracked mapping they are dead at once.
func deadTokens(n int) []uint32 {
	toks := make([]uint32, 0, n)
	for tok := uint32(0x5EAD0001); len(toks) < n; tok++ {
		if tok != selfToken {
			toks = append(toks, tok)
		}
	}
	return toks
}

// TestRWMutexDeadHoldersAtFirstLook: tokens that nobody holds, written in
// a MemFile-like mapping tracked by internal/live, are reaped at the
// first look (no second look to confirm): every slot of dead readers for
// a reader that waits for a free one, one for a writer, a dead writer for
// a reader. The same bytes in untracked memory never have a dead owner:
// the waiter times out and leaves them as they were.
func TestRWMutexDeadHoldersAtFirstLook(t *testing.T) {
	dead := deadTokens(rwSlots + 1)
	for _, tc := range []struct {
		name   string
		set    func(rw *RWMutex)
		waiter string
	}{
		{"every slot a dead reader's", func(rw *RWMutex) {
			for i := range rw.slots {
				rw.slots[i].v = uint64(dead[i]) | 3*slotHold
			}
		}, "reader"},
		{"a dead reader", func(rw *RWMutex) {
			rw.slots[5].v = uint64(dead[0]) | slotHold
		}, "writer"},
		{"a dead writer", func(rw *RWMutex) {
			rw.w.state = uint64(dead[rwSlots])<<ownerShift | mutexLocked
			rw.rstate = rwWriter
		}, "reader"},
	} {
		for _, tracked := range []bool{true, false} {
			where := "tracked"
			if !tracked {
				where = "untracked"
			}
			t.Run(tc.name+", "+tc.waiter+" waits, "+where, func(t *testing.T) {
				var rw *RWMutex
				if tracked {
					b, _ := parentMapping(t)
					rw, _ = RWMutexAt(b)
				} else {
					rw = new(RWMutex)
				}
				tc.set(rw)
				before := snapshotIdle(unsafe.Pointer(rw), RWMutexSize, unsafe.Offsetof(rw.rwait))
				lock, unlock := rw.LockContext, rw.Unlock
				if tc.waiter == "reader" {
					lock, unlock = rw.RLockContext, rw.RUnlock
				}
				wait := 200 * time.Millisecond
				if tracked {
					wait = testproc.Scale(5 * time.Second)
				}
				began := time.Now()
				err := lock(timeoutCtx(t, wait))
				took := time.Since(began)
				if !tracked {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("lock beside a dead holder in untracked memory = %v, want a timeout", err)
					}
					if after := snapshotIdle(unsafe.Pointer(rw), RWMutexSize, unsafe.Offsetof(rw.rwait)); string(after) != string(before) {
						t.Fatalf("timed-out waiter changed untracked bytes (but the gate count's epoch):\nbefore % x\nafter  % x", before, after)
					}
					return
				}
				t.Logf("recovered after %v", took)
				if !isOwnerDead(err) {
					t.Fatalf("lock beside a dead holder = %v, want ErrOwnerDead", err)
				}
				_ = unlock
				checkNothingHeld(t, rw, "after the refusal")
				if err := rw.LockContext(context.Background()); !isOwnerDead(err) {
					t.Fatalf("LockContext after recovery = %v, want ErrOwnerDead", err)
				}
				if dirty, err := rw.LockRecover(nil); err != nil || !dirty {
					t.Fatalf("LockRecover = %v, %v; want true, nil", dirty, err)
				}
				rw.MarkConsistent()
				rw.Unlock()
				checkSlotsFree(t, rw, "after recovery")
			})
		}
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

// TestRWMutexHoldsInTwoSlots: when this process holds in two slots (two
// goroutines claimed at once), a hold taken meanwhile joins one of them
// rather than claim a third, and every removal takes from whichever still
// has one: RUnlock and backing out alike, never from a slot without one.
// strays ends where it started.
func TestRWMutexHoldsInTwoSlots(t *testing.T) {
	var rw RWMutex
	next := (slotStart(selfToken) + rwStripes) % rwSlots // the first slot that is not a home slot
	start := strays.Load()
	rw.RLock() // goroutine A, in the first slot
	// Goroutine C claimed the next slot at the same time (takeSlotSlow).
	strays.Add(1)
	atomic.StoreUint64(&rw.slots[next].v, uint64(selfToken)|slotHold)
	rw.RUnlock()                                  // A leaves: the first slot is free
	if i, ok := rw.takeSlot(); !ok || i != next { // goroutine B
		t.Fatalf("takeSlot beside this process's slot %d = %d, %v: want that slot", next, i, ok)
	}
	for j := range rwStripes {
		if h := (slotStart(selfToken) + j) % rwSlots; atomic.LoadUint64(&rw.slots[h].v) != 0 {
			t.Fatalf("takeSlot claimed home slot %d (%#x) although slot %d is this process's", h, rw.slots[h].v, next)
		}
	}
	rw.RUnlock()                             // C leaves
	atomic.StoreUint32(&rw.rstate, rwWriter) // a writer comes
	if !rw.dropSlot(selfSlot()) {            // B backs out, looking at a free home slot first
		t.Fatal("backing out found no hold of this process")
	}
	atomic.StoreUint32(&rw.rstate, 0)
	checkSlotsFree(t, &rw, "all left")
	if got := strays.Load(); got != start {
		t.Errorf("strays = %d after the stray slot emptied, want %d", got, start)
	}
}

// TestRWMutexRUnlockBesideOtherProcess: RUnlock in a process that holds
// nothing panics, even while another process reads in this process's first
// slot, and leaves that process's hold alone.
func TestRWMutexRUnlockBesideOtherProcess(t *testing.T) {
	var rw RWMutex
	other := uint64(collidingToken(t)) | 2*slotHold
	first := slotStart(selfToken)
	atomic.StoreUint64(&rw.slots[first].v, other)
	func() {
		defer func() {
			if s, _ := recover().(string); !strings.Contains(s, "RUnlock of unlocked RWMutex") {
				t.Errorf("RUnlock with no hold recovered %q, want the misuse panic", s)
			}
		}()
		rw.RUnlock()
	}()
	if s := atomic.LoadUint64(&rw.slots[first].v); s != other {
		t.Errorf("RUnlock changed the other process's slot from %#x to %#x", other, s)
	}
	rw.RLock() // beside it, in the next slot
	rw.RUnlock()
	if s := atomic.LoadUint64(&rw.slots[first].v); s != other {
		t.Errorf("RLock and RUnlock changed the other process's slot from %#x to %#x", other, s)
	}
	atomic.StoreUint64(&rw.slots[first].v, 0)
	checkSlotsFree(t, &rw, "all left")
}

// checkNothingHeld fails t unless rw is neither write-locked nor held by
// any reader: a lock call that returned an error must hold nothing.
func checkNothingHeld(t *testing.T, rw *RWMutex, when string) {
	t.Helper()
	st := rw.State()
	if st.WriterIn || len(st.Readers) > 0 || st.Writer.Locked {
		t.Fatalf("%s: RWMutex still held: %+v", when, st)
	}
}

// TestRWMutexKilledReaderWaiter: a child process waits for the read lock
// while the parent holds the write lock, registered in the readers'
// count, and is killed. The parent's Unlock, whose wake-up of the gate
// finds nobody, must drop the count (where the kernel counts wake-ups),
// so that later writers make no wake-up calls for it, and the RWMutex
// must still serve readers that wait.
func TestRWMutexKilledReaderWaiter(t *testing.T) {
	if testproc.Role() == "reader" {
		rw, _ := RWMutexAt(childMapping(t))
		rw.RLock() // until killed
		t.Fatal("the reader got in while the parent held the write lock")
	}
	b, env := parentMapping(t)
	rw, err := RWMutexAt(b)
	if err != nil {
		t.Fatal(err)
	}
	rw.Lock()
	cmds := startChildren(t, 1, "TestRWMutexKilledReaderWaiter", "reader", env)
	deadline := time.Now().Add(testproc.Scale(30 * time.Second))
	for rw.State().ReadersWaiting == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the child never registered as a waiting reader")
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmds[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmds[0].Wait()
	rw.Unlock()
	if got := atomic.LoadUint32(&rw.rwait.word); futex.WakeCounts && got&waitCountMask != 0 {
		t.Fatalf("rwait after the dead reader and an Unlock: %#x, want 0 registrations (recount)", got)
	}
	// A live reader that waits is still counted, woken and served.
	rw.Lock()
	done := make(chan error, 1)
	go func() {
		err := rw.RLockContext(timeoutCtx(t, testproc.Scale(10*time.Second)))
		if err == nil {
			rw.RUnlock()
		}
		done <- err
	}()
	for rw.State().ReadersWaiting == 0 {
		runtime.Gosched()
	}
	rw.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := atomic.LoadUint32(&rw.rwait.word); got&waitCountMask != 0 {
		t.Fatalf("rwait after a live reader came and went: %#x, want 0 registrations", got)
	}
}

// rwTestFlag is where the RWMutex tests keep a flag word and a counter,
// past the RWMutex at the start of their mapping.
const rwTestFlag = RWMutexSize + 64
