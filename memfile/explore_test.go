//go:build shmxexplore

package memfile

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	sw "github.com/shmx/shmx/internal/word"
)

// The protocols of this package under the deterministic explorer of
// internal/word (go test -tags shmxexplore): every access to a shared
// word is a scheduling point, simulated processes run one step at a time
// in an order the schedule's seed decides, and one of them may be killed
// at any step. Each model states its invariants where it builds them.
//
// SHMX_EXPLORE_N sets the number of schedules per model (default 2,000;
// CI runs 100,000). A failure prints the schedule's Config; to replay
// exactly that schedule set SHMX_EXPLORE_SEED to its Seed, with
// SHMX_EXPLORE_STRATEGY, SHMX_EXPLORE_KILL=step,proc as printed.

// model builds one schedule of a protocol: processes, goroutines and
// invariants. procs is how many simulated processes it makes (a kill
// picks one of them).
type model struct {
	name  string
	procs int
	build func(s *sw.Sim)
}

// schedules returns how many schedules each model runs.
func schedules(t *testing.T) int {
	if v := os.Getenv("SHMX_EXPLORE_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("SHMX_EXPLORE_N=%q: %v", v, err)
		}
		return n
	}
	if testing.Short() {
		return 200
	}
	return 2000
}

// explore runs the schedules of m: a third random, a third PCT, a third
// exhaustive prefixes; half of the random and PCT ones kill a process at
// a random step. It fails on the first schedule that breaks an
// invariant, printing how to replay it.
func explore(t *testing.T, m model) {
	t.Helper()
	if cfg, ok := replayConfig(t); ok {
		cfg.Trace = os.Getenv("SHMX_EXPLORE_TRACE") != ""
		r := sw.Explore(cfg, m.build)
		for _, l := range r.Trace {
			t.Log(l)
		}
		if r.Failure != "" {
			t.Fatalf("%s: %s\n\treplay: %v", m.name, r.Failure, r.Config)
		}
		t.Logf("%s: replayed %v: %d steps, no failure", m.name, r.Config, r.Steps)
		return
	}
	n := schedules(t)
	rng := rand.New(rand.NewPCG(uint64(len(m.name)), 42))
	// A first schedule tells how long one runs, to place kills.
	steps := max(sw.Explore(sw.Config{Seed: 1}, m.build).Steps, 8)
	var script []int
	kills, exhaustive := 0, 0
	for i := range n {
		// Steps of 1-100 µs of virtual time: long ones make waiters old
		// enough for fair mode within a few steps.
		cfg := sw.Config{Seed: uint64(i) + 1, StepTime: time.Duration(1+rng.IntN(100)) * time.Microsecond}
		switch i % 3 {
		case 0:
			cfg.Strategy = sw.Random
		case 1:
			cfg.Strategy = sw.PCT
		case 2:
			if script == nil && exhaustive > 0 {
				cfg.Strategy = sw.Random // the enumeration is complete
				break
			}
			cfg.Strategy, cfg.Script = sw.Exhaustive, script
		}
		if cfg.Strategy != sw.Exhaustive && rng.IntN(2) == 0 {
			cfg.KillStep, cfg.KillProc = 1+rng.IntN(steps*2), rng.IntN(m.procs)
		}
		r := sw.Explore(cfg, m.build)
		if r.Failure != "" {
			t.Fatalf("%s: schedule %d of %d: %s\n\treplay: %v\n\t(SHMX_EXPLORE_SEED=%d SHMX_EXPLORE_STRATEGY=%v SHMX_EXPLORE_KILL=%d,%d SHMX_EXPLORE_STEP=%v)",
				m.name, i+1, n, r.Failure, r.Config, r.Config.Seed, r.Config.Strategy, r.Config.KillStep, r.Config.KillProc, r.Config.StepTime)
		}
		if r.Killed {
			kills++
		}
		if cfg.Strategy == sw.Exhaustive {
			exhaustive++
			script = r.Next
		}
	}
	done := ""
	if script == nil && exhaustive > 0 {
		done = ", enumeration complete"
	}
	t.Logf("%s: %d schedules, %d with a process killed, %d exhaustive%s; no invariant broken", m.name, n, kills, exhaustive, done)
}

// replayConfig reads a schedule to replay from the environment.
func replayConfig(t *testing.T) (sw.Config, bool) {
	v := os.Getenv("SHMX_EXPLORE_SEED")
	if v == "" {
		return sw.Config{}, false
	}
	seed, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("SHMX_EXPLORE_SEED=%q: %v", v, err)
	}
	cfg := sw.Config{Seed: seed}
	if st := os.Getenv("SHMX_EXPLORE_STEP"); st != "" {
		d, err := time.ParseDuration(st)
		if err != nil {
			t.Fatalf("SHMX_EXPLORE_STEP=%q: %v", st, err)
		}
		cfg.StepTime = d
	}
	switch os.Getenv("SHMX_EXPLORE_STRATEGY") {
	case "pct":
		cfg.Strategy = sw.PCT
	case "exhaustive":
		t.Fatal("replay an exhaustive schedule with its Script in a test")
	}
	if k := os.Getenv("SHMX_EXPLORE_KILL"); k != "" {
		if _, err := fmt.Sscanf(k, "%d,%d", &cfg.KillStep, &cfg.KillProc); err != nil {
			t.Fatalf("SHMX_EXPLORE_KILL=%q: %v", k, err)
		}
	}
	return cfg, true
}

// anyDead reports whether a process of ps was killed.
func anyDead(ps []*sw.Proc) bool {
	for _, p := range ps {
		if p.Dead {
			return true
		}
	}
	return false
}

// mutexModel: procs processes of threads goroutines each lock the Mutex
// iters times, stay inside for a step, and unlock. Invariants: at most
// one live process is inside (a killed holder's critical section is over
// for good); when nothing can run and nobody was killed, the Mutex is not
// free with goroutines waiting for it (a lost wake-up); every live
// goroutine finishes (a dead holder is always recovered from, with
// ErrOwnerDead).
func mutexModel(procs, threads, iters int) model {
	return model{name: fmt.Sprintf("Mutex %dx%dx%d", procs, threads, iters), procs: procs, build: func(s *sw.Sim) {
		var m Mutex
		var dummy uint32
		inside := make([]int, procs)
		waiting := 0
		ps := make([]*sw.Proc, procs)
		for i := range procs {
			ps[i] = s.Process()
			for range threads {
				s.Go(ps[i], func() {
					for range iters {
						waiting++
						err := m.lockCtx(nil)
						waiting--
						if err == ErrOwnerDead {
							m.MarkConsistent()
						} else if err != nil {
							panic(err)
						}
						inside[i]++
						sw.LoadUint32(&dummy) // a step inside
						inside[i]--
						m.Unlock()
					}
				})
			}
		}
		s.Check(func() string {
			n := 0
			for i, p := range ps {
				if !p.Dead {
					n += inside[i]
				}
			}
			if n > 1 {
				return fmt.Sprintf("%d processes inside the Mutex", n)
			}
			return ""
		})
		s.Idle(func() string {
			if waiting > 0 && !anyDead(ps) && m.state&mutexLocked == 0 {
				return fmt.Sprintf("the Mutex is free (state %#x) and %d goroutines wait for it", m.state, waiting)
			}
			return ""
		})
	}}
}

func TestExploreMutex(t *testing.T) {
	explore(t, mutexModel(2, 1, 3))
	explore(t, mutexModel(3, 1, 2))
	explore(t, mutexModel(2, 2, 2))
}

// TestExploreMutexRegressions replays the schedules in which the explorer
// found lost wake-ups in fair mode (issue: "starvation mode loses the
// wake-up hand-off"): the lock sat free while its only waiters slept
// until they were 1 ms old. Both fail on the Mutex before handedOff.
func TestExploreMutexRegressions(t *testing.T) {
	m := mutexModel(3, 1, 2)
	for _, cfg := range []sw.Config{
		{Strategy: sw.Random, Seed: 1024, StepTime: 49 * time.Microsecond},
		{Strategy: sw.Random, Seed: 5212, StepTime: 54 * time.Microsecond},
	} {
		if r := sw.Explore(cfg, m.build); r.Failure != "" {
			t.Errorf("%v: %s", cfg, r.Failure)
		}
	}
}
