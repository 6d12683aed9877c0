package memfile

import (
	"context"
	"errors"
	"os/exec"
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

func TestMutexAt(t *testing.T) {
	b := make([]byte, 64+8)
	if _, err := MutexAt(b[:MutexSize-1]); err == nil {
		t.Error("MutexAt accepted a short slice")
	}
	al := int(-uintptr(unsafe.Pointer(&b[0])) % 8) // first 8-aligned offset
	if _, err := MutexAt(b[al+4:]); err == nil {
		t.Error("MutexAt accepted a misaligned slice")
	}
	m, err := MutexAt(b[al:])
	if err != nil {
		t.Fatal(err)
	}
	m.Lock()
	m.Unlock()
}

func TestMutexBasics(t *testing.T) {
	var m Mutex
	if !m.TryLock() {
		t.Fatal("TryLock of a zero Mutex failed")
	}
	if m.TryLock() {
		t.Fatal("TryLock of a locked Mutex succeeded")
	}
	m.Unlock()
	m.Lock()
	m.Unlock()
	if err := m.LockContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Unlock()
	if m != (Mutex{}) {
		t.Fatalf("state after unlock = %#x, want 0", m.state)
	}
}

func TestMutexUnlockUnlockedPanics(t *testing.T) {
	var m Mutex
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.Contains(s, "unlock of unlocked mutex") {
			t.Fatalf("recovered %v, want a panic saying unlock of unlocked mutex", r)
		}
	}()
	m.Unlock()
}

// TestMutexGoroutines hammers one Mutex from many goroutines of one
// process, guarding a plain counter.
func TestMutexGoroutines(t *testing.T) {
	var m Mutex
	var n int
	const g = 8
	iters := iterations(t, 20000)
	var wg sync.WaitGroup
	for range g {
		wg.Go(func() {
			for i := range iters {
				switch i % 3 {
				case 0:
					m.Lock()
				case 1:
					for !m.TryLock() {
						runtime.Gosched()
					}
				case 2:
					if err := m.LockContext(context.Background()); err != nil {
						t.Error(err)
						return
					}
				}
				n++
				m.Unlock()
			}
		})
	}
	wg.Wait()
	if n != g*iters {
		t.Fatalf("counter = %d, want %d", n, g*iters)
	}
	if s := m.load(); s != 0 {
		t.Fatalf("state after all unlocked = %#x, want 0", s)
	}
}

// TestMutexProcesses: 4 processes x 4 goroutines increment a plain
// counter in shared memory under the Mutex; the total must be exact.
func TestMutexProcesses(t *testing.T) {
	const procs, gs = 4, 4
	if testproc.Role() == "inc" {
		b := childMapping(t)
		m, _ := MutexAt(b)
		c := counter(b, 64)
		iters := iterations(t, 10000)
		var wg sync.WaitGroup
		for range gs {
			wg.Go(func() {
				for range iters {
					m.Lock()
					*c++
					m.Unlock()
				}
			})
		}
		wg.Wait()
		return
	}
	b, env := parentMapping(t)
	m, _ := MutexAt(b)
	waitChildren(t, startChildren(t, procs, "TestMutexProcesses", "inc", env))
	want := uint64(procs * gs * iterations(t, 10000))
	if got := *counter(b, 64); got != want {
		t.Fatalf("counter = %d, want %d", got, want)
	}
	if s := m.load(); s != 0 {
		t.Fatalf("state after all unlocked = %#x, want 0", s)
	}
}

// TestMutexCancelLeavesUnchanged: waits that time out or are cancelled
// leave the Mutex bytes exactly as they were.
func TestMutexCancelLeavesUnchanged(t *testing.T) {
	var m Mutex
	m.Lock()
	before := snapshot(unsafe.Pointer(&m), MutexSize)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = m.LockContext(timeoutCtx(t, time.Duration(5+i)*time.Millisecond*5))
			} else {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(time.Duration(i)*10*time.Millisecond, cancel)
				err = m.LockContext(ctx)
			}
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Errorf("LockContext of a held Mutex = %v", err)
			}
		})
	}
	wg.Wait()
	if after := snapshot(unsafe.Pointer(&m), MutexSize); string(after) != string(before) {
		t.Fatalf("bytes after cancelled waits % x, before % x", after, before)
	}
	m.Unlock()
}

// TestMutexOwnerDeath: a child locks and is killed; the parent, already
// waiting, gets ErrOwnerDead without the lock; Lock panics holding
// nothing; LockRecover takes it and reports it; not marking consistent
// tells the next locker again; MarkConsistent ends it.
func TestMutexOwnerDeath(t *testing.T) {
	if testproc.Role() == "holder" {
		b := childMapping(t)
		m, _ := MutexAt(b)
		m.Lock()
		word(b, 128).Store(1)
		time.Sleep(testproc.Scale(20 * time.Second)) // killed long before
		return
	}
	b, env := parentMapping(t)
	m, _ := MutexAt(b)
	cmds := startChildren(t, 1, "TestMutexOwnerDeath", "holder", env)
	waitFlag(t, b, 128, 1)
	done := make(chan error, 1)
	var took time.Duration
	killed := make(chan time.Time, 1)
	go func() {
		err := m.LockContext(timeoutCtx(t, testproc.Scale(5*time.Second)))
		took = time.Since(<-killed)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the waiter sleep first
	killAndReap(t, cmds[0], killed)
	err := <-done
	t.Logf("dead owner noticed %v after the kill", took)
	if !isOwnerDead(err) {
		t.Fatalf("LockContext after the owner died = %v, want ErrOwnerDead", err)
	}
	// The refusal gave the lock back: the idiomatic "return err" leaks
	// nothing. The mark stays.
	if st := m.State(); st.Locked || !st.Inconsistent {
		t.Fatalf("after LockContext refused: state %+v, want unlocked and inconsistent", st)
	}
	if m.TryLock() {
		t.Fatal("TryLock succeeded on an inconsistent Mutex")
	}
	func() {
		defer func() {
			if r, _ := recover().(error); !isOwnerDead(r) {
				t.Errorf("Lock of an inconsistent Mutex panicked with %v, want ErrOwnerDead", r)
			}
		}()
		m.Lock()
	}()
	if st := m.State(); st.Locked {
		t.Fatalf("Lock panicked with the lock held: state %+v", st)
	}
	dirty, err := m.LockRecover(nil)
	if err != nil || !dirty {
		t.Fatalf("LockRecover = %v, %v; want true, nil", dirty, err)
	}
	m.Unlock() // without MarkConsistent: the mark stays
	if err := m.LockContext(context.Background()); !isOwnerDead(err) {
		t.Fatalf("LockContext after unlocking without MarkConsistent = %v, want ErrOwnerDead", err)
	}
	if dirty, err := m.LockRecover(context.Background()); err != nil || !dirty {
		t.Fatalf("second LockRecover = %v, %v; want true, nil", dirty, err)
	}
	m.MarkConsistent()
	m.Unlock()
	if err := m.LockContext(context.Background()); err != nil {
		t.Fatalf("LockContext after MarkConsistent = %v", err)
	}
	m.Unlock()
	if dirty, err := m.LockRecover(context.Background()); err != nil || dirty {
		t.Fatalf("LockRecover of a consistent Mutex = %v, %v; want false, nil", dirty, err)
	}
	m.Unlock()
}

// killAndReap kills a child and reports when; it is reaped later, so that
// the dead owner is first seen as a zombie, the harder case.
func killAndReap(t *testing.T, c *exec.Cmd, killed chan<- time.Time) {
	t.Helper()
	if err := c.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed <- time.Now()
	t.Cleanup(func() { c.Wait() })
}

func TestMutexZeroAllocs(t *testing.T) {
	var m Mutex
	ctx := context.Background()
	n := testing.AllocsPerRun(1000, func() {
		m.Lock()
		m.Unlock()
		m.TryLock()
		m.Unlock()
		m.LockContext(ctx)
		m.Unlock()
	})
	if n != 0 {
		t.Fatalf("%v allocations per Lock/Unlock round", n)
	}
	// The slow paths too: a waiter that times out.
	m.Lock()
	tctx := timeoutCtx(t, time.Hour)
	short, cancel := context.WithTimeout(tctx, time.Millisecond)
	defer cancel()
	if n := testing.AllocsPerRun(1, func() { m.LockContext(short) }); n != 0 {
		t.Errorf("%v allocations per timed-out LockContext", n)
	}
	m.Unlock()
}

// TestMutexInlines checks that the fast paths inline, as sync.Mutex's do.
func TestMutexInlines(t *testing.T) {
	checkInlines(t, "(*Mutex).Lock", "(*Mutex).Unlock", "(*Mutex).TryLock")
}

// checkInlines builds this package with -gcflags=-m and checks that the
// compiler reports "can inline" for each function.
func checkInlines(t *testing.T, funcs ...string) {
	if testproc.IsEmulated() || testing.Short() {
		t.Skip("needs the go command and a native build")
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		// 32-bit platforms have no intrinsic 64-bit atomics.
		t.Skipf("fast paths inline on amd64 and arm64, not %s", runtime.GOARCH)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goBin, "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	for _, f := range funcs {
		if !strings.Contains(string(out)+"\n", "can inline "+f+"\n") && !strings.Contains(string(out), "can inline "+f+" ") {
			t.Errorf("%s does not inline", f)
		}
	}
}

// TestMutexFairness: a goroutine that relocks as soon as it unlocks must
// not keep a waiter out: after about 1 ms the Mutex turns fair.
func TestMutexFairness(t *testing.T) {
	var m Mutex
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				m.Lock()
				for t0 := time.Now(); time.Since(t0) < 200*time.Microsecond; {
				}
				m.Unlock()
			}
		})
	}
	defer wg.Wait()
	defer stop.Store(true)
	time.Sleep(time.Millisecond)
	for i := range 5 {
		t0 := time.Now()
		if err := m.LockContext(timeoutCtx(t, testproc.Scale(10*time.Second))); err != nil {
			t.Fatalf("waiter %d kept out by relocking goroutines: %v", i, err)
		}
		t.Logf("waiter %d got the lock after %v", i, time.Since(t0))
		m.Unlock()
	}
}

// TestMutexDeadWaiter: a process killed while blocked in Lock leaves its
// waiter count behind; the Mutex must keep working for everybody else,
// with no ErrOwnerDead (the owner did not die).
func TestMutexDeadWaiter(t *testing.T) {
	if testproc.Role() == "waiter" {
		b := childMapping(t)
		m, _ := MutexAt(b)
		m.LockContext(testproc.Context(t, 20*time.Second)) // killed long before
		return
	}
	b, env := parentMapping(t)
	m, _ := MutexAt(b)
	m.Lock()
	cmds := startChildren(t, 1, "TestMutexDeadWaiter", "waiter", env)
	deadline := time.Now().Add(testproc.Scale(20 * time.Second))
	for waiters(m.load()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("child never registered as a waiter")
		}
		time.Sleep(time.Millisecond)
	}
	killAndReap(t, cmds[0], make(chan time.Time, 1))
	m.Unlock()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				if err := m.LockContext(timeoutCtx(t, testproc.Scale(10*time.Second))); err != nil {
					t.Error(err)
					return
				}
				m.Unlock()
			}
		})
	}
	wg.Wait()
	if m.load()&mutexLocked != 0 {
		t.Fatal("Mutex still locked")
	}
}

// TestMutexDeadWaiterRecount: a waiter killed while it waited leaves
// its registration in the count. The Unlock that then wakes for it finds
// nobody asleep and must drop the count (the recount), so that the state
// word is 0 again and later Locks and Unlocks take their fast paths (no
// system call), while a real waiter that comes later is still counted,
// woken and served.
func TestMutexDeadWaiterRecount(t *testing.T) {
	if !futex.WakeCounts {
		t.Skip("this OS does not count wake-ups: the count stays (documented on recount)")
	}
	mem, _ := parentMapping(t)
	m, err := MutexAt(mem)
	if err != nil {
		t.Fatal(err)
	}
	m.Lock()
	// The registration of a waiter that died: the first of its epoch.
	atomic.StoreUint64(&m.state, m.register(m.load()))
	if st := m.load(); waiters(st) != 1 || epochOf(st) == 0 {
		t.Fatalf("state with one dead waiter: %#x", st)
	}
	m.Unlock()
	if st := m.load(); st != 0 {
		t.Fatalf("state after the Unlock that found nobody asleep: %#x, want 0 (count dropped, no woken flag)", st)
	}
	if r := atomic.LoadUint32(&m.recounts); r != 1 {
		t.Fatalf("recounts = %d, want 1", r)
	}
	// A real waiter now: Lock from another goroutine sleeps, and an
	// Unlock must wake it; afterwards the word is all zeros.
	m.Lock()
	done := make(chan struct{})
	go func() { m.Lock(); m.Unlock(); close(done) }()
	for waiters(m.load()) < 1 {
		runtime.Gosched()
	}
	if e := epochOf(m.load()); e != 2 {
		t.Fatalf("epoch after the recount: %d, want 2 (fresh)", e)
	}
	m.Unlock()
	<-done
	if st := m.load(); st != 0 {
		t.Fatalf("state after a real waiter came and went: %#x, want 0", st)
	}
}

// TestMutexGarbageCount replays what FuzzMutexState found
// (testdata/fuzz/FuzzMutexState/6d08854e0770f267): a state word left with
// waiters but no epoch, which only garbage holds. A waiter registering
// into it used to keep epoch 0, so the recount that zeroed the count did
// not drop it, and its unregistration then took 1 from an empty count,
// borrowing from the owner token: the holder's own lock named another
// process. Now such a registration starts a fresh epoch, and a
// registration is never taken from a count of 0.
func TestMutexGarbageCount(t *testing.T) {
	mem, _ := parentMapping(t)
	m, err := MutexAt(mem)
	if err != nil {
		t.Fatal(err)
	}
	for _, garbage := range []uint64{
		0x16000 << mutexWaiterShift,                            // waiters, epoch 0
		0x7 << mutexEpochShift,                                 // epoch 7, no waiter
		0x16000<<mutexWaiterShift | mutexWoken | mutexStarving, // and flags
	} {
		atomic.StoreUint64(&m.state, garbage|lockedBySelf())
		w := waiter{}
		old := m.load()
		nw := m.register(old)
		if !m.cas(old, nw) {
			t.Fatal("CAS of a quiet word failed")
		}
		w.registered, w.epoch = true, epochOf(nw)
		if waiters(nw) != 1 || w.epoch == 0 {
			t.Fatalf("registration into garbage %#x: state %#x, want 1 waiter in a fresh epoch", garbage, nw)
		}
		// The recount an Unlock makes when its wake-up finds nobody.
		atomic.StoreUint64(&m.state, m.load()|mutexWoken)
		m.recount()
		m.unregister(&w)
		if st := m.load(); st != lockedBySelf() {
			t.Fatalf("garbage %#x: after register, recount and unregister the state is %#x, want %#x (locked by this process, nobody counted)", garbage, st, lockedBySelf())
		}
		m.Unlock()
	}
}

// TestMutexDeadAwakeWaiter: a waiter killed while awake leaves the woken
// flag beside its registration, so no Unlock wakes for it; one Unlock in
// wokenProbe that finds the flag wakes anyway, finds nobody, and drops
// both (recount): the state word is 0 again after at most wokenProbe
// Lock/Unlock pairs.
func TestMutexDeadAwakeWaiter(t *testing.T) {
	if !futex.WakeCounts {
		t.Skip("this OS does not count wake-ups: the count stays (documented on recount)")
	}
	var m Mutex
	atomic.StoreUint64(&m.state, m.register(0)|mutexWoken)
	pairs := 0
	for m.load() != 0 {
		if pairs > int(wokenProbe) {
			t.Fatalf("state %#x after %d Lock/Unlock pairs, want 0 within %d", m.load(), pairs, wokenProbe)
		}
		m.Lock()
		m.Unlock()
		pairs++
	}
	t.Logf("healed after %d Lock/Unlock pairs", pairs)
}

// TestMutexKilledWaiter: a child process waits for the Mutex the parent
// holds and is killed while it waits. Its registration stays in the
// count (nothing can tell whose it was) until the parent's Unlock, whose
// wake-up finds nobody, drops it (where the kernel counts wake-ups), and
// the Mutex must still exclude and hand over between processes.
func TestMutexKilledWaiter(t *testing.T) {
	if testproc.Role() == "waiter" {
		m, _ := MutexAt(childMapping(t))
		m.Lock() // until killed
		t.Fatal("the waiter got the lock the parent never released")
	}
	b, env := parentMapping(t)
	m, err := MutexAt(b)
	if err != nil {
		t.Fatal(err)
	}
	m.Lock()
	cmds := startChildren(t, 1, "TestMutexKilledWaiter", "waiter", env)
	deadline := time.Now().Add(testproc.Scale(30 * time.Second))
	for waiters(m.load()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the child never registered as a waiter")
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmds[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmds[0].Wait()
	m.Unlock()
	st := m.State()
	if futex.WakeCounts && st != (MutexState{}) {
		t.Fatalf("after the waiter died and an Unlock: %+v, want the count dropped (recount) and the lock free", st)
	}
	if !futex.WakeCounts && (st.Waiters != 1 || st.Locked) {
		t.Fatalf("after the waiter died: %+v, want its registration left and the lock free", st)
	}
	// Still a working lock across processes, dead registration and all:
	// two TestMutexProcesses children increment the counter under it.
	waitChildren(t, startChildren(t, 2, "TestMutexProcesses", "inc", env))
	if got, want := *counter(b, 64), uint64(2*4*iterations(t, 10000)); got != want {
		t.Fatalf("counter = %d, want %d", got, want)
	}
}
