package futex_test

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/internal/testproc"
)

// TestWaitValueDiffers checks that Wait returns nil at once when the word
// already differs from val: with no limit a bug would hang (bounded by the
// test timeout); with a limit it would report the deadline.
func TestWaitValueDiffers(t *testing.T) {
	var w uint32 = 7
	if err := futex.Wait(&w, 6, -1); err != nil {
		t.Fatalf("Wait(no limit) = %v, want nil", err)
	}
	if err := futex.Wait(&w, 6, time.Hour); err != nil {
		t.Fatalf("Wait(1h) = %v, want nil", err)
	}
	mem, _ := newShared(t)
	sw := word(mem, 64)
	atomic.StoreUint32(sw, 3)
	if err := futex.Wait(sw, 2, 10*time.Second); err != nil {
		t.Fatalf("Wait on shared word = %v, want nil", err)
	}
}

// TestWaitTimeoutNotEarly checks that a timed Wait on an unchanging word
// reports os.ErrDeadlineExceeded and never returns before its timeout.
// How late it returns depends on the machine and is only logged.
func TestWaitTimeoutNotEarly(t *testing.T) {
	mem, _ := newShared(t)
	words := map[string]*uint32{"heap": new(uint32), "shared": word(mem, 0)}
	// tolerance covers the clock reads around the call, not a wake-up
	// before the deadline.
	const tolerance = 500 * time.Microsecond
	for name, w := range words {
		for _, d := range []time.Duration{0, time.Microsecond, time.Millisecond, 16 * time.Millisecond, 70 * time.Millisecond} {
			start := time.Now()
			err := futex.Wait(w, 0, d)
			got := time.Since(start)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%s: Wait(%v) = %v, want os.ErrDeadlineExceeded", name, d, err)
			}
			if got < d-tolerance {
				t.Errorf("%s: Wait(%v) returned after %v: early", name, d, got)
			}
			t.Logf("%s: Wait(%v) took %v", name, d, got)
		}
	}
}

// TestUnaligned checks that every call rejects a word that is not 4-byte
// aligned with ErrUnaligned instead of passing it to the kernel.
func TestUnaligned(t *testing.T) {
	buf := make([]byte, 16)
	var p *uint32
	for i := range 4 {
		if q := word(buf, i); uintptr(unsafe.Pointer(q))&3 != 0 {
			p = q
			break
		}
	}
	if err := futex.Wait(p, 0, time.Second); !errors.Is(err, futex.ErrUnaligned) {
		t.Errorf("Wait = %v, want ErrUnaligned", err)
	}
	if _, err := futex.Wake(p, 1); !errors.Is(err, futex.ErrUnaligned) {
		t.Errorf("Wake = %v, want ErrUnaligned", err)
	}
	if _, err := futex.WakeAll(p); !errors.Is(err, futex.ErrUnaligned) {
		t.Errorf("WakeAll = %v, want ErrUnaligned", err)
	}
}

// TestWakeNoWaiters checks that waking a word nobody waits on succeeds and
// wakes nobody, and that n <= 0 is a no-op.
func TestWakeNoWaiters(t *testing.T) {
	mem, _ := newShared(t)
	for name, w := range map[string]*uint32{"heap": new(uint32), "shared": word(mem, 128)} {
		for _, n := range []int{-1, 0, 1, 3, math.MaxInt} {
			got, err := futex.Wake(w, n)
			if err != nil || got != 0 {
				t.Errorf("%s: Wake(%d) = %d, %v; want 0, nil", name, n, got, err)
			}
		}
		if got, err := futex.WakeAll(w); err != nil || got != 0 {
			t.Errorf("%s: WakeAll = %d, %v; want 0, nil", name, got, err)
		}
	}
}

// TestRegisterArgs checks Register's argument checks.
func TestRegisterArgs(t *testing.T) {
	if err := futex.Register(nil, "x"); err == nil {
		t.Error("Register(nil, x) = nil, want an error")
	}
	mem, _ := newShared(t)
	if err := futex.Register(mem, ""); err == nil {
		t.Error(`Register(mem, "") = nil, want an error`)
	}
	futex.Unregister(nil) // no-op
}

// TestWakeSameProcess checks that a Wake reaches a waiter of the same
// process, on a heap word (WaitOnAddress on Windows) and on a registered
// shared word (the named semaphore on Windows). The word never changes,
// so only a wake-up (never a re-check of the word) can end the wait
// before its long timeout.
func TestWakeSameProcess(t *testing.T) {
	mem, _ := newShared(t)
	for name, w := range map[string]*uint32{"heap": new(uint32), "shared": word(mem, 192)} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- futex.Wait(w, 0, testproc.Scale(30*time.Second)) }()
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("Wait = %v, want nil (woken)", err)
					}
					return
				case <-tick.C:
					if _, err := futex.Wake(w, 1); err != nil {
						t.Fatalf("Wake: %v", err)
					}
				}
			}
		})
	}
}

// TestWaitCrossProcess: a child process waits on a shared word, the
// parent wakes it. The word never changes, so the child's Wait can only
// end early through the parent's Wake crossing the process boundary;
// otherwise it reports the deadline and the child fails.
func TestWaitCrossProcess(t *testing.T) {
	if testproc.Role() == "child" {
		mem := childShared(t)
		atomic.StoreUint32(word(mem, 64), 1) // ready
		if err := futex.Wait(word(mem, 0), 0, testproc.Scale(30*time.Second)); err != nil {
			t.Fatalf("child: Wait = %v, want nil (woken by the parent)", err)
		}
		atomic.StoreUint32(word(mem, 128), 1) // done
		return
	}
	mem, env := newShared(t)
	cmd := testproc.Command(t, "TestWaitCrossProcess", "child", env)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "child ready", 30*time.Second, func() bool { return load(word(mem, 64)) == 1 })
	woken := 0
	waitFor(t, "child woken", 30*time.Second, func() bool {
		n, err := futex.Wake(word(mem, 0), 1)
		if err != nil {
			t.Fatalf("Wake: %v", err)
		}
		woken += n
		time.Sleep(time.Millisecond)
		return load(word(mem, 128)) == 1
	})
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	t.Logf("Wake reported %d woken (0 where the OS does not say)", woken)
	if futex.WakeCounts && woken != 1 {
		t.Fatalf("Wake reported %d woken in all for one sleeper, and WakeCounts says counts are exact", woken)
	}
}

// TestWakeAllProcesses: 8 waiters, 4 goroutines in each of 2 child
// processes. Phase 1: the word never changes and the parent repeats
// WakeAll until all 8 Waits have returned nil, which only wake-ups can
// cause. Phase 2: the parent changes the word and calls WakeAll once;
// a lost wake-up would leave a child asleep until its deadline and fail
// it (on Windows the wait slices would notice the change instead).
func TestWakeAllProcesses(t *testing.T) {
	const procs, perProc = 2, 4
	if testproc.Role() == "child" {
		mem := childShared(t)
		w, ready, done := word(mem, 0), word(mem, 64), word(mem, 128)
		to := testproc.Scale(30 * time.Second)
		var wg sync.WaitGroup
		errs := make(chan error, perProc)
		for range perProc {
			wg.Go(func() {
				atomic.AddUint32(ready, 1)
				if err := futex.Wait(w, 0, to); err != nil {
					errs <- err
					return
				}
				atomic.AddUint32(done, 1)
				for load(w) == 0 {
					if err := futex.Wait(w, 0, to); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("child: Wait = %v, want nil", err)
		}
		return
	}
	mem, env := newShared(t)
	w, ready, done := word(mem, 0), word(mem, 64), word(mem, 128)
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		cmds[i] = testproc.Command(t, "TestWakeAllProcesses", "child", env)
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "8 waiters ready", 30*time.Second, func() bool { return load(ready) == procs*perProc })
	waitFor(t, "8 waiters woken", 30*time.Second, func() bool {
		if _, err := futex.WakeAll(w); err != nil {
			t.Fatalf("WakeAll: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
		return load(done) == procs*perProc
	})
	atomic.StoreUint32(w, 1)
	if _, err := futex.WakeAll(w); err != nil {
		t.Fatalf("WakeAll: %v", err)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
}

// pingPongRounds is the length of TestPingPongProcesses: fewer under
// emulation (qemu, wine), where each round trip is far slower.
func pingPongRounds() uint32 {
	if testproc.IsEmulated() {
		return 2000
	}
	return 10000
}

// TestPingPongProcesses passes a counter back and forth between two
// processes through one shared word: the parent writes odd values, the
// child even ones, each waking the other and sleeping until the answer.
// Every Wait has a generous deadline, so a lost wake-up fails the test
// (on Linux, FreeBSD and macOS; on Windows the wait slices would turn it
// into a ~50 ms stall per loss) instead of hanging it.
func TestPingPongProcesses(t *testing.T) {
	n := pingPongRounds()
	to := testproc.Scale(20 * time.Second)
	if testproc.Role() == "child" {
		w := word(childShared(t), 0)
		for i := range n {
			if err := awaitValue(w, 2*i+1, to); err != nil {
				t.Fatalf("child round %d: %v", i, err)
			}
			atomic.StoreUint32(w, 2*i+2)
			if _, err := futex.Wake(w, 1); err != nil {
				t.Fatalf("child: Wake: %v", err)
			}
		}
		return
	}
	mem, env := newShared(t)
	w := word(mem, 0)
	cmd := testproc.Command(t, "TestPingPongProcesses", "child", env)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var slowest time.Duration
	for i := range n {
		t0 := time.Now()
		atomic.StoreUint32(w, 2*i+1)
		if _, err := futex.Wake(w, 1); err != nil {
			t.Fatalf("Wake: %v", err)
		}
		if err := awaitValue(w, 2*i+2, to); err != nil {
			t.Fatalf("parent round %d: %v", i, err)
		}
		if i > 0 { // round 0 includes the child's start-up
			slowest = max(slowest, time.Since(t0))
		}
	}
	t.Logf("%d round trips, %v each on average, slowest %v", n, time.Since(start)/time.Duration(n), slowest)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// awaitValue sleeps on w until it holds want; each Wait is bounded by to,
// and a deadline is an error (a lost wake-up, or a dead peer).
func awaitValue(w *uint32, want uint32, to time.Duration) error {
	for {
		v := load(w)
		if v == want {
			return nil
		}
		if err := futex.Wait(w, v, to); err != nil {
			return err
		}
	}
}

// TestNoBankedWakes checks that a Wake nobody waits for leaves nothing
// behind: a later Wait on the word sleeps until its timeout instead of
// returning at once. Windows' old semaphore path banked up to 64 counts
// here, which the next waits consumed as spurious returns.
func TestNoBankedWakes(t *testing.T) {
	mem, _ := newShared(t)
	for name, w := range map[string]*uint32{"heap": new(uint32), "shared": word(mem, 320)} {
		n, err := futex.Wake(w, 64)
		if err != nil {
			t.Fatalf("%s: Wake(64): %v", name, err)
		}
		if futex.WakeCounts && n != 0 {
			t.Errorf("%s: Wake(64) with nobody waiting = %d, want 0", name, n)
		}
		if err := futex.Wait(w, 0, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: Wait after a Wake nobody waited for = %v, want a timeout (a banked wake-up)", name, err)
		}
	}
}

// TestWakeCountsExact checks, where WakeCounts says counts are exact,
// that the counts of the Wakes that woke k sleepers add up to k: the word
// never changes, so only wake-ups end the Waits, and each must be counted
// once. A Wake afterwards counts 0.
func TestWakeCountsExact(t *testing.T) {
	if !futex.WakeCounts {
		t.Skip("this OS does not count wake-ups")
	}
	const k = 4
	mem, _ := newShared(t)
	for name, w := range map[string]*uint32{"heap": new(uint32), "shared": word(mem, 384)} {
		t.Run(name, func(t *testing.T) {
			var returned atomic.Int32
			for range k {
				go func() {
					if err := futex.Wait(w, 0, testproc.Scale(30*time.Second)); err != nil {
						t.Errorf("Wait = %v, want nil (woken)", err)
					}
					returned.Add(1)
				}()
			}
			counted := 0
			waitFor(t, "every waiter woken", 30*time.Second, func() bool {
				n, err := futex.Wake(w, 1)
				if err != nil || n > 1 {
					t.Fatalf("Wake(1) = %d, %v", n, err)
				}
				counted += n
				time.Sleep(time.Millisecond)
				return returned.Load() == k
			})
			if counted != k {
				t.Fatalf("the Wakes counted %d woken for %d sleepers", counted, k)
			}
			if n, err := futex.Wake(w, 64); n != 0 || err != nil {
				t.Fatalf("Wake(64) after all left = %d, %v; want 0", n, err)
			}
		})
	}
}

// TestWaitContext: a wait whose context is cancelled returns nil soon
// after, whether it was parked (then it ended alone) or slept on its
// thread (then WaitContext called wakeAll, which ended it); one whose
// context is never done is Wait.
func TestWaitContext(t *testing.T) {
	w := new(uint32)
	*w = 1
	if err := futex.WaitContext(context.Background(), w, 1, 10*time.Millisecond, nil); err == nil {
		t.Error("a wait without cancellation returned nil before its timeout")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var called atomic.Bool
	res := make(chan error, 1)
	go func() {
		res <- futex.WaitContext(ctx, w, 1, 30*time.Second, func() {
			called.Store(true)
			futex.WakeAll(w)
		})
	}()
	time.Sleep(20 * time.Millisecond) // let it sleep (if not, it returns at once all the same)
	cancel()
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("cancelled WaitContext: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled WaitContext did not end")
	}
	if !called.Load() && !futex.Parks() {
		t.Error("a wait on its thread ended without wakeAll")
	}
}
