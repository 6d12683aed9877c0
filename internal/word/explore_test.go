//go:build shmxexplore

package word

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmx/shmx/futex"
)

// The explorer must find a broken lock, pass a correct one, notice a
// goroutine that waits for ever and a wake-up that never comes, and
// enumerate every schedule of a small case.

// brokenLock checks and then sets in two steps: two goroutines can both
// get in.
func brokenLock(w *uint32) {
	for LoadUint32(w) != 0 {
	}
	StoreUint32(w, 1)
}

func casLock(w *uint32) {
	for !CompareAndSwapUint32(w, 0, 1) {
	}
}

func mutualExclusion(lock func(*uint32), procs int) func(*Sim) {
	return func(s *Sim) {
		var w uint32
		inside := 0
		for range procs {
			p := s.Process()
			s.Go(p, func() {
				lock(&w)
				inside++
				LoadUint32(&w) // a step inside
				inside--
				StoreUint32(&w, 0)
			})
		}
		s.Check(func() string {
			if inside > 1 {
				return fmt.Sprintf("%d goroutines inside", inside)
			}
			return ""
		})
	}
}

func TestExplorerFindsBrokenLock(t *testing.T) {
	found := -1
	for seed := range uint64(1000) {
		r := Explore(Config{Strategy: Random, Seed: seed}, mutualExclusion(brokenLock, 2))
		if r.Failure != "" {
			found = int(seed)
			t.Logf("found after %d schedules: %s (%v)", seed+1, r.Failure, r.Config)
			again := Explore(r.Config, mutualExclusion(brokenLock, 2))
			if again.Failure != r.Failure || again.Steps != r.Steps {
				t.Fatalf("replay of %v: %q after %d steps, first run %q after %d", r.Config, again.Failure, again.Steps, r.Failure, r.Steps)
			}
			break
		}
	}
	if found < 0 {
		t.Fatal("1000 random schedules missed a check-then-set lock")
	}
}

func TestExplorerPassesCASLock(t *testing.T) {
	for _, st := range []Strategy{Random, PCT} {
		for seed := range uint64(500) {
			if r := Explore(Config{Strategy: st, Seed: seed}, mutualExclusion(casLock, 3)); r.Failure != "" {
				t.Fatalf("%v: %s", r.Config, r.Failure)
			}
		}
	}
}

// TestExplorerKillStalls: a spin lock whose holder is killed stalls its
// waiter; the explorer reports it instead of hanging.
func TestExplorerKillStalls(t *testing.T) {
	stalled := 0
	for seed := range uint64(20) {
		for k := 1; k < 12; k++ {
			r := Explore(Config{Strategy: Random, Seed: seed, KillStep: k, KillProc: 0, MaxSteps: 2000}, mutualExclusion(casLock, 2))
			if r.Killed && strings.Contains(r.Failure, "stall") {
				stalled++
			}
		}
	}
	if stalled == 0 {
		t.Fatal("no kill point left a spin lock held by a dead process")
	}
}

// TestExplorerLostWakeup: a waiter that checks, then sleeps without
// rechecking under the futex, misses a wake that came in between.
func TestExplorerLostWakeup(t *testing.T) {
	setup := func(s *Sim) {
		var flag, seq uint32
		p := s.Process()
		s.Go(p, func() { // waiter: reads the sequence too late
			for LoadUint32(&flag) == 0 {
				v := LoadUint32(&seq)
				Wait(&seq, v, 1<<40)
			}
		})
		s.Go(s.Process(), func() {
			StoreUint32(&flag, 1)
			Wake(&seq, 1) // forgets to bump seq: a wake before Wait is lost
		})
		s.Idle(func() string {
			if LoadUint32(&flag) != 0 {
				return "the flag is set and the waiter sleeps"
			}
			return ""
		})
	}
	lost := false
	for seed := range uint64(200) {
		if r := Explore(Config{Strategy: Random, Seed: seed}, setup); strings.Contains(r.Failure, "lost wake-up") {
			lost = true
			break
		}
	}
	if !lost {
		t.Fatal("explorer never saw the lost wake-up")
	}
}

func TestExplorerExhaustive(t *testing.T) {
	setup := func(s *Sim) {
		var w uint32
		for range 2 {
			s.Go(s.Process(), func() { AddUint32(&w, 1); AddUint32(&w, 1) })
		}
	}
	n := 0
	for script := []int{}; script != nil; n++ {
		r := Explore(Config{Strategy: Exhaustive, Script: script, Preemptions: 10}, setup)
		if r.Failure != "" {
			t.Fatal(r.Failure)
		}
		script = r.Next
		if n > 1000 {
			t.Fatal("enumeration does not end")
		}
	}
	// Each goroutine takes 3 steps (start, 2 adds): C(6,3) = 20 orders.
	if n != 20 {
		t.Fatalf("%d schedules, want 20", n)
	}
	// With at most one preemption: the orders with at most one switch
	// away from a goroutine that could go on.
	n = 0
	for script := []int{}; script != nil; n++ {
		script = Explore(Config{Strategy: Exhaustive, Script: script, Preemptions: 1}, setup).Next
	}
	if n >= 20 || n < 2 {
		t.Fatalf("%d schedules with one preemption, want fewer than 20", n)
	}
	t.Logf("%d schedules with at most one preemption, 20 without a bound", n)
}

// TestExploreWaitAny: a goroutine waiting on three words with WaitAny is
// woken by a Wake of the second one in every schedule, returns its index
// and is left in no queue; without a Wake it times out.
func TestExploreWaitAny(t *testing.T) {
	for seed := range uint64(300) {
		r := Explore(Config{Strategy: Random, Seed: seed}, func(s *Sim) {
			var w [3]uint32
			var got = -2
			var gotErr error
			p, q := s.Process(), s.Process()
			s.Go(p, func() {
				ws := make([]futex.Watch, 3)
				for i := range ws {
					ws[i].Set(&w[i], 0)
				}
				for {
					got, gotErr = WaitAny(ws, time.Hour)
					if got >= 0 || gotErr != nil {
						return
					}
				}
			})
			s.Go(q, func() {
				for {
					if n, _ := Wake(&w[1], 1); n == 1 {
						return
					}
					Sleep(time.Millisecond)
				}
			})
			s.Final(func() string {
				if got != 1 || gotErr != nil {
					return fmt.Sprintf("WaitAny = %d, %v; want 1, nil", got, gotErr)
				}
				if len(s.waiters) != 0 {
					return fmt.Sprintf("waiters left queued: %v", s.waiters)
				}
				return ""
			})
		})
		if r.Failure != "" {
			t.Fatalf("%v: %s", r.Config, r.Failure)
		}
	}
	r := Explore(Config{Strategy: Random, Seed: 1}, func(s *Sim) {
		var w [2]uint32
		p := s.Process()
		var err error
		s.Go(p, func() {
			ws := make([]futex.Watch, 2)
			ws[0].Set(&w[0], 0)
			ws[1].Set(&w[1], 0)
			_, err = WaitAny(ws, time.Second)
		})
		s.Final(func() string {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Sprintf("WaitAny with nobody waking: %v", err)
			}
			return ""
		})
	})
	if r.Failure != "" {
		t.Fatal(r.Failure)
	}
}
