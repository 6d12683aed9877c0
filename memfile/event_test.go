package memfile

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

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
	for atomic.LoadUint32(&e.waiters) != uint32(n) {
		time.Sleep(time.Millisecond)
	}
	return &done, &wg
}

// waitCount waits until c reaches want, or fails.
func waitCount(t *testing.T, load func() int32, want int32) {
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
		waitCount(t, done.Load, i)
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
		before := snapshot(unsafe.Pointer(&e), EventSize)
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				if err := e.Wait(timeoutCtx(t, time.Duration(10+10*i)*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Wait on an event never set = %v", err)
				}
			})
		}
		wg.Wait()
		if after := snapshot(unsafe.Pointer(&e), EventSize); string(after) != string(before) {
			t.Fatalf("%v: timed-out waits changed the bytes % x -> % x", kind, before, after)
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
	waitCount(t, func() int32 { return int32(atomic.LoadUint32(&auto.waiters)) }, n)
	for i := int32(1); i <= n; i++ {
		auto.Set()
		waitCount(t, load(256), i)
		time.Sleep(testproc.Scale(30 * time.Millisecond))
		if got := load(256)(); got != i {
			t.Fatalf("after %d Sets, %d processes were released", i, got)
		}
	}
	waitCount(t, func() int32 { return int32(atomic.LoadUint32(&manual.waiters)) }, n)
	manual.Set()
	waitCount(t, load(260), n)
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
