package futex_test

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/internal/testproc"
)

// Tests of the Windows waiter queues (queue_windows.go), bug 6 of "Prove
// the shared-memory protocols": a wake-up released for one waiter could
// be taken by another, and Wakes nobody waited for were banked.

// testWords returns a process-local and a registered shared word.
func testWords(t *testing.T, off int) map[string]*uint32 {
	mem, _ := newShared(t)
	return map[string]*uint32{"heap": new(uint32), "shared": word(mem, off)}
}

// TestWakeNotStolen: waiter A is queued and has re-checked the word but
// is not asleep yet (the window in which the old semaphore path lost A's
// wake-up); a Wake(1) comes; then B, who started waiting after the Wake,
// must not take it: B times out, and A's sleep returns at once. On the
// old code the released count went to whoever waited on the semaphore
// first, B, and A slept until its slice ended.
func TestWakeNotStolen(t *testing.T) {
	for name, w := range testWords(t, 0) {
		t.Run(name, func(t *testing.T) {
			a := futex.Enqueue(w)
			if a == nil {
				t.Fatal("no room in an empty table")
			}
			if n, err := futex.Wake(w, 1); n != 1 || err != nil {
				t.Fatalf("Wake(1) with A queued = %d, %v; want 1, nil", n, err)
			}
			if !a.Woken() {
				t.Fatal("A is not marked woken after the Wake")
			}
			if err := futex.Wait(w, 0, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("B, who came after the Wake: Wait = %v, want a timeout (the wake-up was A's)", err)
			}
			start := time.Now()
			if err := a.Sleep(w, 0, testproc.Scale(30*time.Second)); err != nil {
				t.Fatalf("A: Sleep = %v, want nil (woken)", err)
			}
			if d := time.Since(start); d > testproc.Scale(10*time.Second) {
				t.Fatalf("A woke after %v", d)
			}
			if n := futex.ClaimedSlots(w); n != 0 {
				t.Fatalf("%d slots still claimed after both waiters left", n)
			}
		})
	}
}

// TestWakeNotStolenProcesses is TestWakeNotStolen across processes,
// with the waker as the later waiter: waiter A, in a child, is queued
// and has checked the word but is not asleep; the parent's Wake(1)
// counts 1, and the parent's own Wait on the same word right after it
// must not take A's wake-up (it times out); then A sleeps and must
// return at once, woken (the word never changes, and the slices are
// off, so nothing else could end A's sleep).
func TestWakeNotStolenProcesses(t *testing.T) {
	noSlices(t)
	if testproc.Role() == "A" {
		mem := childShared(t)
		w, queued, goOn := word(mem, 0), word(mem, 64), word(mem, 128)
		a := futex.Enqueue(w)
		if a == nil || load(w) != 0 {
			t.Fatal("child: cannot queue")
		}
		atomic.StoreUint32(queued, 1)
		for load(goOn) == 0 {
			time.Sleep(time.Millisecond)
		}
		if err := a.Sleep(w, 0, testproc.Scale(30*time.Second)); err != nil {
			t.Fatalf("child A: Sleep = %v, want nil (woken)", err)
		}
		return
	}
	mem, env := newShared(t)
	w, queued, goOn := word(mem, 0), word(mem, 64), word(mem, 128)
	cmd := testproc.Command(t, "TestWakeNotStolenProcesses", "A", env)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A queued", 30*time.Second, func() bool { return load(queued) == 1 })
	if got := futex.QueuedPids(w); !slices.Equal(got, []uint32{uint32(cmd.Process.Pid)}) {
		t.Fatalf("queued: %v, want A (%d) alone", got, cmd.Process.Pid)
	}
	if n, err := futex.Wake(w, 1); n != 1 || err != nil {
		t.Fatalf("Wake(1) with A queued = %d, %v; want 1, nil", n, err)
	}
	if err := futex.Wait(w, 0, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the waker's own Wait after its Wake = %v, want a timeout (the wake-up was A's)", err)
	}
	atomic.StoreUint32(goOn, 1)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child A: %v", err)
	}
}

// TestWakeOldestFirst: waiters queued one after the other are woken by
// Wake(1) in the order they came, one per Wake.
func TestWakeOldestFirst(t *testing.T) {
	const k = 4
	for name, w := range testWords(t, 64) {
		t.Run(name, func(t *testing.T) {
			order := make(chan int, k)
			for i := range k {
				go func() {
					if err := futex.Wait(w, 0, testproc.Scale(30*time.Second)); err != nil {
						t.Errorf("waiter %d: %v", i, err)
					}
					order <- i
				}()
				waitFor(t, "waiter "+strconv.Itoa(i)+" queued", 30*time.Second, func() bool { return futex.Queued(w) == i+1 })
			}
			for i := range k {
				if n, err := futex.Wake(w, 1); n != 1 || err != nil {
					t.Fatalf("Wake %d = %d, %v; want 1, nil", i, n, err)
				}
				if got := <-order; got != i {
					t.Fatalf("Wake %d woke waiter %d, want %d (the oldest)", i, got, i)
				}
			}
		})
	}
}

// TestWakeCountExactProcesses: 3 waiters in this process and 2 in a
// child, all queued on one shared word that never changes. Wake returns
// exactly how many it woke: 2 of 5, then the remaining 3 of an asked 10,
// then 0.
func TestWakeCountExactProcesses(t *testing.T) {
	if testproc.Role() == "child" {
		mem := childShared(t)
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- futex.Wait(word(mem, 0), 0, testproc.Scale(30*time.Second)) }()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Errorf("child: Wait = %v, want nil (woken)", err)
			}
		}
		return
	}
	mem, env := newShared(t)
	w := word(mem, 0)
	cmd := testproc.Command(t, "TestWakeCountExactProcesses", "child", env)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child's 2 waiters queued", 30*time.Second, func() bool { return futex.Queued(w) == 2 })
	var returned atomic.Int32
	for range 3 {
		go func() {
			if err := futex.Wait(w, 0, testproc.Scale(30*time.Second)); err != nil {
				t.Errorf("Wait = %v, want nil (woken)", err)
			}
			returned.Add(1)
		}()
	}
	waitFor(t, "5 waiters queued", 30*time.Second, func() bool { return futex.Queued(w) == 5 })
	if n, err := futex.Wake(w, 2); n != 2 || err != nil {
		t.Fatalf("Wake(2) of 5 = %d, %v; want 2", n, err)
	}
	// The two oldest were the child's: its process ends.
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if n := futex.Queued(w); n != 3 {
		t.Fatalf("%d queued after Wake(2) of 5, want 3", n)
	}
	if n, err := futex.Wake(w, 10); n != 3 || err != nil {
		t.Fatalf("Wake(10) of 3 = %d, %v; want 3", n, err)
	}
	waitFor(t, "3 waiters returned", 30*time.Second, func() bool { return returned.Load() == 3 })
	if n, err := futex.WakeAll(w); n != 0 || err != nil {
		t.Fatalf("WakeAll with nobody = %d, %v; want 0", n, err)
	}
}

// TestKilledWaiterAbsorbsNothing: a child queued on a shared word is
// killed. A live waiter queued after it must get the next Wake(1), which
// must count 1, and the dead waiter's slot must be freed; a Wake that
// finds only dead waiters counts 0.
func TestKilledWaiterAbsorbsNothing(t *testing.T) {
	if role := testproc.Role(); role != "" {
		off, _ := strconv.Atoi(role)
		futex.Wait(word(childShared(t), off), 0, testproc.Scale(60*time.Second))
		t.Fatal("the sleeper woke up")
	}
	mem, env := newShared(t)
	w, w2 := word(mem, 0), word(mem, 64)
	kill := func(w *uint32) {
		t.Helper()
		off := strconv.Itoa(int(uintptr(unsafe.Pointer(w)) - uintptr(unsafe.Pointer(&mem[0]))))
		cmd := testproc.Command(t, "TestKilledWaiterAbsorbsNothing", off, env)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := uint32(cmd.Process.Pid)
		waitFor(t, "the sleeper queued", 30*time.Second, func() bool { return slices.Contains(futex.QueuedPids(w), pid) })
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if got := futex.QueuedPids(w); !slices.Equal(got, []uint32{pid}) {
			t.Fatalf("queued after the kill: %v, want the dead sleeper %d alone", got, pid)
		}
	}
	kill(w)
	done := make(chan error, 1)
	go func() { done <- futex.Wait(w, 0, testproc.Scale(30*time.Second)) }()
	waitFor(t, "the live waiter queued after the dead one", 30*time.Second, func() bool { return futex.Queued(w) == 2 })
	if n, err := futex.Wake(w, 1); n != 1 || err != nil {
		t.Fatalf("Wake(1) = %d, %v; want 1", n, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the live waiter: Wait = %v, want nil (woken: the dead one took the wake-up)", err)
	}
	if n := futex.ClaimedSlots(w); n != 0 {
		t.Fatalf("%d slots claimed after the Wake, want 0 (the dead sleeper's freed)", n)
	}
	kill(w2)
	if n, err := futex.Wake(w2, 1); n != 0 || err != nil {
		t.Fatalf("Wake(1) with only a dead waiter = %d, %v; want 0", n, err)
	}
	if n := futex.ClaimedSlots(w2); n != 0 {
		t.Fatalf("%d slots claimed, want 0 (the dead sleeper's freed)", n)
	}
}

// noSlices makes queued waiters sleep without re-checking their word
// (as if the safety-net slices were not there), for this process until
// the test ends: a wake-up that is lost or taken by the wrong waiter
// then shows as a Wait that reaches its deadline.
func noSlices(t *testing.T) {
	old := futex.SetQueueSlice(time.Hour)
	t.Cleanup(func() { futex.SetQueueSlice(old) })
}

// TestPingPongExactProcesses passes a counter back and forth through one
// shared word between two processes, each side storing, waking and at
// once waiting for the answer on the same word, with the safety-net
// slices off in both. Two exactness checks:
//
//   - No stolen or lost wake-up: every Wait ends by a wake-up or a
//     change of the word seen before sleeping, never by its deadline
//     (with the slices off, a wake-up taken by the wrong waiter, the
//     old semaphore path's 1-50 ms stall, leaves the intended waiter
//     asleep until its deadline).
//   - No banked wake-up: a Wait that returns with the word unchanged
//     must have overlapped a Wake of the other side (each side counts
//     the Wakes it started and ended in shared words). A Wake may
//     reach a waiter that queued while it ran, as on every OS; a
//     wake-up left over from a Wake that had ended before the Wait
//     began is what the old semaphore path banked (there, hundreds in
//     2000 rounds).
//
// Rounds slower than 1 ms are logged, not asserted: they are timing.
func TestPingPongExactProcesses(t *testing.T) {
	const rounds = 2000
	to := testproc.Scale(5 * time.Second)
	noSlices(t)
	// Layout: the word, then per side (parent 0, child 1) the Wakes it
	// started and ended, then the child's counts for the parent.
	started := func(mem []byte, side int) *uint32 { return word(mem, 64+128*side) }
	ended := func(mem []byte, side int) *uint32 { return word(mem, 128+128*side) }
	side := func(mem []byte, me int, tb testing.TB) func(i uint32, send, want uint32) (explained, unexplained int) {
		w := word(mem, 0)
		return func(i uint32, send, want uint32) (int, int) {
			if send != 0 {
				atomic.StoreUint32(w, send)
				atomic.AddUint32(started(mem, me), 1)
				if _, err := futex.Wake(w, 1); err != nil {
					tb.Fatalf("Wake: %v", err)
				}
				atomic.AddUint32(ended(mem, me), 1)
			}
			explained, unexplained := 0, 0
			for {
				v := load(w)
				if v == want {
					return explained, unexplained
				}
				e0 := load(ended(mem, 1-me))
				if err := futex.Wait(w, v, to); err != nil {
					tb.Fatalf("side %d round %d: %v (a lost or stolen wake-up)", me, i, err)
				}
				if load(w) == v {
					if load(started(mem, 1-me)) == e0 {
						unexplained++
					} else {
						explained++
					}
				}
			}
		}
	}
	if testproc.Role() == "child" {
		mem := childShared(t)
		round := side(mem, 1, t)
		ex, unex := 0, 0
		defer func() {
			atomic.StoreUint32(word(mem, 384), uint32(ex))
			atomic.StoreUint32(word(mem, 448), uint32(unex))
		}()
		round(0, 0, 1)
		for i := range uint32(rounds) {
			e, u := round(i, 2*i+2, 2*i+3)
			ex, unex = ex+e, unex+u
		}
		return
	}
	mem, env := newShared(t)
	cmd := testproc.Command(t, "TestPingPongExactProcesses", "child", env)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	round := side(mem, 0, t)
	ex, unex, slow, slowest := 0, 0, 0, time.Duration(0)
	for i := range uint32(rounds) {
		t0 := time.Now()
		e, u := round(i, 2*i+1, 2*i+2)
		ex, unex = ex+e, unex+u
		if d := time.Since(t0); i > 0 && d > time.Millisecond {
			slow++
			slowest = max(slowest, d)
		}
	}
	atomic.StoreUint32(word(mem, 0), 2*rounds+1) // the child's last answer
	futex.Wake(word(mem, 0), 1)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	cex, cunex := load(word(mem, 384)), load(word(mem, 448))
	t.Logf("%d rounds, %d slower than 1 ms (slowest %v); Waits that returned with the word unchanged during a Wake of the other side: parent %d, child %d",
		rounds, slow, slowest, ex, cex)
	if unex != 0 || cunex != 0 {
		t.Fatalf("Waits that returned with the word unchanged and no Wake of the other side running: parent %d, child %d; want none (banked wake-ups)", unex, cunex)
	}
}

// TestTableFull: a waiter that finds its table full waits on the
// fallback path (the word's semaphore, or WaitOnAddress on the word),
// counted in the overflow count, and a Wake still reaches it.
func TestTableFull(t *testing.T) {
	for name, w := range testWords(t, 128) {
		t.Run(name, func(t *testing.T) {
			free := futex.FillTable(w)
			defer free()
			if a := futex.Enqueue(w); a != nil {
				t.Fatal("Enqueue found room in a full table")
			}
			done := make(chan error, 1)
			go func() { done <- futex.Wait(w, 0, testproc.Scale(30*time.Second)) }()
			waitFor(t, "the waiter on the fallback path", 30*time.Second, func() bool { return futex.Overflow(w) == 1 })
			if n, err := futex.Wake(w, 1); n != 1 || err != nil {
				t.Fatalf("Wake(1) with an overflow waiter = %d, %v; want 1 (counted as woken)", n, err)
			}
			for {
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("Wait = %v, want nil (woken)", err)
					}
					waitFor(t, "the overflow count back to 0", 30*time.Second, func() bool { return futex.Overflow(w) == 0 })
					return
				case <-time.After(time.Millisecond):
					// WaitOnAddress is not sticky: a Wake before the
					// waiter slept is lost; wake again.
					if _, err := futex.Wake(w, 1); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// TestFullOfDeadReclaimed: a table full of slots claimed by a process
// that is gone has room after all: the next waiter frees them, queues,
// and is woken with an exact count.
func TestFullOfDeadReclaimed(t *testing.T) {
	mem, _ := newShared(t)
	w := word(mem, 192)
	free := futex.FillTableDead(w)
	defer free()
	a := futex.Enqueue(w)
	if a == nil {
		t.Fatal("no room in a table full of dead slots")
	}
	if n := futex.ClaimedSlots(w); n != 1 {
		t.Fatalf("%d slots claimed after the reclaim, want 1 (ours)", n)
	}
	if n, err := futex.Wake(w, 1); n != 1 || err != nil {
		t.Fatalf("Wake(1) = %d, %v; want 1", n, err)
	}
	if err := a.Sleep(w, 0, testproc.Scale(30*time.Second)); err != nil {
		t.Fatalf("Sleep = %v, want nil (woken)", err)
	}
}
