//go:build shmxexplore

package memfile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

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
	// killsMayStall: a killed process may leave the others waiting for
	// good (what it held is not recovered by design), so a schedule with
	// a kill that does not end is no failure; every invariant still is.
	killsMayStall bool
	maxSteps      int
	// share, if above 1, runs this model on 1/share of the schedules: a
	// variant of a model that runs in full beside it.
	share int
}

// The explorer's schedules are short: probe for a stale woken flag (see
// wakeOne) at every second Unlock that finds one, so that they reach it.
func init() { wokenProbe = 2 }

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
// exhaustive prefixes; three in four of the random and PCT ones kill a
// process at a random step (most of those steps are reached). It fails on the first schedule that breaks an
// invariant, printing how to replay it.
func explore(t *testing.T, m model) {
	t.Helper()
	if cfg, ok := replayConfig(t); ok {
		cfg.Trace = os.Getenv("SHMX_EXPLORE_TRACE") != ""
		cfg.MaxSteps = m.maxSteps
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
	if m.share > 1 {
		n = max(n/m.share, 1)
	}
	rng := rand.New(rand.NewPCG(uint64(len(m.name)), 42))
	// A first schedule tells how long one runs, to place kills.
	steps := max(sw.Explore(sw.Config{Seed: 1}, m.build).Steps, 8)
	var script []int
	kills, exhaustive := 0, 0
	for i := range n {
		// Steps of 1-100 µs of virtual time: long ones make waiters old
		// enough for fair mode within a few steps.
		cfg := sw.Config{Seed: uint64(i) + 1, StepTime: time.Duration(1+rng.IntN(100)) * time.Microsecond, MaxSteps: m.maxSteps}
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
		if cfg.Strategy != sw.Exhaustive && rng.IntN(4) != 0 {
			cfg.KillStep, cfg.KillProc = 1+rng.IntN(steps), rng.IntN(m.procs)
		}
		r := sw.Explore(cfg, m.build)
		if r.Killed && m.killsMayStall && strings.HasPrefix(r.Failure, "no end") {
			r.Failure = ""
		}
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

// anyLive reports whether a process of ps is alive.
func anyLive(ps []*sw.Proc) bool {
	for _, p := range ps {
		if !p.Dead {
			return true
		}
	}
	return false
}

// exclusive is the Mutex's invariant: at most one live process of ps is
// inside (inside[i] counts process i's goroutines there; a killed
// holder's critical section is over for good).
func exclusive(ps []*sw.Proc, inside []int) string {
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
		lastAfterKill := false // the last Unlock began after a process was killed
		ps := make([]*sw.Proc, procs)
		for i := range procs {
			ps[i] = s.Process()
			for th := range threads {
				s.Go(ps[i], func() {
					for range iters {
						waiting++
						var dirty bool
						var err error
						if th == 0 {
							// LockContext, and after its refusal
							// (nothing held) LockRecover.
							// A refusal that kept the lock would
							// leave it held by nobody: a stall.
							if err = m.LockContext(nil); errors.Is(err, ErrOwnerDead) {
								dirty, err = m.lockRecover(nil)
							}
						} else {
							dirty, err = m.lockRecover(nil)
						}
						waiting--
						if err != nil {
							panic(err)
						}
						if dirty {
							m.MarkConsistent()
						}
						inside[i]++
						sw.LoadUint32(&dummy) // a step inside
						inside[i]--
						lastAfterKill = anyDead(ps)
						m.Unlock()
					}
				})
			}
		}
		s.Check(func() string {
			if st := m.state; waiters(st) > uint32(procs*threads) || (waiters(st) == 0) != (epochOf(st) == 0) {
				return fmt.Sprintf("the waiter count is broken: state %#x", st)
			}
			return exclusive(ps, inside)
		})
		s.Idle(func() string {
			if waiting > 0 && !anyDead(ps) && m.state&mutexLocked == 0 {
				return fmt.Sprintf("the Mutex is free (state %#x) and %d goroutines wait for it", m.state, waiting)
			}
			return ""
		})
		// When every live goroutine is done, no registration is left but
		// those of killed waiters, and those only if no Unlock began
		// after the kill, or if the last one made no wake-up for them (a
		// dead waiter owned the woken flag): an Unlock that woke for them
		// found nobody and dropped them (the recount), so a dead waiter
		// costs one wake-up, once.
		s.Final(func() string {
			st := m.state
			if waiters(st) != 0 && (!anyDead(ps) || lastAfterKill && st&(mutexWoken|mutexLocked) == 0) {
				return fmt.Sprintf("the live goroutines are done and the waiter count is stale: state %#x", st)
			}
			return ""
		})
	}}
}

func TestExploreMutex(t *testing.T) {
	explore(t, mutexModel(2, 1, 3))
	explore(t, mutexModel(3, 1, 2))
	explore(t, mutexModel(2, 2, 2))
	explore(t, mutexModel(3, 2, 3)) // two goroutines a process: a holder's process locks again
}

// TestExploreMutexRegressions replays the schedules in which the explorer
// found lost wake-ups in fair mode (issue: "starvation mode loses the
// wake-up hand-off"): the lock sat free while its only waiters slept
// until they were 1 ms old. Both fail on the Mutex before handedOff.
// And the schedule in which a registrant's CAS brought back the epoch a
// recount had dropped (the state had become the very word it read, its
// owner's process locking again), so that three waiters slept counted as
// one and the lock sat free while one of them slept out its slice (see
// "Dead waiters: the recount"; it fails on the Mutex before dropEpoch).
func TestExploreMutexRegressions(t *testing.T) {
	for _, c := range []struct {
		m   model
		cfg sw.Config
	}{
		{mutexModel(3, 1, 2), sw.Config{Strategy: sw.Random, Seed: 1024, StepTime: 49 * time.Microsecond}},
		{mutexModel(3, 1, 2), sw.Config{Strategy: sw.Random, Seed: 5212, StepTime: 54 * time.Microsecond}},
		{mutexModel(3, 2, 3), sw.Config{Strategy: sw.Random, Seed: 6931, MaxSteps: 20000, StepTime: 5 * time.Microsecond}},
	} {
		if r := sw.Explore(c.cfg, c.m.build); r.Failure != "" {
			t.Errorf("%s, %v: %s", c.m.name, c.cfg, r.Failure)
		}
	}
}

// eventModel: two processes play ping-pong through two auto-reset
// events, rounds times, and a manual-reset event releases every waiter
// of three processes. Invariants: nothing can run while an event is set
// and a goroutine sleeps in Wait (a lost wake-up); both sides finish.
func eventModel(rounds int) model { return eventModelWith(rounds, Backoff) }

// eventModelWith is eventModel with every Wait under strategy strat.
func eventModelWith(rounds int, strat WaitStrategy) model {
	name, share := variant(fmt.Sprintf("Event ping-pong %d", rounds), strat)
	steps := 4000
	if strat == BusySpin {
		steps = 8000 // polling takes steps
	}
	return model{name: name, procs: 2, killsMayStall: true, maxSteps: steps, share: share, build: func(s *sw.Sim) {
		var ping, pong, gate Event
		gate.Init(ManualReset)
		ctx := WithWaitStrategy(context.Background(), strat)
		a, b := s.Process(), s.Process()
		waiting := map[*Event]map[*sw.Proc]int{&ping: {}, &pong: {}, &gate: {}}
		wait := func(e *Event, p *sw.Proc) {
			waiting[e][p]++
			if err := e.Wait(ctx); err != nil {
				panic(err)
			}
			waiting[e][p]--
		}
		s.Go(a, func() {
			for range rounds {
				ping.Set()
				wait(&pong, a)
			}
			gate.Set()
		})
		s.Go(b, func() {
			for range rounds {
				wait(&ping, b)
				pong.Set()
			}
			wait(&gate, b)
		})
		s.Go(b, func() { wait(&gate, b) })
		events := []*Event{&ping, &pong, &gate}
		s.Check(func() string {
			for _, e := range events {
				if msg := e.waiters.broken(2); msg != "" {
					return "an Event's waiter count " + msg
				}
			}
			return ""
		})
		// Without a kill every registration is taken out again.
		s.Final(func() string {
			for _, e := range events {
				if !anyDead([]*sw.Proc{a, b}) && e.waiters.n() != 0 {
					return fmt.Sprintf("all are done and an Event's waiter count is left: %#x", e.waiters.word)
				}
			}
			return ""
		})
		s.Idle(func() string {
			for _, e := range []*Event{&ping, &pong, &gate} {
				for p, n := range waiting[e] {
					// A killed setter may die between its store and its
					// wake-up call: sleepers then recover at the end of
					// their slice, which is no lost wake-up.
					if n > 0 && !anyDead([]*sw.Proc{a, b}) && !p.Dead && e.state&eventSet != 0 {
						return fmt.Sprintf("an event is set (state %#x) and %d goroutines of process %d sleep in its Wait", e.state, n, p.Token)
					}
				}
			}
			return ""
		})
	}}
}

// variant returns the name and share of a model run under strat: the
// default strategy's model runs in full, a variant on a fifth of the
// schedules.
func variant(name string, strat WaitStrategy) (string, int) {
	if strat == Backoff {
		return name, 1
	}
	return name + " " + strat.String(), 5
}

func TestExploreEvent(t *testing.T) {
	explore(t, eventModel(2))
	explore(t, eventModel(3))
	explore(t, eventModelWith(2, BusySpin))
	explore(t, eventModelWith(2, Block))
}

// semaphoreModel: procs processes take n units of a Semaphore of
// capacity 2 (n = 1, or 2 for the last process, so that a large Acquire
// queues among small ones), hold them for a step and release them, iters
// times; any process may be killed at any step, inside the Semaphore's
// critical sections and its Mutex included. Invariants:
//   - never more than 2 units held by live processes at once;
//   - whenever the internal lock is free, the state is one validate
//     accepts: count + held units + unowned = capacity (dead processes'
//     units still recorded until reaped), waiters counted, and the oldest
//     queued waiter does not fit (it would have been granted);
//   - FIFO: a granted queue slot is never younger than a queued one
//     (grants go to the oldest waiter, and one that does not fit stops
//     the rest);
//   - no lost wake-up: when nothing can run and nobody was killed, no
//     live waiter's slot is granted while it sleeps;
//   - every live goroutine finishes (units of a killed holder and the
//     queue slot of a killed waiter are recovered: kills may not stall);
//   - at the end, units held by live processes (none) + count = capacity
//     once dead processes' recorded units are counted back in.
func semaphoreModel(procs, iters int) model {
	return model{name: fmt.Sprintf("Semaphore %dx%d", procs, iters), procs: procs, maxSteps: 20000, build: func(s *sw.Sim) {
		var sem Semaphore
		sem.Init(2, 2)
		held := make([]int, procs)
		ctx := context.Background()
		ps := make([]*sw.Proc, procs)
		for i := range procs {
			p := s.Process()
			ps[i] = p
			n := 1
			if i == procs-1 {
				n = 2
			}
			s.Go(p, func() {
				for range iters {
					if err := sem.Acquire(ctx, int64(n)); err != nil {
						panic(err)
					}
					held[i] += n
					sw.LoadUint32(&sem.count) // a step holding
					held[i] -= n
					sem.Release(int64(n))
				}
			})
		}
		dead := func(token uint32) bool {
			for _, p := range ps {
				if p.Token == token {
					return p.Dead
				}
			}
			return false
		}
		s.Check(func() string {
			total := 0
			for i, h := range held {
				if !ps[i].Dead {
					total += h
				}
			}
			if total > 2 {
				return fmt.Sprintf("%d units held by live processes of a capacity of 2", total)
			}
			if sem.mu.state&mutexLocked != 0 {
				return ""
			}
			if err := sem.validate(); err != nil {
				return fmt.Sprintf("with the lock free: %v", err)
			}
			for i := range sem.slots {
				g := &sem.slots[i]
				if g.state != semGranted {
					continue
				}
				for j := range sem.slots {
					if q := &sem.slots[j]; q.state == semQueued && sem.ticket-q.ticket > sem.ticket-g.ticket {
						return fmt.Sprintf("slot %d (ticket %d) granted while slot %d (ticket %d, older) is queued", i, g.ticket, j, q.ticket)
					}
				}
			}
			return ""
		})
		s.Idle(func() string {
			if anyDead(ps) {
				return "" // a killed granter may die before its wake-up call: the slice bounds it
			}
			for i := range sem.slots {
				if sl := &sem.slots[i]; sl.state == semGranted && !dead(sl.token) {
					return fmt.Sprintf("slot %d of process %d is granted and its waiter sleeps", i, sl.token)
				}
			}
			return ""
		})
		s.Final(func() string {
			// A process killed inside a critical section, with nobody left
			// to take its lock over, leaves a marked journal: the state is
			// what redoing it gives (as the next locker would).
			st := new(Semaphore) // a byte copy: the Semaphore holds a Mutex, which vet says not to copy
			copy(unsafe.Slice((*byte)(unsafe.Pointer(st)), SemaphoreSize), unsafe.Slice((*byte)(unsafe.Pointer(&sem)), SemaphoreSize))
			for i := range min(st.jlen, semJournal) {
				e := st.journal[i]
				if p := st.journalWord(uint32(e >> 32)); p != nil {
					*p = uint32(e)
				}
			}
			back := uint64(st.count)
			for i := range st.holders {
				h := &st.holders[i]
				if h.units == 0 {
					continue
				}
				if !dead(h.token) {
					return fmt.Sprintf("live process %d still holds %d units after it finished", h.token, h.units)
				}
				back += uint64(h.units)
			}
			if back+uint64(st.unowned) != 2 {
				return fmt.Sprintf("count %d + dead holders' units + unowned %d = %d, want the capacity 2: units lost", st.count, st.unowned, back+uint64(st.unowned))
			}
			return ""
		})
	}}
}

// TestExploreSemaphore runs the model with 2 and 3 processes, and with 4
// once each: only there can a unit come back while the Acquire(2) at the
// head waits and an Acquire(1) is queued behind it (two others hold), the
// schedule in which serving out of order would grant the Acquire(1).
func TestExploreSemaphore(t *testing.T) {
	explore(t, semaphoreModel(2, 2))
	explore(t, semaphoreModel(3, 2))
	explore(t, semaphoreModel(4, 1))
}

// condModel: a producer process puts items (a count under the Mutex)
// and signals the Cond after each; consumer processes wait on the Cond
// under the Mutex until an item is there and take it. Any process may be
// killed, the producer too, inside the Mutex or not. Invariants: at most
// one live process inside the Mutex; when nothing can run and nobody was
// killed, no consumer sleeps in Wait while an item waits for it (a lost
// signal); a Wait that locks the Mutex again after a holder died reports
// it (ErrOwnerDead, held) and the consumer repairs; without a kill every
// item is taken.
func condModel(consumers, items int) model {
	return model{name: fmt.Sprintf("Cond %dx%d", consumers, items), procs: 1 + consumers, killsMayStall: true, maxSteps: 8000, build: func(s *sw.Sim) {
		var m Mutex
		var c Cond
		avail, taken, sleeping := 0, 0, 0
		inside := make([]int, 1+consumers)
		ps := make([]*sw.Proc, 1+consumers)
		for i := range ps {
			ps[i] = s.Process()
		}
		fail := ""
		s.Go(ps[0], func() {
			for range items {
				dirty, err := m.lockRecover(nil)
				if err != nil {
					panic(err)
				}
				if dirty {
					m.MarkConsistent()
				}
				inside[0]++
				avail++
				inside[0]--
				m.Unlock()
				c.Signal()
			}
		})
		for i := 1; i <= consumers; i++ {
			share := items / consumers
			if i <= items%consumers {
				share++
			}
			s.Go(ps[i], func() {
				for range share {
					dirty, err := m.lockRecover(nil)
					if err != nil {
						panic(err)
					}
					if dirty {
						m.MarkConsistent()
					}
					inside[i]++
					for avail == 0 {
						inside[i]--
						sleeping++
						err := c.Wait(nil, &m)
						sleeping--
						inside[i]++
						switch {
						case errors.Is(err, ErrOwnerDead):
							if st := m.State(); !st.Locked || !st.Inconsistent {
								fail = fmt.Sprintf("Wait reported a dead holder but the Mutex is %+v", st)
							}
							m.MarkConsistent()
						case err != nil:
							panic(err)
						}
					}
					avail--
					taken++
					inside[i]--
					m.Unlock()
				}
			})
		}
		s.Check(func() string {
			if fail != "" {
				return fail
			}
			if msg := c.waiters.broken(uint32(consumers)); msg != "" {
				return "the Cond's waiter count " + msg
			}
			return exclusive(ps, inside)
		})
		s.StallOK(func() bool { return ps[0].Dead }) // nobody left to produce
		s.Idle(func() string {
			if !anyDead(ps) && avail > 0 && sleeping > 0 && m.state&mutexLocked == 0 {
				return fmt.Sprintf("%d items wait and %d consumers sleep in Cond.Wait (seq %d, waiters %#x)", avail, sleeping, c.seq, c.waiters.word)
			}
			return ""
		})
		s.Final(func() string {
			if !anyDead(ps) && taken != items {
				return fmt.Sprintf("%d of %d items taken", taken, items)
			}
			if !anyDead(ps) && c.waiters.n() != 0 {
				return fmt.Sprintf("all are done and the Cond's waiter count is left: %#x", c.waiters.word)
			}
			return ""
		})
	}}
}

func TestExploreCond(t *testing.T) {
	explore(t, condModel(1, 3))
	explore(t, condModel(2, 3))
}

// seqLockModel: two writer processes Store values whose three words are
// equal (overlapping Stores must panic before writing), one of them may
// be killed mid-Store; a reader process's TryLoad and LoadContext must
// never return a value whose words differ (torn), and LoadContext
// reports a dead writer instead of waiting for ever.
func seqLockModel(stores int) model {
	return model{name: fmt.Sprintf("SeqLock %d stores", stores), procs: 3, build: func(s *sw.Sim) {
		type val struct{ A, B, C uint64 }
		b := make([]uint64, 8)
		l, err := SeqLockAt[val](unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), 64))
		if err != nil {
			panic(err)
		}
		torn := ""
		for w := range 2 {
			p := s.Process()
			s.Go(p, func() {
				defer func() {
					if r := recover(); r != nil && !strings.Contains(fmt.Sprint(r), "concurrent SeqLock.Store") {
						panic(r)
					}
				}()
				for i := range stores {
					v := uint64(w*100 + i + 1)
					l.Store(val{v, v, v})
				}
			})
		}
		r := s.Process()
		s.Go(r, func() {
			for range 2 * stores {
				if v, ok := l.TryLoad(); ok && (v.A != v.B || v.B != v.C) {
					torn = fmt.Sprintf("TryLoad returned torn %+v", v)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			v, err := l.LoadContext(ctx)
			if err == nil && (v.A != v.B || v.B != v.C) {
				torn = fmt.Sprintf("LoadContext returned torn %+v", v)
			}
		})
		s.Check(func() string { return torn })
	}}
}

func TestExploreSeqLock(t *testing.T) {
	explore(t, seqLockModel(2))
}

// TestExploreSeqLockRegressions replays the schedule in which the
// explorer found a torn value with the SeqLock rule before tokens (an odd
// counter was always taken for a dead writer's, so a second writer wrote
// through a live one's Store): found after 13 schedules.
func TestExploreSeqLockRegressions(t *testing.T) {
	cfg := sw.Config{Strategy: sw.Random, Seed: 13, KillStep: 43, KillProc: 2, StepTime: 85 * time.Microsecond}
	if r := sw.Explore(cfg, seqLockModel(2).build); r.Failure != "" {
		t.Fatalf("%v: %s", cfg, r.Failure)
	}
}

// modelRing lays out a ring of capacity slots of slot bytes in Go memory
// for a model: its words (what invariants read the layout from), its
// bytes (for RingAt in each simulated process) and the ring.
func modelRing(slot, capacity int) ([]uint64, []byte, *Ring) {
	mem := make([]uint64, RingSize(slot, capacity)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8)
	r, err := InitRing(b, slot, capacity)
	if err != nil {
		panic(err)
	}
	return mem, b, r
}

// received records message k (producer, sequence) taken by one consumer
// goroutine of a ring model: got counts each message's arrivals, last is
// that consumer's latest sequence per producer. A second arrival, or a
// producer's messages out of order, sets *fail.
func received(got map[[2]int]int, last map[int]int, k [2]int, fail *string) {
	if got[k]++; got[k] > 1 {
		*fail = fmt.Sprintf("message %v received twice", k)
	}
	if l, seen := last[k[0]]; seen && k[1] <= l {
		*fail = fmt.Sprintf("producer %d's message %d after its %d", k[0], k[1], l)
	}
	last[k[0]] = k[1]
}

// ringModel: producers processes send msgs messages each (producer id and
// sequence number) with the blocking Send into a ring of capacity 2,
// consumers processes receive with TryRecv and Reclaim until every live
// producer is done and the ring is empty, and one more goroutine of the
// first producer's process calls Reclaim now and then (the repair of a
// dead claimant races with live traffic). Invariants: no message twice;
// each consumer sees each producer's messages in order; at the end every
// message whose Send returned was received, except at most one per
// killed consumer goroutine (the message it had claimed); every live
// goroutine finishes (a dead claimant never wedges the ring).
func ringModel(producers, consumers, msgs int) model {
	return ringModelWith(producers, consumers, msgs, Backoff)
}

// ringModelWith is ringModel with every Send and Recv under strategy
// strat (the variants run on a fifth of the schedules).
func ringModelWith(producers, consumers, msgs int, strat WaitStrategy) model {
	name, share := variant(fmt.Sprintf("Ring %dP%dC%d", producers, consumers, msgs), strat)
	return model{name: name, procs: producers + consumers, maxSteps: 30000, share: share, build: func(s *sw.Sim) {
		_, b, _ := modelRing(16, 2)
		ctx := WithWaitStrategy(context.Background(), strat)
		sent := map[[2]int]bool{}
		got := map[[2]int]int{}
		fail := ""
		finished := make([]bool, producers)
		var prods, cons []*sw.Proc
		for p := range producers {
			pr := s.Process()
			prods = append(prods, pr)
			s.Go(pr, func() {
				r, err := RingAt(b)
				if err != nil {
					panic(err)
				}
				for i := range msgs {
					if err := r.Send(ctx, []byte{byte(p), byte(i)}); err != nil {
						panic(err)
					}
					sent[[2]int{p, i}] = true
				}
				finished[p] = true
			})
			if p == 0 {
				s.Go(pr, func() {
					r, _ := RingAt(b)
					for range 3 {
						r.Reclaim()
					}
				})
			}
		}
		for range consumers {
			cp := s.Process()
			cons = append(cons, cp)
			s.Go(cp, func() {
				r, err := RingAt(b)
				if err != nil {
					panic(err)
				}
				last := map[int]int{}
				buf := make([]byte, 16)
				for {
					n, ok := r.TryRecv(buf)
					if ok {
						if n != 2 {
							fail = fmt.Sprintf("a message of %d bytes", n)
						}
						k := [2]int{int(buf[0]), int(buf[1])}
						received(got, last, k, &fail)
						continue
					}
					over := true // every producer finished or was killed
					for i, pr := range prods {
						over = over && (finished[i] || pr.Dead)
					}
					// Polling code repairs dead claimants itself (Reclaim's
					// contract): TryRecv never does.
					if r.Reclaim() == 0 && over && r.Len() == 0 {
						return
					}
					sw.Sleep(10 * time.Microsecond)
				}
			})
		}
		s.Check(func() string { return fail })
		s.StallOK(func() bool { return anyDead(cons) && !anyLive(cons) }) // nobody left to consume
		s.Final(func() string {
			if !anyLive(cons) {
				return "" // what is left in the ring has nobody to read it
			}
			lost := 0
			for k := range sent {
				if got[k] == 0 {
					lost++
				}
			}
			allowed := 0
			for _, c := range cons {
				if c.Dead {
					allowed++
				}
			}
			if lost > allowed {
				return fmt.Sprintf("%d sent messages never received, %d consumers killed", lost, allowed)
			}
			return ""
		})
	}}
}

func TestExploreRing(t *testing.T) {
	explore(t, ringModel(1, 1, 3))
	explore(t, ringModel(2, 1, 2))
	explore(t, ringModel(1, 2, 3))
	explore(t, ringModelWith(2, 1, 2, BusySpin))
	explore(t, ringModelWith(1, 2, 3, Block))
}

// ringSleepersModel: every goroutine blocks. producers processes send
// msgs messages each with Send into a ring of capacity 2; consumers
// processes run perProc goroutines each that Recv until they take a stop
// message; the last producer to finish sends one stop per consumer
// goroutine. So several goroutines, of one process and of several, sleep
// on each direction's epoch word at once, and a publication wakes one of
// them (wakeSleepers), passing the others over: the woken one must pass
// the wake-up on (Ring.passOn) while the direction stays ready.
// Invariants: whenever no goroutine can run and nobody was killed, no
// message is ready at head and no slot free at tail while a producer
// has messages left (a passed-over sleeper left asleep); no message
// twice; each consumer goroutine sees each producer's messages in order;
// with nobody killed every message arrives. A kill may leave the others
// asleep for good (a stop that a killed consumer took, a last producer
// that never sends the stops): no failure.
func ringSleepersModel(producers, consumers, perProc, msgs int, strat WaitStrategy) model {
	// Half the schedules (50,000 in CI; the Block variants a fifth of
	// that): several sleepers make long schedules.
	name, share := variant(fmt.Sprintf("Ring sleepers %dP%dCx%d", producers, consumers, perProc), strat)
	return model{name: name, procs: producers + consumers, killsMayStall: true, maxSteps: 40000, share: 2 * share, build: func(s *sw.Sim) {
		_, b, r := modelRing(16, 2)
		ctx := WithWaitStrategy(context.Background(), strat)
		sent := map[[2]int]bool{}
		got := map[[2]int]int{}
		fail := ""
		finished := make([]bool, producers)
		var prods, cons []*sw.Proc
		for p := range producers {
			pr := s.Process()
			prods = append(prods, pr)
			s.Go(pr, func() {
				r, err := RingAt(b)
				if err != nil {
					panic(err)
				}
				for i := range msgs {
					if err := r.Send(ctx, []byte{byte(p), byte(i)}); err != nil {
						panic(err)
					}
					sent[[2]int{p, i}] = true
				}
				finished[p] = true
				for i, o := range prods {
					if !finished[i] && !o.Dead {
						return // the last one sends the stops
					}
				}
				for range consumers * perProc {
					if err := r.Send(ctx, []byte{byte(p), 0xff}); err != nil {
						panic(err)
					}
				}
			})
		}
		for range consumers {
			cp := s.Process()
			cons = append(cons, cp)
			for range perProc {
				s.Go(cp, func() {
					r, err := RingAt(b)
					if err != nil {
						panic(err)
					}
					last := map[int]int{}
					buf := make([]byte, 16)
					for {
						n, err := r.Recv(ctx, buf)
						if err != nil || n != 2 {
							panic(fmt.Sprintf("Recv = %d, %v", n, err))
						}
						if buf[1] == 0xff {
							return
						}
						k := [2]int{int(buf[0]), int(buf[1])}
						received(got, last, k, &fail)
					}
				})
			}
		}
		s.Check(func() string { return fail })
		s.Idle(func() string {
			if anyDead(prods) || anyDead(cons) {
				return "" // a killed waker's sleepers sleep out their slice
			}
			if r.ready(true) {
				return fmt.Sprintf("a message is ready at head %d and every goroutine sleeps", r.head.Load())
			}
			if r.ready(false) && !allTrue(finished) {
				return fmt.Sprintf("slot %d is free at tail and every goroutine sleeps", r.tail.Load())
			}
			return ""
		})
		s.Final(func() string {
			if anyDead(prods) || anyDead(cons) {
				return ""
			}
			for k := range sent {
				if got[k] != 1 {
					return fmt.Sprintf("message %v received %d times", k, got[k])
				}
			}
			return ""
		})
	}}
}

// TestExploreRingSleepers runs ringSleepersModel: several sleepers on
// each side, within one process and across processes.
func TestExploreRingSleepers(t *testing.T) {
	explore(t, ringSleepersModel(2, 1, 2, 3, Block))
	explore(t, ringSleepersModel(1, 2, 2, 3, Block))
	explore(t, ringSleepersModel(3, 2, 1, 2, Backoff))
}

// TestExploreRingSleepersRegressions replays the schedule in which the
// explorer found a passed-over consumer asleep with a message ready when
// the woken one did not pass the wake-up on (Ring.passOn removed):
// schedule 323 of Ring sleepers 1P2Cx2 block.
func TestExploreRingSleepersRegressions(t *testing.T) {
	cfg := sw.Config{Strategy: sw.PCT, Seed: 323, MaxSteps: 40000, StepTime: 67 * time.Microsecond}
	if r := sw.Explore(cfg, ringSleepersModel(1, 2, 2, 3, Block).build); r.Failure != "" {
		t.Fatalf("%v: %s", cfg, r.Failure)
	}
}

// simDeadline is a context whose deadline is in the explorer's virtual
// time and whose Done never closes: the sleep's own timeout must end the
// wait at the deadline, as it does for a real deadline that wakes nobody
// (cancelWakes).
type simDeadline struct {
	context.Context
	dl   time.Time
	done chan struct{}
}

func (c simDeadline) Deadline() (time.Time, bool) { return c.dl, true }
func (c simDeadline) Done() <-chan struct{}       { return c.done }
func (c simDeadline) Err() error {
	if sw.Until(c.dl) <= 0 {
		return context.DeadlineExceeded
	}
	return nil
}

// ringDeadlineModel: a producer process sends msgs messages with pauses,
// then two stops; in the consumer process goroutine A receives with Recv
// and no deadline, while goroutine B calls Recv with a 300 µs deadline
// (virtual time) again and again, each until it takes a stop (B also
// once A is done), under strat. Invariants: a Recv
// of B fails only with DeadlineExceeded, and whenever no goroutine can
// run B does not sleep in Recv over 1 ms past its deadline (the sleep's
// timeout ends it there: the expiry wakes nobody); no message
// twice; with nobody killed, every message arrives; whenever no
// goroutine can run and nobody was killed, no message is ready at head.
func ringDeadlineModel(msgs int, strat WaitStrategy) model {
	// A twentieth of the schedules (5,000 in CI): B's polling makes them
	// long.
	name, share := variant(fmt.Sprintf("Ring deadline %d", msgs), strat)
	return model{name: name, procs: 2, killsMayStall: true, maxSteps: 40000, share: 20 * share, build: func(s *sw.Sim) {
		_, b, r := modelRing(16, 2)
		p, c := s.Process(), s.Process()
		fail := ""
		next, aDone := 0, false
		bIn, bDeadline := false, time.Duration(0)
		s.Go(p, func() {
			pr, _ := RingAt(b)
			for i := range msgs {
				sw.Sleep(time.Duration(200+300*(i%3)) * time.Microsecond)
				if err := pr.Send(context.Background(), []byte{byte(i)}); err != nil {
					panic(err)
				}
			}
			for range 2 { // a stop for each goroutine that may still wait
				if err := pr.Send(context.Background(), []byte{0xff}); err != nil {
					panic(err)
				}
			}
		})
		seen := make([]bool, msgs)
		got := func(buf []byte, n int) {
			// Two goroutines receive: claims come in order, their
			// returns need not.
			if n != 1 || int(buf[0]) >= msgs || seen[buf[0]] {
				fail = fmt.Sprintf("message %v arrived twice, or is garbage", buf[:n])
				return
			}
			seen[buf[0]] = true
			next++
		}
		s.Go(c, func() {
			cr, _ := RingAt(b)
			buf := make([]byte, 16)
			for {
				n, err := cr.Recv(WithWaitStrategy(context.Background(), strat), buf)
				if err != nil {
					panic(err)
				}
				if n == 1 && buf[0] == 0xff {
					break
				}
				got(buf, n)
			}
			aDone = true
		})
		s.Go(c, func() {
			cr, _ := RingAt(b)
			buf := make([]byte, 16)
			for !aDone {
				dl := sw.Now().Add(300 * time.Microsecond)
				bDeadline = s.Now() + 300*time.Microsecond // the same instant (Sim.Now does not yield)
				ctx := simDeadline{WithWaitStrategy(context.Background(), strat), dl, make(chan struct{})}
				bIn = true
				n, err := cr.Recv(ctx, buf)
				bIn = false
				switch {
				case err == nil && n == 1 && buf[0] == 0xff:
					return
				case err == nil:
					got(buf, n)
				case !errors.Is(err, context.DeadlineExceeded):
					panic(err)
				}
			}
		})
		s.Check(func() string { return fail })
		s.Idle(func() string {
			if !p.Dead && !c.Dead && r.ready(true) {
				return "a message is ready at head and every goroutine sleeps"
			}
			if bIn && !c.Dead && s.Now() > bDeadline+time.Millisecond {
				return fmt.Sprintf("B sleeps in Recv %v past its deadline", s.Now()-bDeadline)
			}
			return ""
		})
		s.Final(func() string {
			if !p.Dead && !c.Dead && next != msgs {
				return fmt.Sprintf("%d of %d messages arrived", next, msgs)
			}
			return ""
		})
	}}
}

// TestExploreRingDeadline runs ringDeadlineModel.
func TestExploreRingDeadline(t *testing.T) {
	explore(t, ringDeadlineModel(4, Backoff))
	explore(t, ringDeadlineModel(4, Block))
}

// ringBatchModel is ringModel with the batch form: producers processes
// send msgs messages each with SendBatch, batch at a time, into a ring
// of capacity 4 (so a batch claims several slots, or stops at a full
// ring and claims the rest later); consumers processes receive with
// TryRecvBatch (batch buffers; the second consumer with TryRecv, so
// single and batch claims race) and Reclaim; one more goroutine of the
// first producer's process calls Reclaim now and then. A process killed
// mid-batch leaves several consecutive slots claimed, or several claimed
// ones not yet passed by tail or head. Invariants: no message twice;
// each consumer sees each producer's messages in order; at the end every
// message of a SendBatch that returned was received, except at most
// batch per killed consumer (the messages its last claim held); every
// live goroutine finishes.
//
// With blocking, the one consumer waits in RecvBatch instead (the batch
// claim after a sleep), and every producer ends with a stop message
// (producer id, 0xff); the consumer returns once it has every live
// producer's stop. A killed producer sends no stop, so a schedule that
// killed one may end with the consumer asleep (StallOK); without a kill
// a consumer asleep at the end is a lost wake-up.
func ringBatchModel(producers, consumers, msgs, batch int, blocking bool) model {
	name := fmt.Sprintf("Ring batch %dP%dC%dx%d", producers, consumers, msgs, batch)
	if blocking {
		name += " blocking"
	}
	return model{name: name, procs: producers + consumers, maxSteps: 40000, build: func(s *sw.Sim) {
		mem, b, _ := modelRing(8, 4)
		ctx := context.Background()
		sent := map[[2]int]bool{}
		got := map[[2]int]int{}
		fail := ""
		finished := make([]bool, producers)
		var prods, cons []*sw.Proc
		for p := range producers {
			pr := s.Process()
			prods = append(prods, pr)
			s.Go(pr, func() {
				r, err := RingAt(b)
				if err != nil {
					panic(err)
				}
				out := make([][]byte, 0, batch)
				for i := 0; i < msgs; i += batch {
					out = out[:0]
					for j := i; j < min(i+batch, msgs); j++ {
						out = append(out, []byte{byte(p), byte(j)})
					}
					if n, err := r.SendBatch(ctx, out); err != nil || n != len(out) {
						panic(fmt.Sprintf("SendBatch = %d, %v", n, err))
					}
					for _, m := range out {
						sent[[2]int{p, int(m[1])}] = true
					}
				}
				finished[p] = true
				if blocking {
					if err := r.Send(ctx, []byte{byte(p), 0xff}); err != nil {
						panic(err)
					}
				}
			})
			if p == 0 {
				s.Go(pr, func() {
					r, _ := RingAt(b)
					for range 3 {
						r.Reclaim()
					}
				})
			}
		}
		for c := range consumers {
			cp := s.Process()
			cons = append(cons, cp)
			s.Go(cp, func() {
				r, err := RingAt(b)
				if err != nil {
					panic(err)
				}
				last := map[int]int{}
				bufs := make([][]byte, batch)
				stops := 0
				for {
					for i := range bufs {
						bufs[i] = make([]byte, 8)
					}
					n := 0
					if blocking {
						var err error
						if n, err = r.RecvBatch(ctx, bufs); err != nil || n == 0 {
							panic(fmt.Sprintf("RecvBatch = %d, %v", n, err))
						}
					} else if c == 1 {
						if k, ok := r.TryRecv(bufs[0]); ok {
							bufs[0], n = bufs[0][:k], 1
						}
					} else {
						n, _ = r.TryRecvBatch(bufs)
					}
					for _, m := range bufs[:n] {
						if len(m) != 2 {
							fail = fmt.Sprintf("a message of %d bytes", len(m))
							return
						}
						if m[1] == 0xff {
							stops++
							continue
						}
						k := [2]int{int(m[0]), int(m[1])}
						received(got, last, k, &fail)
					}
					if blocking {
						if stops == producers {
							return
						}
						continue
					}
					if n > 0 {
						continue
					}
					over := true // every producer finished or was killed
					for i, pr := range prods {
						over = over && (finished[i] || pr.Dead)
					}
					if r.Reclaim() == 0 && over && r.Len() == 0 {
						return
					}
					sw.Sleep(10 * time.Microsecond)
				}
			})
		}
		s.Check(func() string { return fail })
		s.StallOK(func() bool { return anyDead(cons) && !anyLive(cons) || blocking && anyDead(prods) })
		if blocking {
			// Nothing can run and nobody was killed (a killed publisher may
			// die before its wake-up call: the slice bounds that): the
			// consumer must not sleep on a committed message at head, nor
			// a producer on a free slot at tail. The words are read from
			// the memory itself (layout on Ring; stride 64).
			word := func(off int) uint64 { return mem[off/8] }
			state := func(pos uint64) uint64 { return word(RingHeaderSize + int(pos%4)*64) }
			s.Idle(func() string {
				if anyDead(prods) || anyDead(cons) || !anyLive(cons) {
					return ""
				}
				h, t := word(ringHeadOff), word(ringTailOff)
				if state(h) == ringPack(uint32(h+1), 0) {
					return fmt.Sprintf("message %d is committed at head and every goroutine sleeps", h)
				}
				if state(t) == ringPack(uint32(t), 0) && !allTrue(finished) {
					return fmt.Sprintf("slot %d is free at tail and every goroutine sleeps", t)
				}
				return ""
			})
		}
		s.Final(func() string {
			if !anyLive(cons) {
				return ""
			}
			lost := 0
			for k := range sent {
				if got[k] == 0 {
					lost++
				}
			}
			allowed := 0
			for _, c := range cons {
				if c.Dead {
					allowed += batch
				}
			}
			if lost > allowed {
				return fmt.Sprintf("%d sent messages never received, %d consumers killed", lost, allowed/batch)
			}
			return ""
		})
	}}
}

func allTrue(bs []bool) bool {
	for _, b := range bs {
		if !b {
			return false
		}
	}
	return true
}

func TestExploreRingBatch(t *testing.T) {
	explore(t, ringBatchModel(1, 1, 6, 3, false))
	explore(t, ringBatchModel(2, 1, 4, 2, false))
	explore(t, ringBatchModel(1, 2, 6, 3, false))
	explore(t, ringBatchModel(1, 1, 6, 3, true))
	explore(t, ringBatchModel(2, 1, 4, 2, true))
}

// reclaimRaceModel is the situation of the issue "reclaimSend moves head
// over a committed message": a consumer died holding position 0 of a full
// ring of 4 (its claim never released, head not moved), reclaimers
// goroutines of one process call Reclaim, a producer of another process
// sends message 4 with TrySend, and a consumer receives. Invariants: the
// consumer gets messages 1, 2, 3 and 4 in order (0 died with its
// claimant), none twice, and nothing wedges.
func reclaimRaceModel(reclaimers int) model {
	return model{name: fmt.Sprintf("Ring reclaim race x%d", reclaimers), procs: 4, maxSteps: 30000, build: func(s *sw.Sim) {
		_, b, r0 := modelRing(8, 4)
		for i := range 4 {
			r0.TrySend([]byte{byte(i)})
		}
		dead := s.Process()
		dead.Dead = true
		// The dead consumer's claim of position 0, as claimRecv writes it.
		r0.slot(0).state.Store(ringPack(1, dead.Token))
		fail := ""
		var got []byte
		rp := s.Process()
		for range reclaimers {
			s.Go(rp, func() {
				r, _ := RingAt(b)
				r.Reclaim()
			})
		}
		sp := s.Process()
		sent, sendOver := false, false
		s.Go(sp, func() {
			r, _ := RingAt(b)
			defer func() { sendOver = true }()
			for {
				if r.TrySend([]byte{4}) {
					sent = true
					return
				}
				r.Reclaim()
				sw.Sleep(5 * time.Microsecond)
			}
		})
		cp := s.Process()
		s.Go(cp, func() {
			r, _ := RingAt(b)
			buf := make([]byte, 8)
			for len(got) < 4 {
				if n, ok := r.TryRecv(buf); ok {
					got = append(got, buf[:n]...)
					continue
				}
				if r.Reclaim() == 0 && (sendOver || sp.Dead) && r.Len() == 0 {
					return
				}
				sw.Sleep(5 * time.Microsecond)
			}
		})
		s.StallOK(func() bool { return cp.Dead }) // the ring stays full: nobody reads
		s.Check(func() string { return fail })
		s.Final(func() string {
			if cp.Dead {
				return ""
			}
			want := "\x01\x02\x03"
			if sent {
				want += "\x04"
			}
			if sp.Dead && string(got) == "\x01\x02\x03\x04" {
				want = string(got) // killed after its commit, before TrySend returned
			}
			if string(got) != want {
				return fmt.Sprintf("received %v, want %v (sent 4: %v)", got, []byte(want), sent)
			}
			return ""
		})
	}}
}

func TestExploreRingReclaimRace(t *testing.T) {
	explore(t, reclaimRaceModel(2))
	explore(t, reclaimRaceModel(3))
}

// TestExploreRingRegressions replays schedules in which the explorer
// found issue 14's bug 2 with the fix reverted (reclaimSend moved head by
// a stale sighting and lost message 1): schedules 18,451 and 6,934 of
// reclaim race x2 (the second with the model's consumer polling until the
// sender is over). Both fail on the old reclaimSend.
func TestExploreRingRegressions(t *testing.T) {
	for _, cfg := range []sw.Config{
		{Strategy: sw.Random, Seed: 18451, MaxSteps: 30000, StepTime: 64 * time.Microsecond},
		{Strategy: sw.Random, Seed: 6934, MaxSteps: 30000, KillStep: 84, KillProc: 3, StepTime: 21 * time.Microsecond},
	} {
		if r := sw.Explore(cfg, reclaimRaceModel(2).build); r.Failure != "" {
			t.Errorf("%v: %s", cfg, r.Failure)
		}
	}
}

// initRingModel: three processes call InitRing on the same zeroed bytes
// at once (any of them may be killed half-way through laying the ring
// out), then the first sends two messages and the second receives them.
// Invariants: every InitRing of a live process succeeds (a dead
// initialiser is taken over, a live one waited for); the messages arrive;
// afterwards the ring is valid for RingAt and carries a full lap.
func initRingModel() model {
	return model{name: "InitRing", procs: 3, maxSteps: 30000, build: func(s *sw.Sim) {
		mem := make([]uint64, RingSize(8, 2)/8)
		b := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8)
		fail := ""
		got := 0
		ps := make([]*sw.Proc, 3)
		for i := range 3 {
			ps[i] = s.Process()
			s.Go(ps[i], func() {
				r, err := InitRing(b, 8, 2)
				if err != nil {
					fail = fmt.Sprintf("InitRing of process %d: %v", i+1, err)
					return
				}
				ctx := context.Background()
				switch i {
				case 0:
					for m := range 2 {
						if err := r.Send(ctx, []byte{byte(m)}); err != nil {
							fail = err.Error()
						}
					}
				case 1:
					buf := make([]byte, 8)
					for m := range 2 {
						n, err := r.Recv(ctx, buf)
						if err != nil || n != 1 || buf[0] != byte(m) {
							fail = fmt.Sprintf("Recv %d = %v, %v", m, buf[:n], err)
						}
						got++
					}
				}
			})
		}
		s.Check(func() string { return fail })
		s.StallOK(func() bool { return ps[0].Dead || ps[1].Dead }) // a peer of the exchange died
		s.Final(func() string {
			r, err := RingAt(b)
			if err != nil {
				if anyDead(ps) && errors.Is(err, ErrNotReady) {
					return "" // the last initialiser was killed: the next InitRing takes over
				}
				return fmt.Sprintf("RingAt after the schedule: %v", err)
			}
			buf := make([]byte, 8)
			r.Reclaim() // a killed sender's or receiver's claim
			for range 2 * r.Cap() {
				r.TryRecv(buf) // what a killed receiver left
			}
			for i := range 2 * r.Cap() {
				if !r.TrySend([]byte{byte(i)}) && (r.Reclaim() == 0 || !r.TrySend([]byte{byte(i)})) {
					return fmt.Sprintf("ring wedged: TrySend %d failed", i)
				}
				if _, ok := r.TryRecv(buf); !ok {
					return fmt.Sprintf("ring wedged: TryRecv %d failed", i)
				}
			}
			return ""
		})
	}}
}

func TestExploreInitRing(t *testing.T) {
	explore(t, initRingModel())
}

// rwMutexModel: readers goroutines in each of two reader processes and a
// writer process share an RWMutex; the reader processes' tokens (9 and
// 17) share their first slot, the collision of issue 14's bug 1. Each
// reader takes the read lock twice, the writer the write lock twice.
// Invariants: a live writer is never inside with a live reader or another
// writer; no lost wake-up (nothing can run, nobody killed, nobody inside,
// yet somebody waits); every live goroutine finishes (dead readers and
// writers are recovered from: ErrOwnerDead, then MarkConsistent by a
// writer).
func rwMutexModel(readers int) model {
	return model{name: fmt.Sprintf("RWMutex 2x%d readers, 1 writer", readers), procs: 3, maxSteps: 40000, build: func(s *sw.Sim) {
		var rw RWMutex
		var dummy uint32
		rin := map[*sw.Proc]int{}
		win := map[*sw.Proc]int{}
		waiting := 0
		var ps []*sw.Proc
		for _, tok := range []uint32{9, 17} {
			p := s.ProcessWithToken(tok)
			ps = append(ps, p)
			for range readers {
				s.Go(p, func() {
					for range 2 {
						waiting++
						err := rw.RLockContext(context.Background())
						waiting--
						if errors.Is(err, ErrOwnerDead) {
							continue // refused, nothing held
						} else if err != nil {
							panic(err)
						}
						rin[p]++
						sw.LoadUint32(&dummy)
						rin[p]--
						rw.RUnlock()
					}
				})
			}
		}
		wp := s.ProcessWithToken(3)
		ps = append(ps, wp)
		s.Go(wp, func() {
			for range 2 {
				waiting++
				dirty := false
				err := rw.LockContext(context.Background())
				if errors.Is(err, ErrOwnerDead) {
					dirty, err = rw.LockRecover(nil) // refused, nothing held
				}
				waiting--
				if err != nil {
					panic(err)
				}
				if dirty {
					rw.MarkConsistent()
				}
				win[wp]++
				sw.LoadUint32(&dummy)
				win[wp]--
				rw.Unlock()
			}
		})
		count := func(m map[*sw.Proc]int) int {
			n := 0
			for p, k := range m {
				if !p.Dead {
					n += k
				}
			}
			return n
		}
		s.Check(func() string {
			if w, r := count(win), count(rin); w > 1 || w == 1 && r > 0 {
				return fmt.Sprintf("%d writers and %d readers inside", w, r)
			}
			for i := range rw.slots {
				if h := rw.slots[i].v >> 32; h > 1<<20 {
					return fmt.Sprintf("reader slot %d underflowed: %#x", i, rw.slots[i].v)
				}
			}
			if msg := rw.rwait.broken(uint32(2 * readers)); msg != "" {
				return "the readers' count " + msg
			}
			return ""
		})
		s.Final(func() string {
			if !anyDead(ps) && (rw.rwait.n() != 0 || waiters(rw.w.state) != 0) {
				return fmt.Sprintf("nobody was killed, all are done, and a count is left: rwait %#x, writer %#x", rw.rwait.word, rw.w.state)
			}
			return ""
		})
		s.Idle(func() string {
			if waiting > 0 && !anyDead(ps) && count(win) == 0 && count(rin) == 0 {
				return fmt.Sprintf("nobody is inside and %d goroutines wait (rstate %#x, writer %#x)", waiting, rw.rstate, rw.w.state)
			}
			return ""
		})
	}}
}

func TestExploreRWMutex(t *testing.T) {
	explore(t, rwMutexModel(1))
	explore(t, rwMutexModel(2))
}

// TestExploreRWMutexRegressions replays the schedule in which the
// explorer found issue 14's bug 1 with the old slot rules (takeSlot
// claiming a free first slot beside one of ours, the back-out dropping a
// hold from its own slot): slot 8 became token 0 with 2^32-1 holds, at
// schedule 352 of the 2x2 model, no process killed; and the one in which
// it found the waitCount's epoch reused (see waitCount): a reader that
// had read an empty count before two others registered in epoch 3 and a
// recount dropped them registered in epoch 3 too, so that 4 readers
// slept on the gate counted as 2 and the writer's wake-up left one asleep
// (schedule 16057 of 20,000 of the 2x2 model, no process killed, with the
// readers' stripes of sw.Stripe).
func TestExploreRWMutexRegressions(t *testing.T) {
	for _, cfg := range []sw.Config{
		{Strategy: sw.Random, Seed: 352, MaxSteps: 40000, StepTime: 34 * time.Microsecond},
		{Strategy: sw.Random, Seed: 16057, MaxSteps: 40000, StepTime: 100 * time.Microsecond},
	} {
		if r := sw.Explore(cfg, rwMutexModel(2).build); r.Failure != "" {
			t.Errorf("%v: %s", cfg, r.Failure)
		}
	}
}

// headerModel: a creator process writes a segment header and marks it
// ready while two opener processes wait for it (waitReady, then
// ParseHeader); the creator may be killed before it marks it. Invariants:
// an opener either parses exactly the header written or, when the creator
// died first or had not finished within the opener's wait, gets
// ErrNotReady: never a half-written header, never a misread one.
func headerModel() model {
	return model{name: "header init", procs: 3, build: func(s *sw.Sim) {
		h := layoutFor(LockMutex, 2)
		h.DataSize, h.CreatorPID, h.CreatorToken = 64, 7, 1
		mem := make([]uint64, (h.DataOffset+h.DataSize)/8)
		b := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8)
		fail := ""
		creator := s.Process()
		done := false // the creator's markReady has returned
		s.Go(creator, func() {
			encodeHeader(b, h)
			markReady(b)
			done = true
		})
		for range 2 {
			s.Go(s.Process(), func() {
				err := waitReady(b, 2*time.Millisecond)
				if err == nil {
					var got HeaderInfo
					if got, err = ParseHeader(b); err == nil && got != h {
						fail = fmt.Sprintf("parsed %+v, wrote %+v", got, h)
					}
				}
				// Not ready is right when the creator died first, or is
				// slower than the opener's 2 ms (virtual time runs on
				// while the creator waits for a step).
				if err != nil && !((creator.Dead || !done) && errors.Is(err, ErrNotReady)) {
					fail = fmt.Sprintf("opener: %v (creator killed: %v)", err, creator.Dead)
				}
			})
		}
		s.Check(func() string { return fail })
	}}
}

func TestExploreHeader(t *testing.T) {
	explore(t, headerModel())
}

// broken describes what is wrong with a waitCount of at most max
// registrations ("" if nothing is): the explorer's check of its table.
func (c *waitCount) broken(max uint32) string {
	n, e := c.word&waitCountMask, c.word>>waitEpochShift
	if n > max || n != 0 && e == 0 {
		return fmt.Sprintf("is broken: %#x (%d registrations, epoch %d)", c.word, n, e)
	}
	return ""
}
