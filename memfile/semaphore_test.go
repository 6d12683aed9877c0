package memfile

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/testproc"
)

func TestSemaphoreBasics(t *testing.T) {
	b := make([]byte, SemaphoreSize+8)
	al := int(-uintptr(unsafe.Pointer(&b[0])) % 8)
	s, err := InitSemaphore(b[al:], 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !s.TryAcquire(2) || s.TryAcquire(2) || !s.TryAcquire(1) || s.TryAcquire(1) {
		t.Fatal("TryAcquire does not follow the count")
	}
	s.Release(3)
	if s.Count() != 3 {
		t.Fatalf("count %d after releasing all, want 3", s.Count())
	}
	defer func() {
		if r, _ := recover().(string); !strings.Contains(r, "released more than held") {
			t.Fatalf("over-release panicked with %q", r)
		}
		if s.Count() != 3 {
			t.Fatalf("over-release changed the count to %d", s.Count())
		}
	}()
	s.Release(1)
}

func TestSemaphoreUnbounded(t *testing.T) {
	var s Semaphore
	if s.TryAcquire(1) {
		t.Fatal("zero Semaphore had a unit")
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		s.Release(5)
	}()
	if err := s.Acquire(timeoutCtx(t, testproc.Scale(5*time.Second)), 5); err != nil {
		t.Fatal(err)
	}
	if s.Count() != 0 {
		t.Fatal("count not 0")
	}
}

func TestSemaphoreCancelLeavesUnchanged(t *testing.T) {
	var s Semaphore
	s.Init(10, 2)
	before := semState(&s)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			err := s.Acquire(timeoutCtx(t, time.Duration(10+10*i)*time.Millisecond), 3+int64(i))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Acquire beyond the count = %v", err)
			}
		})
	}
	wg.Wait()
	if after := semState(&s); after != before {
		t.Fatalf("timed-out Acquires changed the state:\n%s\n->\n%s", before, after)
	}
}

// TestSemaphoreProcesses: 4 processes x 3 goroutines share a semaphore of
// 2 units; never more than 2 are inside at once.
func TestSemaphoreProcesses(t *testing.T) {
	const procs, gs, units = 4, 3, 2
	if testproc.Role() == "user" {
		b := childMapping(t)
		s, _ := SemaphoreAt(b)
		inside, total := word(b, 1024), word(b, 1028)
		iters := iterations(t, 2000)
		ctx := testproc.Context(t, 60*time.Second)
		var wg sync.WaitGroup
		for range gs {
			wg.Go(func() {
				for range iters {
					if err := s.Acquire(ctx, 1); err != nil {
						t.Error(err)
						return
					}
					if inside.Add(1) > units {
						t.Error("more holders inside than units")
					}
					total.Add(1)
					inside.Add(^uint32(0))
					s.Release(1)
				}
			})
		}
		wg.Wait()
		return
	}
	b, env := parentMapping(t)
	if _, err := InitSemaphore(b, units, units); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, startChildren(t, procs, "TestSemaphoreProcesses", "user", env))
	if got, want := word(b, 1028).Load(), uint32(procs*gs*iterations(t, 2000)); got != want {
		t.Fatalf("%d acquisitions, want %d", got, want)
	}
}

func TestSemaphoreZeroAllocs(t *testing.T) {
	var s Semaphore
	s.Init(4, 4)
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() {
		s.Acquire(ctx, 2)
		s.TryAcquire(2)
		s.Release(4)
	}); n != 0 {
		t.Fatalf("%v allocations per round", n)
	}
}

// TestSemaphoreHolderKilled: a child process takes both units of a
// semaphore and is SIGKILLed holding them; the parent, already queued
// for them, gets them once the kernel says the child is gone (within
// about one 50 ms wait slice; not asserted, logged), with no help.
func TestSemaphoreHolderKilled(t *testing.T) {
	if testproc.Role() == "holder" {
		b := childMapping(t)
		s, _ := SemaphoreAt(b)
		if err := s.Acquire(testproc.Context(t, 20*time.Second), 2); err != nil {
			t.Fatal(err)
		}
		word(b, 1024).Store(1)
		time.Sleep(testproc.Scale(20 * time.Second)) // killed long before
		return
	}
	b, env := parentMapping(t)
	s, err := InitSemaphore(b, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	cmds := startChildren(t, 1, "TestSemaphoreHolderKilled", "holder", env)
	waitFlag(t, b, 1024, 1)
	if s.Count() != 0 || s.TryAcquire(1) {
		t.Fatalf("the child's units are available while it lives: %s", semState(s))
	}
	killed := make(chan time.Time, 1)
	got := acquireAsync(s, timeoutCtx(t, testproc.Scale(20*time.Second)), 2)
	waitWaiters(t, s, 1)
	killAndReap(t, cmds[0], killed)
	if err := <-got; err != nil {
		t.Fatalf("Acquire of a killed holder's units: %v (%s)", err, semState(s))
	}
	t.Logf("units of the killed holder recovered %v after the kill", time.Since(<-killed))
	if st := semState(s); s.Count() != 0 || s.Waiters() != 0 || s.unowned != 0 {
		t.Fatalf("after the parent took the recovered units: %s", st)
	}
	s.Release(2)
	if _, err := SemaphoreAt(b); err != nil {
		t.Fatalf("SemaphoreAt after the recovery: %v", err)
	}
}

// TestSemaphoreWaiterKilled: a child queued for units is SIGKILLed while
// it waits. The parent's Release still serves the queue in order, so the
// dead child is granted its unit first; the parent's own Acquire of both
// units, queued behind nothing alive, gets them once the dead waiter's
// slot and unit are recovered. Then Recover (what a TryAcquire-only
// program calls) drops a dead queued waiter the same way.
func TestSemaphoreWaiterKilled(t *testing.T) {
	if testproc.Role() == "waiter" {
		s, _ := SemaphoreAt(childMapping(t))
		s.Acquire(nil, 1) // until killed
		t.Fatal("the waiter got a unit the parent never released")
	}
	b, env := parentMapping(t)
	s, err := InitSemaphore(b, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := timeoutCtx(t, testproc.Scale(20*time.Second))
	if err := s.Acquire(ctx, 2); err != nil {
		t.Fatal(err)
	}
	cmds := startChildren(t, 1, "TestSemaphoreWaiterKilled", "waiter", env)
	waitWaiters(t, s, 1)
	if err := cmds[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmds[0].Wait()
	s.Release(2) // grants the dead child's slot its unit: it is the oldest
	if s.Count() != 1 || s.Waiters() != 0 {
		t.Fatalf("Release with a dead waiter at the head: %s", semState(s))
	}
	if err := s.Acquire(ctx, 2); err != nil {
		t.Fatalf("Acquire(2) behind a killed waiter: %v (%s)", err, semState(s))
	}
	if st := semState(s); s.Count() != 0 || s.Waiters() != 0 || s.slots != [semSlots]semSlot{} {
		t.Fatalf("the dead waiter's slot or unit left behind: %s", st)
	}

	// Killed while queued, nobody waiting after it: Recover drops it.
	cmds = startChildren(t, 1, "TestSemaphoreWaiterKilled", "waiter", env)
	waitWaiters(t, s, 1)
	if err := cmds[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmds[0].Wait()
	if s.TryAcquire(0) {
		t.Fatal("TryAcquire succeeded with a (dead) waiter queued")
	}
	if _, err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Waiters() != 0 || !s.TryAcquire(0) {
		t.Fatalf("Recover left the dead waiter queued: %s", semState(s))
	}
	s.Release(2)
	if s.Count() != 2 {
		t.Fatalf("after the last release: %s", semState(s))
	}
}
