//go:build shmxexplore

package word

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"time"
	"unsafe"
)

// Strategy picks which runnable simulated goroutine takes the next step.
type Strategy int

const (
	// Random picks uniformly at every step.
	Random Strategy = iota
	// PCT gives goroutines random priorities and lowers the running one's
	// at a few random steps (Burckhardt et al., "A Randomized Scheduler
	// with Probabilistic Guarantees of Finding Bugs", ASPLOS 2010): bugs
	// that need few ordering constraints are found with high probability.
	PCT
	// Exhaustive enumerates schedules depth-first, one per Explore call
	// (Config.Script selects the branch, see Result.Next), with at most
	// Config.Preemptions preemptions each (CHESS's and loom's bound): at
	// every step the goroutine that ran last goes on unless the script
	// switches to another, and a switch away from one that could go on
	// is a preemption. Every schedule of up to that many preemptions is
	// visited, which is where most concurrency bugs are.
	Exhaustive
)

func (s Strategy) String() string {
	return [...]string{"random", "pct", "exhaustive"}[s]
}

// Config is one schedule to run. A failing schedule prints its Config,
// which replays it exactly.
type Config struct {
	Strategy Strategy
	Seed     uint64
	// MaxSteps bounds the schedule: more steps than this is a livelock or
	// a stall (default 20,000).
	MaxSteps int
	// KillStep, if > 0, kills simulated process KillProc just before step
	// KillStep (if it still runs then).
	KillStep, KillProc int
	// StepTime is how far the virtual clock moves per step (default 1 µs).
	StepTime time.Duration
	// PCTDepth is the number of priority change points (default 3).
	PCTDepth int
	// Script holds the choices of an Exhaustive schedule.
	Script []int
	// Preemptions bounds an Exhaustive schedule's preemptions (default 2).
	Preemptions int
	// Trace keeps a line per memory operation in Result.Trace (slow: for
	// replaying a failure).
	Trace bool
}

// String is the replay line of c.
func (c Config) String() string {
	s := fmt.Sprintf("word.Config{Strategy: %v, Seed: %d, MaxSteps: %d, KillStep: %d, KillProc: %d, StepTime: %v}", c.Strategy, c.Seed, c.MaxSteps, c.KillStep, c.KillProc, c.StepTime)
	if c.Strategy == Exhaustive {
		s += fmt.Sprintf(" Script: %v", c.Script)
	}
	return s
}

// Result says how a schedule went.
type Result struct {
	Config  Config
	Steps   int
	Killed  bool   // KillProc was killed
	Stalled bool   // did not end, and a StallOK condition said why
	Failure string // "" when every invariant held
	// Next is the Script of the next Exhaustive schedule, nil after the
	// last one.
	Next []int
	// Trace is what Config.Trace asked for.
	Trace []string
}

// Proc is a simulated process: its own token, its goroutines.
type Proc struct {
	Token uint32
	Dead  bool
	index int
}

// Sim is one schedule being run. Set-up code (the function given to
// Explore) makes processes and goroutines and registers invariants; the
// explorer then runs the goroutines one step at a time.
type Sim struct {
	cfg        Config
	rng        *rand.Rand
	procs      []*Proc
	threads    []*thread
	cur        *thread
	back       chan struct{}
	now        time.Duration
	steps      int
	waiters    map[*uint32][]*thread
	checks     []func() string
	idles      []func() string
	finals     []func() string
	stallOK    []func() bool
	stallSince time.Duration // when a StallOK condition began to hold, -1 if not
	failure    string
	trace      []string
	// PCT
	changes []int
	lastID  int // the goroutine that took the previous step
	streak  int // steps in a row it took
	lowest  int // the lowest priority given so far
	// Exhaustive
	choices   []int // choices made, per branching step
	options   []int // number of options at each branching step
	preempted int   // preemptions so far
}

type threadState int

const (
	runnable threadState = iota
	blocked
	done
)

type thread struct {
	id       int
	proc     *Proc
	fn       func()
	resume   chan bool
	state    threadState
	addrs    []*uint32 // the words it sleeps on (several for WaitAny)
	woke     int       // the index in addrs of the word whose Wake woke it, -1 if none
	deadline time.Duration
	prio     int
	panicked any
	paused   bool // its last step was a Pause: it spins, waiting for another
	ran      int  // the step it last took
}

// sim is the schedule running now; one at a time.
var sim *Sim

// running returns the schedule and the simulated goroutine taking a step
// now, or nils outside one.
func running() (*Sim, *thread) {
	if s := sim; s != nil && s.cur != nil {
		return s, s.cur
	}
	return nil, nil
}

// yield ends the current step: the explorer may run another goroutine
// before this one continues. A goroutine of a killed process never
// continues (runtime.Goexit: its deferred calls stop at their first
// shared-memory access, as a SIGKILL would stop them).
func yield() {
	s, t := running()
	if s == nil {
		return
	}
	if t.proc.Dead {
		runtime.Goexit()
	}
	s.back <- struct{}{}
	if !<-t.resume {
		runtime.Goexit()
	}
}

// Process makes a simulated process with the next token (1, 2, ...).
func (s *Sim) Process() *Proc {
	p := &Proc{Token: uint32(len(s.procs) + 1), index: len(s.procs)}
	s.procs = append(s.procs, p)
	return p
}

// ProcessWithToken makes a simulated process with a chosen token, for
// models that need two tokens to collide somewhere (a hash, a slot).
func (s *Sim) ProcessWithToken(token uint32) *Proc {
	p := s.Process()
	p.Token = token
	return p
}

// Go starts fn as a goroutine of process p.
func (s *Sim) Go(p *Proc, fn func()) {
	t := &thread{id: len(s.threads), proc: p, fn: fn, resume: make(chan bool)}
	t.prio = s.rng.IntN(1 << 30)
	s.threads = append(s.threads, t)
}

// Check registers an invariant checked after every step: it returns ""
// when it holds, or what is wrong.
func (s *Sim) Check(f func() string) { s.checks = append(s.checks, f) }

// Idle registers a progress condition checked whenever no goroutine can
// run: it returns "" when that is legitimate (everybody waits for
// something that can only come later, such as a dead holder's recovery at
// the end of a wait slice), or what should have run: a lost wake-up.
func (s *Sim) Idle(f func() string) { s.idles = append(s.idles, f) }

// StallOK registers a condition under which a schedule that does not
// end within MaxSteps is no failure (the others wait for good for what a
// killed process would have done, by design); Result.Stalled reports it.
func (s *Sim) StallOK(f func() bool) { s.stallOK = append(s.stallOK, f) }

// stallTime is how long, in virtual time, a schedule whose StallOK
// condition holds may go on with nothing but sleeps before the explorer
// ends it as stalled (instead of running it to MaxSteps).
const stallTime = time.Second

// stalled reports whether a StallOK condition has held, and everybody
// only slept, for stallTime.
func (s *Sim) stalled() bool {
	ok := false
	for _, f := range s.stallOK {
		ok = ok || f()
	}
	if !ok {
		s.stallSince = -1
		return false
	}
	if s.stallSince < 0 {
		s.stallSince = s.now
	}
	return s.now-s.stallSince >= stallTime
}

// Final registers a check run after every live goroutine has finished.
func (s *Sim) Final(f func() string) { s.finals = append(s.finals, f) }

// Now is the virtual time since the schedule started.
func (s *Sim) Now() time.Duration { return s.now }

// Steps is the number of steps taken so far.
func (s *Sim) Steps() int { return s.steps }

// Explore runs one schedule: setup makes the processes, goroutines and
// invariants, then the explorer runs them to the end, killing
// cfg.KillProc at cfg.KillStep if asked.
func Explore(cfg Config, setup func(*Sim)) Result {
	if cfg.MaxSteps <= 0 {
		cfg.MaxSteps = 20000
	}
	if cfg.StepTime <= 0 {
		cfg.StepTime = time.Microsecond
	}
	if cfg.PCTDepth <= 0 {
		cfg.PCTDepth = 3
	}
	if cfg.Preemptions <= 0 {
		cfg.Preemptions = 2
	}
	s := &Sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		back: make(chan struct{}), waiters: map[*uint32][]*thread{}, lastID: -1, stallSince: -1}
	if sim != nil {
		panic("word: Explore while another exploration runs")
	}
	setup(s)
	if cfg.Strategy == PCT {
		for range cfg.PCTDepth - 1 {
			s.changes = append(s.changes, s.rng.IntN(max(cfg.MaxSteps/8, 1)))
		}
	}
	sim = s
	defer func() { sim = nil }()
	for _, t := range s.threads {
		go s.body(t)
	}
	res := Result{Config: cfg}
	s.run(&res)
	s.stopAll()
	res.Steps, res.Trace = s.steps, s.trace
	if res.Failure == "" {
		res.Failure = s.failure
	}
	if cfg.Strategy == Exhaustive {
		res.Next = s.nextScript()
	}
	return res
}

// body runs a simulated goroutine: it waits for its first step, runs, and
// reports its end (also when it was killed, or panicked).
func (s *Sim) body(t *thread) {
	defer func() {
		if r := recover(); r != nil {
			t.panicked = r
		}
		t.state = done
		s.back <- struct{}{}
	}()
	if !<-t.resume {
		runtime.Goexit()
	}
	t.fn()
}

func (s *Sim) run(res *Result) {
	for {
		if msg := s.check(s.checks); msg != "" {
			res.Failure = fmt.Sprintf("step %d: invariant: %s", s.steps, msg)
			return
		}
		for _, t := range s.threads {
			if t.panicked != nil {
				res.Failure = fmt.Sprintf("step %d: goroutine %d of process %d panicked: %v", s.steps, t.id, t.proc.Token, t.panicked)
				return
			}
		}
		if s.cfg.KillStep > 0 && s.steps == s.cfg.KillStep && s.cfg.KillProc < len(s.procs) && !s.procs[s.cfg.KillProc].Dead {
			s.kill(s.procs[s.cfg.KillProc])
			res.Killed = true
		}
		ready := s.ready()
		if len(ready) == 0 {
			if s.allDone() {
				if msg := s.check(s.finals); msg != "" {
					res.Failure = fmt.Sprintf("step %d: at the end: %s", s.steps, msg)
				}
				return
			}
			if msg := s.check(s.idles); msg != "" {
				res.Failure = fmt.Sprintf("step %d: lost wake-up: nothing can run, yet %s", s.steps, msg)
				return
			}
			if !s.timeOut() {
				res.Failure = fmt.Sprintf("step %d: deadlock: every live goroutine waits with no deadline", s.steps)
				return
			}
			if s.stalled() {
				res.Stalled = true
				return
			}
			continue
		}
		if s.steps >= s.cfg.MaxSteps {
			for _, f := range s.stallOK {
				if f() {
					res.Stalled = true
					return
				}
			}
			res.Failure = fmt.Sprintf("no end within %d steps (%v virtual): a stall or livelock", s.steps, s.now)
			return
		}
		t := s.starved(ready)
		if t == nil {
			t = s.pick(ready)
		}
		t.ran = s.steps
		s.cur = t
		t.resume <- true
		<-s.back
		s.cur = nil
		s.steps++
		s.now += s.cfg.StepTime
		s.expire()
	}
}

// expire makes runnable the blocked goroutines whose deadline virtual
// time has reached while others ran: a timed sleep ends on time even
// when other goroutines never block (a busy-spinning poller), as a real
// one does.
//
// Such a goroutine gives way, as one that Pauses does: it slept so that
// others could run, and a bounded-preemption enumeration that let it run
// on would spin its poll loop for ever.
func (s *Sim) expire() {
	for _, t := range s.threads {
		if t.state == blocked && !t.proc.Dead && t.deadline <= s.now {
			s.unqueue(t)
			t.state, t.paused = runnable, true
		}
	}
}

func (s *Sim) check(fs []func() string) string {
	for _, f := range fs {
		if msg := f(); msg != "" {
			return msg
		}
	}
	return ""
}

func (s *Sim) ready() []*thread {
	var r []*thread
	for _, t := range s.threads {
		if t.state == runnable && !t.proc.Dead {
			r = append(r, t)
		}
	}
	return r
}

func (s *Sim) allDone() bool {
	for _, t := range s.threads {
		if t.state != done && !t.proc.Dead {
			return false
		}
	}
	return true
}

// starveSteps bounds how long a runnable goroutine waits while others
// take steps: real schedulers are fair, and a schedule that starves a
// goroutine for ever (every other one polling or sleeping in a loop that
// only it can end) is a livelock of the schedule, not of the protocol.
const starveSteps = 2000

// starved returns the runnable goroutine that has waited longest, if it
// has waited starveSteps steps or more, else nil. Such a step is no
// choice of the strategy (an exhaustive enumeration does not branch on it).
func (s *Sim) starved(ready []*thread) *thread {
	for _, t := range s.threads {
		if t.state != runnable {
			t.ran = s.steps // a wait counts only while it could run
		}
	}
	var worst *thread
	for _, t := range ready {
		if s.steps-t.ran >= starveSteps && (worst == nil || t.ran < worst.ran) {
			worst = t
		}
	}
	if worst != nil {
		s.lastID = worst.id
	}
	return worst
}

// pick chooses the goroutine of the next step.
func (s *Sim) pick(ready []*thread) *thread {
	switch s.cfg.Strategy {
	case PCT:
		for _, c := range s.changes {
			if c == s.steps {
				// Lower the priority of the goroutine that ran last.
				if last := s.last(); last != nil {
					s.lowest--
					last.prio = s.lowest
				}
			}
		}
		// A goroutine that paused (it spins on a word another must
		// change) drops to the lowest priority, as a spinner does below.
		for _, t := range ready {
			if t.paused && len(ready) > 1 {
				t.paused = false
				s.lowest--
				t.prio = s.lowest
			}
		}
		best := ready[0]
		for _, t := range ready[1:] {
			if t.prio > best.prio {
				best = t
			}
		}
		// A goroutine that takes pctSpin steps in a row while others
		// could run is presumed to spin on a word another must change
		// (PCT assumes goroutines block): it drops to the lowest
		// priority, so that strict priorities never livelock a spin loop.
		if best.id == s.lastID && len(ready) > 1 {
			if s.streak++; s.streak >= pctSpin {
				s.lowest--
				best.prio = s.lowest
				s.streak = 0
			}
		} else {
			s.streak = 0
		}
		s.lastID = best.id
		return best
	case Exhaustive:
		// Option 0 is the goroutine that ran last, if it can go on and
		// did not Pause: a spinner that pauses gives way (a switch that
		// costs no preemption), or a spin loop would never let the
		// goroutine it waits for run.
		if last := s.last(); last != nil && last.paused && len(ready) > 1 {
			last.paused = false
			for i, t := range ready {
				if t == last {
					ready = append(append(ready[:i:i], ready[i+1:]...), last)
					break
				}
			}
			s.lastID = -1
		}
		if last := s.last(); last != nil {
			for i, t := range ready {
				if t == last && i > 0 {
					ready = append([]*thread{last}, append(ready[:i:i], ready[i+1:]...)...)
					break
				}
			}
		}
		canGoOn := s.last() != nil && ready[0] == s.last()
		if len(ready) == 1 || canGoOn && s.preempted >= s.cfg.Preemptions {
			s.lastID = ready[0].id
			return ready[0]
		}
		i := len(s.choices)
		c := 0
		if i < len(s.cfg.Script) {
			c = min(s.cfg.Script[i], len(ready)-1)
		}
		if c != 0 && canGoOn {
			s.preempted++
		}
		s.choices = append(s.choices, c)
		s.options = append(s.options, len(ready))
		s.lastID = ready[c].id
		return ready[c]
	}
	s.lastID = -1
	return ready[s.rng.IntN(len(ready))]
}

// pctSpin is how many steps in a row make a goroutine a spinner under PCT.
const pctSpin = 64

// last returns the goroutine that took the previous step under PCT.
func (s *Sim) last() *thread {
	if s.lastID < 0 || s.lastID >= len(s.threads) {
		return nil
	}
	return s.threads[s.lastID]
}

// nextScript is the next branch of a depth-first enumeration.
func (s *Sim) nextScript() []int {
	for i := len(s.choices) - 1; i >= 0; i-- {
		if s.choices[i]+1 < s.options[i] {
			next := append([]int(nil), s.choices[:i]...)
			return append(next, s.choices[i]+1)
		}
	}
	return nil
}

// block parks t on the words addrs until a Wake of any or the deadline.
func (s *Sim) block(t *thread, addrs []*uint32, timeout time.Duration) {
	t.state, t.addrs, t.woke, t.deadline = blocked, addrs, -1, s.now+timeout
	for _, a := range addrs {
		s.waiters[a] = append(s.waiters[a], t)
	}
}

// wake makes up to n waiters of addr runnable, oldest first; a waiter of
// several words leaves every queue.
func (s *Sim) wake(addr *uint32, n int) int {
	k := 0
	for k < n && len(s.waiters[addr]) > 0 {
		t := s.waiters[addr][0]
		for i, a := range t.addrs {
			if a == addr && t.woke < 0 {
				t.woke = i
			}
		}
		s.unqueue(t)
		t.state = runnable
		k++
	}
	return k
}

// unqueue removes t from its wait queues.
func (s *Sim) unqueue(t *thread) {
	for _, a := range t.addrs {
		q := s.waiters[a]
		for i, x := range q {
			if x == t {
				q = append(q[:i:i], q[i+1:]...)
				break
			}
		}
		if len(q) == 0 {
			delete(s.waiters, a)
		} else {
			s.waiters[a] = q
		}
	}
	t.addrs = nil
}

// timeOut moves the clock to the earliest deadline of a live waiter and
// makes the waiters due runnable; false if nobody has a deadline.
func (s *Sim) timeOut() bool {
	first := time.Duration(-1)
	for _, t := range s.threads {
		if t.state == blocked && !t.proc.Dead && (first < 0 || t.deadline < first) {
			first = t.deadline
		}
	}
	if first < 0 {
		return false
	}
	s.now = max(s.now, first)
	for _, t := range s.threads {
		if t.state == blocked && !t.proc.Dead && t.deadline <= s.now {
			s.unqueue(t)
			t.state = runnable
		}
	}
	return true
}

// kill kills p: its goroutines never take another step.
func (s *Sim) kill(p *Proc) {
	p.Dead = true
	for _, t := range s.threads {
		if t.proc == p && t.state == blocked {
			s.unqueue(t)
		}
	}
}

// stopAll ends every goroutine that has not finished (killed ones, or all
// of them after a failure), so that none outlives the schedule.
func (s *Sim) stopAll() {
	for _, t := range s.threads {
		if t.state == done {
			continue
		}
		if t.state == blocked {
			s.unqueue(t)
		}
		s.cur = t
		t.proc.Dead = true // its deferred calls must not touch memory
		t.resume <- false
		<-s.back
		s.cur = nil
	}
}

// rec notes an operation of the running goroutine in the trace.
func rec(op string, p unsafe.Pointer, v uint64) {
	if s, t := running(); s != nil && s.cfg.Trace {
		s.trace = append(s.trace, fmt.Sprintf("%6d %8v g%d/p%d %-18s %p = %#x", s.steps, s.now, t.id, t.proc.Token, op, p, v))
	}
}

func recCAS(p unsafe.Pointer, o, n uint64, ok bool) {
	if s, t := running(); s != nil && s.cfg.Trace {
		s.trace = append(s.trace, fmt.Sprintf("%6d %8v g%d/p%d %-18s %p %#x -> %#x: %v", s.steps, s.now, t.id, t.proc.Token, "cas", p, o, n, ok))
	}
}

// Note adds a line to the trace of the running schedule (for models).
func Note(format string, args ...any) {
	if s, t := running(); s != nil && s.cfg.Trace {
		s.trace = append(s.trace, fmt.Sprintf("%6d %8v g%d/p%d ", s.steps, s.now, t.id, t.proc.Token)+fmt.Sprintf(format, args...))
	}
}

// Describe lists the goroutines' states, for failure messages.
func (s *Sim) Describe() string {
	var b strings.Builder
	for _, t := range s.threads {
		st := [...]string{"runnable", "blocked", "done"}[t.state]
		if t.proc.Dead {
			st += " (killed)"
		}
		fmt.Fprintf(&b, "goroutine %d of process %d: %s; ", t.id, t.proc.Token, st)
	}
	return b.String()
}
