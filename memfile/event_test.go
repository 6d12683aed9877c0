package memfile

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/internal/testproc"
)

func TestEventBasics(t *testing.T) {
	var e Event
	if e.Kind() != AutoReset || e.IsSet() || e.TryWait() {
		t.Fatal("zero Event is not an auto-reset event that is not set")
	}
	e.Set()
	e.Set()
	if !e.TryWait() || e.TryWait() {
		t.Fatal("two Sets of an auto-reset event did not release exactly one TryWait")
	}
	e.Init(ManualReset)
	if e.Kind() != ManualReset {
		t.Fatal("Init(ManualReset) did not stick")
	}
	e.Set()
	for range 3 {
		if err := e.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	e.Reset()
	if e.IsSet() {
		t.Fatal("Reset left the event set")
	}
	if _, err := InitEvent(make([]byte, EventSize-1), ManualReset); err == nil {
		t.Fatal("InitEvent accepted a short slice")
	}
}

// eventWaiters starts n goroutines waiting on e and returns a counter of
// those that returned.
func eventWaiters(t *testing.T, e *Event, n int) (*atomic.Int32, *sync.WaitGroup) {
	var done atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := e.Wait(timeoutCtx(t, testproc.Scale(10*time.Second))); err != nil {
				t.Error(err)
			}
			done.Add(1)
		})
	}
	for e.waiters.n() != uint32(n) {
		time.Sleep(time.Millisecond)
	}
	return &done, &wg
}

// waitUntilCount waits until c reaches want, or fails.
func waitUntilCount(t *testing.T, load func() int32, want int32) {
	t.Helper()
	deadline := time.Now().Add(testproc.Scale(10 * time.Second))
	for load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("count %d, want %d", load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestEventAutoResetWakesOne(t *testing.T) {
	var e Event
	done, wg := eventWaiters(t, &e, 4)
	for i := int32(1); i <= 4; i++ {
		e.Set()
		waitUntilCount(t, done.Load, i)
		time.Sleep(20 * time.Millisecond) // time for a wrong second wake-up
		if got := done.Load(); got != i {
			t.Fatalf("after %d Sets, %d waiters returned", i, got)
		}
	}
	wg.Wait()
}

func TestEventManualResetWakesAll(t *testing.T) {
	var e Event
	e.Init(ManualReset)
	done, wg := eventWaiters(t, &e, 4)
	e.Set()
	wg.Wait()
	if done.Load() != 4 {
		t.Fatal("not every waiter returned")
	}
}

func TestEventCancelLeavesUnchanged(t *testing.T) {
	for _, kind := range []EventKind{AutoReset, ManualReset} {
		var e Event
		e.Init(kind)
		before := snapshotIdle(unsafe.Pointer(&e), EventSize, unsafe.Offsetof(e.waiters))
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				if err := e.Wait(timeoutCtx(t, time.Duration(10+10*i)*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Wait on an event never set = %v", err)
				}
			})
		}
		wg.Wait()
		if after := snapshotIdle(unsafe.Pointer(&e), EventSize, unsafe.Offsetof(e.waiters)); string(after) != string(before) {
			t.Fatalf("%v: timed-out waits changed the bytes (but a waiter count's epoch) % x -> % x", kind, before, after)
		}
	}
}

// TestEventProcesses: 3 child processes wait on an auto-reset event, and
// each Set releases exactly one; then on a manual-reset one, where one Set
// releases all.
func TestEventProcesses(t *testing.T) {
	const n = 3
	if testproc.Role() == "waiter" {
		b := childMapping(t)
		auto, _ := EventAt(b[0:])
		manual, _ := EventAt(b[64:])
		ctx := testproc.Context(t, 20*time.Second)
		if err := auto.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		word(b, 256).Add(1)
		if err := manual.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		word(b, 260).Add(1)
		return
	}
	b, env := parentMapping(t)
	auto, _ := EventAt(b[0:])
	manual, _ := InitEvent(b[64:], ManualReset)
	cmds := startChildren(t, n, "TestEventProcesses", "waiter", env)
	load := func(off int) func() int32 { return func() int32 { return int32(word(b, off).Load()) } }
	waitUntilCount(t, func() int32 { return int32(auto.waiters.n()) }, n)
	for i := int32(1); i <= n; i++ {
		auto.Set()
		waitUntilCount(t, load(256), i)
		time.Sleep(testproc.Scale(30 * time.Millisecond))
		if got := load(256)(); got != i {
			t.Fatalf("after %d Sets, %d processes were released", i, got)
		}
	}
	waitUntilCount(t, func() int32 { return int32(manual.waiters.n()) }, n)
	manual.Set()
	waitUntilCount(t, load(260), n)
	waitChildren(t, cmds)
}

func TestEventZeroAllocs(t *testing.T) {
	var e Event
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() {
		e.Set()
		e.Wait(ctx)
		e.Set()
		e.TryWait()
		e.Reset()
	}); n != 0 {
		t.Fatalf("%v allocations per round", n)
	}
}

// TestEventKilledWaiter: a child process waits on an auto-reset Event and
// is killed while it sleeps. Its registration stays in the waiter count
// until the parent's Set, whose wake-up finds nobody and drops it (where
// the kernel counts wake-ups); the Set is not lost, and a live waiter
// that comes later is counted, woken and served.
func TestEventKilledWaiter(t *testing.T) {
	if testproc.Role() == "waiter" {
		e, _ := EventAt(childMapping(t))
		e.Wait(nil) // until killed
		t.Fatal("the waiter returned from an Event nobody set")
	}
	b, env := parentMapping(t)
	e, err := EventAt(b)
	if err != nil {
		t.Fatal(err)
	}
	cmds := startChildren(t, 1, "TestEventKilledWaiter", "waiter", env)
	until(t, "the child waiting", func() bool { return e.waiters.n() == 1 })
	if err := cmds[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmds[0].Wait()
	e.Set()
	if futex.WakeCounts && futex.Parks() {
		// A wait parked through io_uring is torn down with its ring, which
		// the kernel closes in a work queue after the process is reaped:
		// a Set in that window wakes the dying request and counts it. The
		// next Set whose wake-up finds nobody drops the registration.
		until(t, "the recount after the ring's teardown", func() bool {
			e.Set()
			return e.waiters.n() == 0
		})
	}
	if n := e.waiters.n(); futex.WakeCounts && n != 0 {
		t.Fatalf("waiters after a Set that found nobody: %d, want 0 (recount)", n)
	}
	if !e.TryWait() {
		t.Fatal("the Set was lost")
	}
	done := make(chan error, 1)
	go func() { done <- e.Wait(timeoutCtx(t, testproc.Scale(10*time.Second))) }()
	until(t, "a live waiter", func() bool { return e.waiters.n() == 1 })
	e.Set()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w := atomic.LoadUint32(&e.waiters.word); w&waitCountMask != 0 {
		t.Fatalf("waiter count after a live waiter came and went: %#x, want 0 registrations", w)
	}
}
