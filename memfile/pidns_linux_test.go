package memfile

// Locks across pid namespaces: the processes of a segment may each be pid
// 1 of their own namespace (the containers of one Kubernetes pod share
// /dev/shm, not their pids), so no lock may judge a holder by its pid. A
// live holder in another namespace keeps its lock however long a waiter
// waits; a killed one is recovered at once. The helper children run under
// unshare (testproc.CommandInPidNS); the tests need root and are skipped
// without it (never in a native root CI run: testproc.RequirePidNS).

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/internal/testproc"
)

// nsProc is the block through which the parent and one process of a
// pid-namespace test talk, at index i of the segment's user data (see
// nsBlocks). Every field is atomic: the processes share it outside the
// lock under test.
type nsProc struct {
	pid     atomic.Uint32 // its pid as it sees itself (1 in a new namespace)
	token   atomic.Uint32 // live.Self()
	ns      atomic.Uint64 // live.Namespace()
	state   atomic.Uint32 // progress, nsJoined...: written by the process
	cmd     atomic.Uint32 // orders, nsRelease/nsGo, nsExit: written by the parent
	result1 atomic.Uint32 // first lock attempt, resNil...
	result2 atomic.Uint32 // second lock attempt
	done1   atomic.Int64  // CLOCK_MONOTONIC (ns) when the first attempt returned
	_       [24]byte
}

// Progress (nsProc.state).
const (
	nsJoined   = 1 + iota // opened the segment
	nsHolding             // holder: holds the lock in its mode
	nsReleased            // holder: released it
	nsWaiting             // waiter: about to call LockContext
	nsDone1               // waiter: first attempt returned
	nsDone2               // waiter: second attempt returned
	nsFailed              // something went wrong (the child's log says what)
)

// Orders (nsProc.cmd).
const (
	nsRelease = 1 // holder: unlock; waiter: make the second attempt
	nsExit    = 2 // holder: return
)

// Results of a lock attempt.
const (
	resNil       = 1 + iota // got the lock
	resDeadline             // context.DeadlineExceeded
	resOwnerDead            // ErrOwnerDead, with the lock
	resOther                // anything else
)

var resNames = map[uint32]string{0: "none yet", resNil: "nil (locked)", resDeadline: "DeadlineExceeded", resOwnerDead: "ErrOwnerDead", resOther: "another error"}

func resultOf(err error) uint32 {
	switch {
	case err == nil:
		return resNil
	case errors.Is(err, context.DeadlineExceeded):
		return resDeadline
	case errors.Is(err, ErrOwnerDead):
		return resOwnerDead
	}
	return resOther
}

const nsBlocksN = 4

// nsBlocks returns the blocks at the start of f's user data.
func nsBlocks(f *MemFile) *[nsBlocksN]nsProc {
	b := f.Bytes()
	if len(b) < int(unsafe.Sizeof([nsBlocksN]nsProc{})) || uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		panic("memfile test: user data too small or unaligned for the pid-namespace blocks")
	}
	return (*[nsBlocksN]nsProc)(unsafe.Pointer(&b[0]))
}

// monoNow is CLOCK_MONOTONIC in nanoseconds: one clock for every process
// of the machine, in every pid namespace.
func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

// Lock modes of the processes of a test.
const (
	modeWrite = "write" // LockContext
	modeRead  = "read"  // RLockContext (RWMutex only)
	modeNone  = "none"  // join only
	modeSem   = "sem"   // holder: Acquire both units of the Semaphore at nsSemOff
)

// nsSemOff is where the pid-namespace tests place a Semaphore of
// capacity 2 in the segment's user data, after the blocks.
const nsSemOff = 512

// nsSem returns that Semaphore.
func nsSem(t *testing.T, f *MemFile) *Semaphore {
	t.Helper()
	s, err := SemaphoreAt(f.Bytes()[nsSemOff:])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lockIn takes the lock as mode says. A reader refused with ErrOwnerDead
// holds nothing; a writer refused with it recovers (LockRecover,
// MarkConsistent) and returns the refusal, holding the lock.
func lockIn(ctx context.Context, f *MemFile, mode string) error {
	if mode == modeRead {
		return f.RLockContext(ctx)
	}
	err := f.LockContext(ctx)
	if errors.Is(err, ErrOwnerDead) {
		dirty, rerr := f.LockRecover(ctx)
		if rerr != nil {
			return rerr
		}
		if dirty {
			f.MarkConsistent()
		}
	}
	return err
}

// unlockIn releases what lockIn took (err is what it returned).
func unlockIn(f *MemFile, mode string, err error) {
	switch {
	case err == nil:
	case mode != modeRead && errors.Is(err, ErrOwnerDead): // lockIn recovered
	default:
		return // nothing held
	}
	if mode == modeRead {
		f.RUnlock()
		return
	}
	f.Unlock()
}

// untilOrder waits for an order of at least v in b, or for ctx.
func untilOrder(ctx context.Context, b *nsProc, v uint32) bool {
	for b.cmd.Load() < v {
		if ctx.Err() != nil {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// Environment of the helper children.
const (
	envNSLink   = "SHMX_NS_LINK"
	envNSIndex  = "SHMX_NS_INDEX"
	envNSMode   = "SHMX_NS_MODE"
	envNSWaitMS = "SHMX_NS_WAIT_MS" // waiter: timeout of the first attempt
	envNSPhase2 = "SHMX_NS_PHASE2"  // waiter: "1" makes a second attempt on order
)

// introduce fills in who this process is.
func introduce(b *nsProc) {
	b.pid.Store(uint32(os.Getpid()))
	b.token.Store(selfToken)
	b.ns.Store(live.Namespace())
	b.state.Store(nsJoined)
}

// holdFor takes the lock in mode (none: nothing), says so, releases it on
// order nsRelease and returns on order nsExit (or when ctx ends).
func holdFor(t *testing.T, ctx context.Context, f *MemFile, b *nsProc, mode string) {
	if mode == modeSem {
		s := nsSem(t, f)
		if err := s.Acquire(ctx, 2); err != nil {
			b.state.Store(nsFailed)
			t.Fatalf("holder: Semaphore.Acquire: %v", err)
		}
		b.state.Store(nsHolding)
		if !untilOrder(ctx, b, nsRelease) {
			t.Fatal("holder: no order to release")
		}
		s.Release(2)
		b.state.Store(nsReleased)
		if !untilOrder(ctx, b, nsExit) {
			t.Fatal("holder: no order to exit")
		}
		return
	}
	if mode != modeNone {
		err := lockIn(ctx, f, mode)
		if err != nil {
			b.result1.Store(resultOf(err))
			b.state.Store(nsFailed)
			t.Fatalf("holder: %s lock: %v", mode, err)
		}
	}
	b.state.Store(nsHolding)
	if !untilOrder(ctx, b, nsRelease) {
		t.Fatal("holder: no order to release")
	}
	if mode != modeNone {
		unlockIn(f, mode, nil)
	}
	b.state.Store(nsReleased)
	if !untilOrder(ctx, b, nsExit) {
		t.Fatal("holder: no order to exit")
	}
}

// waitFor makes the waiter's attempts: one under a timeout of wait, then
// (if phase2) a second one on order nsRelease, under 10 s. Each result is
// recorded in b; locks got are released.
func waitFor(ctx context.Context, f *MemFile, b *nsProc, mode string, wait time.Duration, phase2 bool) {
	c1, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	b.state.Store(nsWaiting)
	err := lockIn(c1, f, mode)
	b.done1.Store(monoNow())
	b.result1.Store(resultOf(err))
	unlockIn(f, mode, err)
	b.state.Store(nsDone1)
	if !phase2 {
		return
	}
	if !untilOrder(ctx, b, nsRelease) {
		b.state.Store(nsFailed)
		return
	}
	c2, cancel2 := context.WithTimeout(ctx, testproc.Scale(10*time.Second))
	defer cancel2()
	err = lockIn(c2, f, mode)
	b.result2.Store(resultOf(err))
	unlockIn(f, mode, err)
	b.state.Store(nsDone2)
}

// TestPidNSHelper is the helper child of the pid-namespace tests: role
// "holder" or "waiter", for block $SHMX_NS_INDEX of the memfile at
// $SHMX_NS_LINK, in lock mode $SHMX_NS_MODE.
func TestPidNSHelper(t *testing.T) {
	role := testproc.Role()
	if role == "" {
		t.Skip("helper process for the pid-namespace tests")
	}
	f, err := Open(os.Getenv(envNSLink))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	i, err := strconv.Atoi(os.Getenv(envNSIndex))
	if err != nil || i < 0 || i >= nsBlocksN {
		t.Fatalf("bad %s %q", envNSIndex, os.Getenv(envNSIndex))
	}
	b := &nsBlocks(f)[i]
	introduce(b)
	if testproc.InPidNS() && os.Getpid() != 1 {
		t.Errorf("started in a new pid namespace but pid is %d, not 1", os.Getpid())
	}
	ctx := testproc.Context(t, 60*time.Second)
	mode := os.Getenv(envNSMode)
	switch role {
	case "holder":
		holdFor(t, ctx, f, b, mode)
	case "waiter":
		ms, err := strconv.Atoi(os.Getenv(envNSWaitMS))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(ctx, f, b, mode, time.Duration(ms)*time.Millisecond, os.Getenv(envNSPhase2) == "1")
	case "cond":
		nsCondPlay(t, f, 1)
	case "cond-holder":
		m, _ := nsCond(t, f)
		if err := m.LockContext(ctx); err != nil {
			b.state.Store(nsFailed)
			t.Fatal(err)
		}
		b.state.Store(nsHolding)
		<-ctx.Done() // until killed
	default:
		t.Fatalf("unknown role %q", role)
	}
}

// nsCondOff is where TestPidNSCond places a Mutex, a Cond after it and
// a turn word after that, in the segment's user data.
const nsCondOff = 1024

// nsCond returns that Mutex and Cond.
func nsCond(t *testing.T, f *MemFile) (*Mutex, *Cond) {
	return condPair(t, f.Bytes()[nsCondOff:])
}

// nsCondRounds is how many turns each side of TestPidNSCond takes.
const nsCondRounds = 300

// nsCondPlay takes nsCondRounds turns as player me (0 or 1): wait under
// the Mutex until the turn word says me, flip it, signal.
func nsCondPlay(t *testing.T, f *MemFile, me uint64) {
	m, c := nsCond(t, f)
	turn := counter(f.Bytes(), nsCondOff+64)
	for range nsCondRounds {
		m.Lock()
		for *turn != me {
			if err := c.Wait(nil, m); err != nil {
				m.Unlock()
				t.Fatal(err)
			}
		}
		*turn = 1 - me
		m.Unlock()
		c.Signal()
	}
}

// TestPidNSCond: a Cond works between a process and pid 1 of another pid
// namespace (turns taken through it), and a waiter whose Mutex was taken
// meanwhile by pid 1 of another namespace keeps waiting while that
// holder lives and, once it is killed, returns from Wait with the Mutex
// held and an error matching ErrOwnerDead.
func TestPidNSCond(t *testing.T) {
	testproc.RequirePidNS(t, false)
	f, link := nsCreate(t, LockNone)
	player := nsChild(t, link, "cond", 0, modeNone, false)
	nsCondPlay(t, f, 0)
	if err := player.Wait(); err != nil {
		t.Fatalf("the player in its own pid namespace: %v", err)
	}
	if turn := *counter(f.Bytes(), nsCondOff+64); turn != 0 {
		t.Fatalf("turn %d after %d turns each, want 0", turn, nsCondRounds)
	}

	m, c := nsCond(t, f)
	m.Lock()
	errc := make(chan error, 1)
	go func() { errc <- c.Wait(timeoutCtx(t, testproc.Scale(30*time.Second)), m) }()
	until(t, "the waiter asleep", func() bool { return c.waitersNow() == 1 })
	bs := nsBlocks(f)
	holder := nsChild(t, link, "cond-holder", 1, modeNone, false)
	untilState(t, &bs[1], nsHolding, "holder")
	inNewNamespace(t, &bs[1], "holder")
	c.Signal()
	select {
	case err := <-errc:
		t.Fatalf("Wait returned %v while a live holder in another pid namespace has the Mutex", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := syscall.Kill(testproc.NamespaceInit(t, holder), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := <-errc; !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("Wait after the holder (pid 1 of its namespace) was killed = %v, want ErrOwnerDead", err)
	}
	t.Logf("Wait took the Mutex of a killed holder in another pid namespace %v after the kill", time.Since(killed).Round(10*time.Microsecond))
	holder.Wait()
	if st := m.State(); !st.Locked || !st.Inconsistent || st.Owner != self() {
		t.Fatalf("after Wait: %+v, want held here, inconsistent", st)
	}
	m.MarkConsistent()
	m.Unlock()
}

// nsCreate creates a memfile with lock lt (and room for the blocks),
// closed when the test ends, after the children are gone.
func nsCreate(t *testing.T, lt LockType) (*MemFile, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "shmx-pidns-")
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "seg.link")
	f, err := Create(link, lt, 4096)
	if err != nil {
		os.Remove(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		os.Remove(link)
		os.Remove(dir)
	})
	return f, link
}

// nsChild starts a helper of role for block i in a new pid namespace.
func nsChild(t *testing.T, link, role string, i int, mode string, mountProc bool, env ...string) *exec.Cmd {
	t.Helper()
	env = append(env, envNSLink+"="+link, envNSIndex+"="+strconv.Itoa(i), envNSMode+"="+mode)
	cmd := testproc.CommandInPidNS(t, "TestPidNSHelper", role, mountProc, env...)
	// The child's test log: shown if the test fails.
	out := new(nsLog)
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s helper for block %d (%s) said:\n%s", role, i, mode, out.String())
		}
	})
	return cmd
}

// nsLog collects a helper's output.
type nsLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *nsLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *nsLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// untilState waits (20 s at most) for block b to reach state v.
func untilState(t *testing.T, b *nsProc, v uint32, who string) {
	t.Helper()
	deadline := time.Now().Add(testproc.Scale(20 * time.Second))
	for {
		s := b.state.Load()
		if s == v || (s > v && v != nsFailed && s != nsFailed) {
			return
		}
		if s == nsFailed {
			t.Fatalf("%s failed (result %s); see its log above", who, resNames[b.result1.Load()])
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach state %d in 20 s (state %d)", who, v, s)
		}
		time.Sleep(time.Millisecond)
	}
}

// inNewNamespace checks that block b is pid 1 of a pid namespace other
// than ours and than those of others.
func inNewNamespace(t *testing.T, b *nsProc, who string, others ...*nsProc) {
	t.Helper()
	if pid := b.pid.Load(); pid != 1 {
		t.Fatalf("%s has pid %d in its namespace, want 1", who, pid)
	}
	ns := b.ns.Load()
	if ns == 0 || ns == live.Namespace() {
		t.Fatalf("%s is in pid namespace %d, ours is %d: want another one", who, ns, live.Namespace())
	}
	for _, o := range others {
		if o.ns.Load() == ns {
			t.Fatalf("%s shares pid namespace %d with another helper", who, ns)
		}
	}
}

// nsLock is a lock under test: the memfile's lock type and the modes of
// the holder and of the waiter.
type nsLock struct {
	name       string
	lt         LockType
	hold, wait string
}

var nsLocks = []nsLock{
	{"mutex", LockMutex, modeWrite, modeWrite},
	{"rw-writer", LockRWMutex, modeWrite, modeWrite},
	{"rw-writer-reader-waits", LockRWMutex, modeWrite, modeRead},
	{"rw-reader", LockRWMutex, modeRead, modeWrite},
}

// nsTopology says where the waiter runs: in the test process (the host's
// pid namespace) or as pid 1 of a namespace of its own; the holder is
// always pid 1 of a new namespace. mountProc gives the helpers their own
// /proc.
type nsTopology struct {
	name       string
	hostWaiter bool
	mountProc  bool
}

var nsTopologies = []nsTopology{
	{"host-waiter", true, false},
	{"host-waiter-own-proc", true, true},
	{"pid1-vs-pid1", false, false},
	{"pid1-vs-pid1-own-proc", false, true},
}

// heldBy checks that f's lock is held in mode by the process of token,
// consistent.
func heldBy(t *testing.T, f *MemFile, l nsLock, token uint32, when string) {
	t.Helper()
	if l.lt == LockMutex {
		st := f.mu.State()
		if !st.Locked || st.Owner != token || st.Inconsistent {
			t.Fatalf("%s: Mutex %+v, want held by %#x, consistent", when, st, token)
		}
		return
	}
	st := f.rw.State()
	if st.Inconsistent {
		t.Fatalf("%s: RWMutex %+v is inconsistent", when, st)
	}
	if l.hold == modeWrite {
		if !st.Writer.Locked || st.Writer.Owner != token {
			t.Fatalf("%s: RWMutex %+v, want write-held by %#x", when, st, token)
		}
		return
	}
	for _, r := range st.Readers {
		if r.Token == token && r.Holds > 0 {
			return
		}
	}
	t.Fatalf("%s: RWMutex %+v, want read-held by %#x", when, st, token)
}

// waiting reports whether f's lock shows the waiter of token waiting for
// it in mode l.wait.
func waiting(f *MemFile, l nsLock, token uint32) bool {
	if l.lt == LockMutex {
		return f.mu.State().Waiters > 0
	}
	st := f.rw.State()
	switch {
	case l.hold == modeRead: // a writer waits for the reader to leave
		return st.WriterIn && st.Writer.Owner == token
	case l.wait == modeRead:
		return st.ReadersWaiting > 0
	}
	return st.Writer.Waiters > 0
}

// nsStartWaiter starts the waiter of topology top for block 1: a
// goroutine of this process or a helper in a new namespace. The returned
// function waits for it to end (for a helper: its exit, which must be
// clean).
func nsStartWaiter(t *testing.T, f *MemFile, link string, l nsLock, top nsTopology, wait time.Duration, phase2 bool) (end func()) {
	t.Helper()
	b := &nsBlocks(f)[1]
	if top.hostWaiter {
		introduce(b)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			waitFor(ctx, f, b, l.wait, wait, phase2)
		}()
		// Before f is closed (cleanups run last-in first-out).
		t.Cleanup(func() { cancel(); <-done })
		return func() { <-done }
	}
	p2 := "0"
	if phase2 {
		p2 = "1"
	}
	cmd := nsChild(t, link, "waiter", 1, l.wait, top.mountProc,
		envNSWaitMS+"="+strconv.FormatInt(wait.Milliseconds(), 10), envNSPhase2+"="+p2)
	return func() {
		t.Helper()
		if err := cmd.Wait(); err != nil {
			t.Errorf("waiter helper: %v", err)
		}
	}
}

// TestPidNSLiveHolder: a holder that is pid 1 of another pid namespace
// keeps its lock, alive, while a waiter (in the host namespace, or pid 1
// of a third namespace) waits 1.5 s under LockContext: the waiter gets
// context.DeadlineExceeded, never the lock and never ErrOwnerDead, and the
// lock word is unchanged. Once the holder releases, the waiter gets the
// lock. For the Mutex, an RWMutex writer (waited for by a writer and by a
// reader) and an RWMutex reader (a writer must wait, not reap it).
func TestPidNSLiveHolder(t *testing.T) {
	testproc.RequirePidNS(t, false)
	for _, top := range nsTopologies {
		t.Run(top.name, func(t *testing.T) {
			testproc.RequirePidNS(t, top.mountProc)
			for _, l := range nsLocks {
				t.Run(l.name, func(t *testing.T) {
					t.Parallel()
					nsLiveHolder(t, l, top)
				})
			}
		})
	}
}

func nsLiveHolder(t *testing.T, l nsLock, top nsTopology) {
	const patience = 1500 * time.Millisecond
	f, link := nsCreate(t, l.lt)
	bs := nsBlocks(f)
	holder := nsChild(t, link, "holder", 0, l.hold, top.mountProc)
	untilState(t, &bs[0], nsHolding, "holder")
	inNewNamespace(t, &bs[0], "holder")
	tok := bs[0].token.Load()
	heldBy(t, f, l, tok, "holder in its namespace")

	start := time.Now()
	end := nsStartWaiter(t, f, link, l, top, patience, true)
	untilState(t, &bs[1], nsDone1, "waiter")
	waited := time.Since(start)
	if !top.hostWaiter {
		inNewNamespace(t, &bs[1], "waiter", &bs[0])
	}
	if r := bs[1].result1.Load(); r != resDeadline {
		t.Fatalf("waiter's LockContext against a live holder in another pid namespace = %s, want DeadlineExceeded", resNames[r])
	}
	if waited < patience {
		t.Fatalf("waiter gave up after %v, before its %v", waited, patience)
	}
	heldBy(t, f, l, tok, "after the waiter timed out")
	if st := bs[0].state.Load(); st != nsHolding {
		t.Fatalf("holder state %d, want still holding", st)
	}

	bs[0].cmd.Store(nsRelease)
	untilState(t, &bs[0], nsReleased, "holder")
	bs[1].cmd.Store(nsRelease)
	untilState(t, &bs[1], nsDone2, "waiter")
	if r := bs[1].result2.Load(); r != resNil {
		t.Fatalf("waiter's LockContext after the holder released = %s, want nil", resNames[r])
	}
	bs[0].cmd.Store(nsExit)
	if err := holder.Wait(); err != nil {
		t.Errorf("holder helper: %v", err)
	}
	end()
	if err := f.LockContext(timeoutCtx(t, testproc.Scale(5*time.Second))); err != nil {
		t.Fatalf("LockContext after both left = %v", err)
	}
	f.Unlock()
}

// TestPidNSKilledHolder: a holder that is pid 1 of another pid namespace
// is SIGKILLed while a waiter (in the host namespace, or pid 1 of a third
// one) waits for it; the waiter takes the lock over (ErrOwnerDead) within
// a bound of 2 s of the kill (about one 50 ms slice expected; the log
// says). Host waiters see the namespace's pid 1 killed; pid-1 waiters the
// holder's whole process group (unshare and the namespace).
func TestPidNSKilledHolder(t *testing.T) {
	testproc.RequirePidNS(t, false)
	for _, top := range nsTopologies {
		t.Run(top.name, func(t *testing.T) {
			testproc.RequirePidNS(t, top.mountProc)
			for _, l := range nsLocks {
				t.Run(l.name, func(t *testing.T) { nsKilledHolder(t, l, top) })
			}
		})
	}
}

func nsKilledHolder(t *testing.T, l nsLock, top nsTopology) {
	f, link := nsCreate(t, l.lt)
	bs := nsBlocks(f)
	holder := nsChild(t, link, "holder", 0, l.hold, top.mountProc)
	untilState(t, &bs[0], nsHolding, "holder")
	inNewNamespace(t, &bs[0], "holder")
	tok := bs[0].token.Load()
	heldBy(t, f, l, tok, "holder in its namespace")

	end := nsStartWaiter(t, f, link, l, top, testproc.Scale(20*time.Second), false)
	untilState(t, &bs[1], nsWaiting, "waiter")
	wtok := bs[1].token.Load()
	until(t, "the waiter to wait", func() bool { return waiting(f, l, wtok) })
	time.Sleep(100 * time.Millisecond) // asleep, well into a wait slice
	if st := bs[1].state.Load(); st != nsWaiting {
		t.Fatalf("waiter returned (%s) before the kill", resNames[bs[1].result1.Load()])
	}

	how := "SIGKILL to the namespace's pid 1"
	var killed int64
	if top.hostWaiter {
		init := testproc.NamespaceInit(t, holder)
		killed = monoNow()
		if err := syscall.Kill(init, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	} else {
		how = "SIGKILL to the holder's process group"
		killed = monoNow()
		if err := testproc.KillPidNS(holder); err != nil {
			t.Fatal(err)
		}
	}
	untilState(t, &bs[1], nsDone1, "waiter")
	lat := time.Duration(bs[1].done1.Load() - killed)
	if r := bs[1].result1.Load(); r != resOwnerDead {
		t.Fatalf("waiter's LockContext after the holder was killed = %s, want ErrOwnerDead", resNames[r])
	}
	t.Logf("%s %s holder (pid 1 of its namespace) recovered by a %s waiter (%s) %v after %s",
		l.name, l.hold, l.wait, top.name, lat.Round(10*time.Microsecond), how)
	if max := testproc.Scale(2 * time.Second); lat > max {
		t.Errorf("recovery took %v, want < %v (about 50 ms expected)", lat, max)
	}
	holder.Wait() // killed: its error says so
	if !top.hostWaiter {
		if pid := bs[1].pid.Load(); pid != 1 {
			t.Errorf("waiter had pid %d, want 1", pid)
		}
	}
	end()
	// A writer that took over repaired the data (MarkConsistent); a
	// reader cannot: the next writer is told.
	err := f.LockContext(timeoutCtx(t, testproc.Scale(5*time.Second)))
	if l.wait == modeRead {
		if !errors.Is(err, ErrOwnerDead) {
			t.Fatalf("LockContext after a reader took over = %v, want ErrOwnerDead", err)
		}
		mustRecover(t, f)
	} else if err != nil {
		t.Fatalf("LockContext after a writer took over and repaired = %v", err)
	} else {
		f.Unlock()
	}
}

// TestPidNSTokenNotPid: a pid says nothing about a lock. Every new pid
// namespace starts its pids at 1, so two helpers started one after the
// other in two namespaces have the same pid: real pid reuse. A lock left
// by the first (killed) is recovered although a live process with its
// pid (the second) is in the segment; a lock word naming the second is
// never taken from it, however its pid was used before, until it dies.
func TestPidNSTokenNotPid(t *testing.T) {
	testproc.RequirePidNS(t, true)
	t.Run("mutex", nsTokenNotPidMutex)
	t.Run("rw-readers", nsTokenNotPidReaders)
}

// nsKillAndWait kills the namespace of a helper and waits until the
// kernel says its token is dead in f.
func nsKillAndWait(t *testing.T, f *MemFile, cmd *exec.Cmd, tok uint32) {
	t.Helper()
	if err := testproc.KillPidNS(cmd); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	until(t, "the killed helper's token to be dead", func() bool { return f.ProcessAlive(tok) == "dead" })
}

func nsTokenNotPidMutex(t *testing.T) {
	f, link := nsCreate(t, LockMutex)
	bs := nsBlocks(f)
	a := nsChild(t, link, "holder", 0, modeWrite, true)
	untilState(t, &bs[0], nsHolding, "first helper")
	inNewNamespace(t, &bs[0], "first helper")
	ta := bs[0].token.Load()
	nsKillAndWait(t, f, a, ta)

	b := nsChild(t, link, "holder", 1, modeNone, true) // joins, holds nothing
	untilState(t, &bs[1], nsHolding, "second helper")
	inNewNamespace(t, &bs[1], "second helper", &bs[0])
	tb := bs[1].token.Load()
	if pa, pb := bs[0].pid.Load(), bs[1].pid.Load(); pa != pb {
		t.Fatalf("pids %d and %d: want the same (both 1)", pa, pb)
	}
	if ta == tb {
		t.Fatalf("both helpers drew token %#x", ta)
	}
	if a, b := f.ProcessAlive(ta), f.ProcessAlive(tb); a != "dead" || b != "alive" {
		t.Fatalf("ProcessAlive: first (dead) %s, second (running) %s", a, b)
	}
	listed := false
	for _, p := range f.Participants() {
		if p.Token == tb {
			listed = true
			if p.PID != 1 || p.Namespace != bs[1].ns.Load() {
				t.Errorf("participant %+v, want pid 1 in namespace %d", p, bs[1].ns.Load())
			}
		}
	}
	if !listed {
		t.Errorf("second helper %#x not among the participants %+v", tb, f.Participants())
	}

	// 1. The lock of the dead process is recovered although a live
	// process of the segment has its pid.
	if st := f.mu.State(); !st.Locked || st.Owner != ta {
		t.Fatalf("Mutex %+v, want held by the dead first helper %#x", st, ta)
	}
	start := time.Now()
	if err := f.LockContext(timeoutCtx(t, testproc.Scale(5*time.Second))); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("LockContext on the dead pid-1 helper's lock (a live pid 1 in the segment) = %v, want ErrOwnerDead", err)
	}
	t.Logf("lock of a dead pid 1 recovered in %v while another pid 1 is alive", time.Since(start))
	mustRecover(t, f)

	// 2. A lock word naming the live second helper (pid 1, a pid that was
	// a dead process's, and means another process here) is never taken.
	word := uint64(tb)<<ownerShift | mutexLocked
	atomic.StoreUint64(&f.mu.state, word)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := f.LockContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockContext on a lock word naming a live process = %v, want DeadlineExceeded", err)
	}
	if got := atomic.LoadUint64(&f.mu.state); got != word {
		t.Fatalf("state word %#x after the timed-out wait, want %#x untouched", got, word)
	}

	// 3. Once that process dies, the same word is recovered.
	done := make(chan error, 1)
	go func() { done <- f.LockContext(timeoutCtx(t, testproc.Scale(10*time.Second))) }()
	time.Sleep(100 * time.Millisecond)
	killed := time.Now()
	if err := testproc.KillPidNS(b); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("LockContext after the named process was killed = %v, want ErrOwnerDead", err)
	}
	t.Logf("lock word naming a killed pid-1 helper recovered %v after the kill", time.Since(killed))
	b.Wait()
	mustRecover(t, f)
}

func nsTokenNotPidReaders(t *testing.T) {
	f, link := nsCreate(t, LockRWMutex)
	bs := nsBlocks(f)
	a := nsChild(t, link, "holder", 0, modeRead, true)
	untilState(t, &bs[0], nsHolding, "first reader")
	inNewNamespace(t, &bs[0], "first reader")
	ta := bs[0].token.Load()
	nsKillAndWait(t, f, a, ta)

	// The second reader has the dead first one's pid, and reads too.
	b := nsChild(t, link, "holder", 1, modeRead, true)
	untilState(t, &bs[1], nsHolding, "second reader")
	inNewNamespace(t, &bs[1], "second reader", &bs[0])
	tb := bs[1].token.Load()
	if pa, pb := bs[0].pid.Load(), bs[1].pid.Load(); pa != pb {
		t.Fatalf("pids %d and %d: want the same (both 1)", pa, pb)
	}
	readers := func() map[uint32]bool {
		m := map[uint32]bool{}
		for _, r := range f.rw.State().Readers {
			m[r.Token] = true
		}
		return m
	}
	if r := readers(); !r[ta] || !r[tb] {
		t.Fatalf("readers %v, want both %#x (dead) and %#x (alive)", r, ta, tb)
	}

	// A writer reaps the dead reader but waits for the live one with the
	// same pid.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := f.LockContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("writer's LockContext with a live reader = %v, want DeadlineExceeded", err)
	}
	st := f.rw.State()
	if r := readers(); r[ta] || !r[tb] {
		t.Fatalf("readers %v after the writer's wait: want the dead %#x reaped, the live %#x kept", r, ta, tb)
	}
	if !st.Inconsistent {
		t.Errorf("RWMutex %+v: a reader was reaped, want inconsistent", st)
	}

	bs[1].cmd.Store(nsRelease)
	untilState(t, &bs[1], nsReleased, "second reader")
	if err := f.LockContext(timeoutCtx(t, testproc.Scale(5*time.Second))); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("writer's LockContext after the live reader left = %v, want ErrOwnerDead (the dead reader's)", err)
	}
	mustRecover(t, f)
	bs[1].cmd.Store(nsExit)
	if err := b.Wait(); err != nil {
		t.Errorf("second reader: %v", err)
	}
}

// TestPidNSSemaphore: the units of a Semaphore held by pid 1 of another
// pid namespace stay its own while it lives (a waiter in the host
// namespace times out, nothing recovered), and come back to that waiter
// when the namespace's pid 1 is SIGKILLed (about one 50 ms slice, logged,
// not asserted: the 20 s context only guards against a hang).
func TestPidNSSemaphore(t *testing.T) {
	testproc.RequirePidNS(t, false)
	f, link := nsCreate(t, LockNone)
	if _, err := InitSemaphore(f.Bytes()[nsSemOff:], 2, 2); err != nil {
		t.Fatal(err)
	}
	s := nsSem(t, f)
	bs := nsBlocks(f)
	holder := nsChild(t, link, "holder", 0, modeSem, false)
	untilState(t, &bs[0], nsHolding, "holder")
	inNewNamespace(t, &bs[0], "holder")
	if s.Count() != 0 {
		t.Fatalf("holder in its namespace holds both units, count %d", s.Count())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := s.Acquire(ctx, 2)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire against a live holder in another pid namespace = %v, want DeadlineExceeded", err)
	}
	if s.Count() != 0 || s.Waiters() != 0 {
		t.Fatalf("after the timed-out Acquire: %s", semState(s))
	}

	got := acquireAsync(s, timeoutCtx(t, testproc.Scale(20*time.Second)), 2)
	waitWaiters(t, s, 1)
	init := testproc.NamespaceInit(t, holder)
	killed := time.Now()
	if err := syscall.Kill(init, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("Acquire after the holder (pid 1 of its namespace) was killed = %v", err)
	}
	lat := time.Since(killed)
	t.Logf("units of a killed holder in another pid namespace recovered %v after the kill (about one 50 ms slice expected)", lat.Round(10*time.Microsecond))
	holder.Wait()
	s.Release(2)
	if s.Count() != 2 {
		t.Fatalf("after the release: %s", semState(s))
	}
}
