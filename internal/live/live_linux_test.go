// The multi-process tests of internal/live, against the real kernel: OFD
// locks taken and judged across real processes, across pid namespaces
// too. They are in package live_test, not live: they start their helper
// children with internal/testproc, which imports live (an in-package test
// importing it would be an import cycle).

package live_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/internal/testproc"
)

const (
	envFile  = "SHMX_LIVE_FILE"
	envToken = "SHMX_LIVE_TOKEN"
)

// TestLiveHelper is the helper child of this file's tests, by role:
//
//	join   joins the domain of $SHMX_LIVE_FILE and prints
//	       "token <t> pid <p> ns <n> pidns <bool>"; then obeys stdin
//	       lines: "leave" (Leave, print "left"), "exit" or EOF (return).
//	clash  takes its own OFD read lock on byte $SHMX_LIVE_TOKEN of the
//	       file, prints "locked", returns at EOF of stdin.
func TestLiveHelper(t *testing.T) {
	role := testproc.Role()
	if role == "" {
		t.Skip("helper process for the multi-process tests of internal/live")
	}
	path := os.Getenv(envFile)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := stdinLines()
	ctx := testproc.Context(t, 60*time.Second)
	next := func() (string, bool) {
		select {
		case l, ok := <-lines:
			return l, ok
		case <-ctx.Done():
			t.Fatal("helper: no word from the parent for 60 s")
			return "", false
		}
	}
	switch role {
	case "join":
		d, err := live.Join(f.Fd(), false)
		if err != nil {
			t.Fatal(err)
		}
		f.Close() // Join keeps its own descriptor
		if testproc.InPidNS() && os.Getpid() != 1 {
			t.Errorf("helper started in a new pid namespace has pid %d, want 1", os.Getpid())
		}
		fmt.Printf("token %d pid %d ns %d\n", live.Self(), os.Getpid(), live.Namespace())
		joined := true
		for {
			l, ok := next()
			if !ok || l == "exit" {
				return
			}
			if l == "leave" && joined {
				d.Leave()
				joined = false
				fmt.Println("left")
			}
		}
	case "clash":
		tok, err := strconv.ParseUint(os.Getenv(envToken), 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart, Start: int64(tok), Len: 1}
		if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
			t.Fatalf("F_OFD_SETLK on byte %d: %v", tok, err)
		}
		fmt.Println("locked")
		for {
			if _, ok := next(); !ok {
				return
			}
		}
	default:
		t.Fatalf("unknown role %q", role)
	}
}

// stdinLines delivers the lines of stdin; closed at EOF.
func stdinLines() <-chan string {
	c := make(chan string)
	go func() {
		defer close(c)
		s := bufio.NewScanner(os.Stdin)
		for s.Scan() {
			c <- s.Text()
		}
	}()
	return c
}

// child is a started helper, talked to through its stdin and stdout.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	token uint32
	pid   int    // its pid, as it sees itself
	ns    uint64 // its pid namespace
}

// start starts cmd (a TestLiveHelper) with pipes.
func start(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	c := &child{t: t, cmd: cmd, lines: make(chan string, 16)}
	var err error
	if c.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	go func() {
		defer close(c.lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			c.lines <- s.Text()
		}
	}()
	return c
}

// startJoined starts a "join" helper for file path and reads its token.
func startJoined(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	c := start(t, cmd)
	l := c.expect("token ")
	if _, err := fmt.Sscanf(l, "token %d pid %d ns %d", &c.token, &c.pid, &c.ns); err != nil {
		t.Fatalf("helper said %q: %v", l, err)
	}
	if c.token == 0 || c.token == live.Self() {
		t.Fatalf("helper token %#x (ours %#x)", c.token, live.Self())
	}
	return c
}

// expect returns the next line of the child's output, which must start
// with prefix, within 20 s.
func (c *child) expect(prefix string) string {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("helper exited before saying %q", prefix)
		}
		if !strings.HasPrefix(l, prefix) {
			c.t.Fatalf("helper said %q, want %q...", l, prefix)
		}
		return l
	case <-time.After(testproc.Scale(20 * time.Second)):
		c.t.Fatalf("helper did not say %q within 20 s", prefix)
	}
	return ""
}

func (c *child) say(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		c.t.Fatalf("telling the helper %q: %v", line, err)
	}
}

// domainFile makes an empty file for a liveness domain; its path.
func domainFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "segment")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// join joins the domain of the file at path, leaving it when the test ends.
func join(t *testing.T, path string) *live.Domain {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := live.Join(f.Fd(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Leave)
	return d
}

// heldByte asks the kernel, through a new open file description of path
// (so that even this process's own OFD locks count), whether anything
// holds byte off; it also returns l_pid of the holder the kernel reports.
func heldByte(t *testing.T, path string, off uint32) (bool, int32) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: int64(off), Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		t.Fatal(err)
	}
	return lk.Type != unix.F_UNLCK, lk.Pid
}

// untilDead polls judge every millisecond until it says Dead and returns
// how long that took from since; it fails after 5 s.
func untilDead(t *testing.T, since time.Time, judge func() live.Verdict) time.Duration {
	t.Helper()
	for {
		v := judge()
		if v == live.Dead {
			return time.Since(since)
		}
		if v != live.Alive {
			t.Fatalf("verdict %v while waiting for dead", v)
		}
		if time.Since(since) > testproc.Scale(5*time.Second) {
			t.Fatal("still alive 5 s after the kill")
		}
		time.Sleep(time.Millisecond)
	}
}

// stillAlive checks that judge says Alive for a while (50 ms).
func stillAlive(t *testing.T, what string, judge func() live.Verdict) {
	t.Helper()
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if v := judge(); v != live.Alive {
			t.Fatalf("%s judged %v while it runs", what, v)
		}
	}
}

// TestJoinSharesDomain: two Joins of one file, through different
// descriptors and even different paths (a hard link), share one Domain
// and one lock; the lock stays while any Join is not undone (the
// caller's descriptors may be closed) and goes with the last Leave.
func TestJoinSharesDomain(t *testing.T) {
	path := domainFile(t)
	alias := path + ".link"
	if err := os.Link(path, alias); err != nil {
		t.Fatal(err)
	}
	f1, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := os.OpenFile(alias, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	d1, err := live.Join(f1.Fd(), false)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := live.Join(f2.Fd(), false)
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Fatalf("two Joins of one file gave two domains %p and %p", d1, d2)
	}
	f1.Close()
	f2.Close()
	self := live.Self()
	if held, pid := heldByte(t, path, self); !held {
		t.Fatal("byte <token> not locked after Join")
	} else if pid != -1 {
		t.Errorf("the kernel reports l_pid %d for the liveness lock, want -1 (an OFD lock)", pid)
	}
	if held, _ := heldByte(t, path, self+1); held && self+1 != 0 {
		t.Error("the byte after <token> is locked too")
	}
	if held, _ := heldByte(t, path, self-1); held && self-1 != 0 {
		t.Error("the byte before <token> is locked too")
	}
	// Another file is another domain.
	other := join(t, domainFile(t))
	if other == d1 {
		t.Fatal("two files share a domain")
	}
	d1.Leave()
	if held, _ := heldByte(t, path, self); !held {
		t.Fatal("lock gone after the first of two Leaves")
	}
	d2.Leave()
	if held, _ := heldByte(t, path, self); held {
		t.Fatal("lock still held after the last Leave")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a Leave too many did not panic")
			}
		}()
		d2.Leave()
	}()
	// Joining again after the last Leave takes the lock again.
	d3 := join(t, path)
	if held, _ := heldByte(t, path, self); !held {
		t.Fatal("byte <token> not locked after joining again")
	}
	if v := d3.Judge(self); v != live.Alive {
		t.Errorf("Judge(Self) = %v", v)
	}
	if v := d3.Judge(0); v != live.Alive {
		t.Errorf("Judge(0) = %v", v)
	}
}

// TestJoinBadDescriptor: a descriptor that is not open is an error, not a
// token clash.
func TestJoinBadDescriptor(t *testing.T) {
	d, err := live.Join(uintptr(1<<20), false)
	if err == nil {
		d.Leave()
		t.Fatal("Join of a closed descriptor succeeded")
	}
	if errors.Is(err, live.ErrTokenClash) {
		t.Fatalf("Join of a closed descriptor: %v", err)
	}
	if !errors.Is(err, syscall.EBADF) {
		t.Errorf("Join of a closed descriptor: %v, want EBADF", err)
	}
}

// TestJudgeChildKilled: a child that joined is alive to the parent's
// Domain.Judge and to Probe while it runs, and dead once SIGKILLed; the
// log says how long after the kill the kernel said so.
func TestJudgeChildKilled(t *testing.T) {
	path := domainFile(t)
	d := join(t, path)
	c := startJoined(t, testproc.Command(t, "TestLiveHelper", "join", envFile+"="+path))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stillAlive(t, "the child", func() live.Verdict { return d.Judge(c.token) })
	if v := live.Probe(f.Fd(), c.token); v != live.Alive {
		t.Fatalf("Probe(child) = %v while it runs", v)
	}
	if held, _ := heldByte(t, path, c.token); !held {
		t.Fatal("nothing holds the child's byte")
	}
	killed := time.Now()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	lat := untilDead(t, killed, func() live.Verdict { return d.Judge(c.token) })
	t.Logf("SIGKILLed child judged dead %v after the kill (polling every 1 ms)", lat)
	if v := live.Probe(f.Fd(), c.token); v != live.Dead {
		t.Errorf("Probe(killed child) = %v", v)
	}
}

// TestJudgeChildLeaves: a child that Leaves the domain is dead there
// although its process still runs; one that exits normally is dead too.
func TestJudgeChildLeaves(t *testing.T) {
	path := domainFile(t)
	d := join(t, path)
	c := startJoined(t, testproc.Command(t, "TestLiveHelper", "join", envFile+"="+path))
	stillAlive(t, "the child", func() live.Verdict { return d.Judge(c.token) })
	c.say("leave")
	c.expect("left")
	if v := d.Judge(c.token); v != live.Dead {
		t.Fatalf("Judge(child that left) = %v, want dead", v)
	}
	if err := c.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the child that left is not running: %v", err)
	}
	c.say("exit")
	if err := c.cmd.Wait(); err != nil {
		t.Fatal(err)
	}

	e := startJoined(t, testproc.Command(t, "TestLiveHelper", "join", envFile+"="+path))
	stillAlive(t, "the second child", func() live.Verdict { return d.Judge(e.token) })
	e.in.Close() // EOF: it returns without Leave, the process exits
	if err := e.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if v := d.Judge(e.token); v != live.Dead {
		t.Fatalf("Judge(child that exited) = %v, want dead", v)
	}
}

// TestTrackJudge: Judge and Gone of words inside a tracked mapping ask its
// domain; words outside any tracked mapping, or in the mapping after it
// is untracked, are Unknown, and never Gone, even once the child died.
func TestTrackJudge(t *testing.T) {
	path := domainFile(t)
	if err := os.Truncate(path, 2*4096); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, 2*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	d := join(t, path)
	tracked := live.Track(m[:4096], d) // the first page only
	defer tracked.Untrack()            // a second Untrack does nothing
	in, last, out := unsafe.Pointer(&m[100]), unsafe.Pointer(&m[4095]), unsafe.Pointer(&m[4096])
	var goWord uint64
	heap := unsafe.Pointer(&goWord)
	if got := live.DomainOf(in); got != d {
		t.Fatalf("DomainOf(inside) = %p, want %p", got, d)
	}
	if got := live.DomainOf(last); got != d {
		t.Fatalf("DomainOf(last byte) = %p, want %p", got, d)
	}
	if got := live.DomainOf(out); got != nil {
		t.Fatalf("DomainOf(first byte past the span) = %p, want nil", got)
	}

	c := startJoined(t, testproc.Command(t, "TestLiveHelper", "join", envFile+"="+path))
	stillAlive(t, "the child (tracked)", func() live.Verdict { return live.Judge(in, c.token) })
	for name, p := range map[string]unsafe.Pointer{"past the span": out, "Go memory": heap} {
		if v := live.Judge(p, c.token); v != live.Unknown {
			t.Errorf("Judge(%s, live child) = %v, want unknown", name, v)
		}
	}
	killed := time.Now()
	c.cmd.Process.Kill()
	lat := untilDead(t, killed, func() live.Verdict { return live.Judge(in, c.token) })
	t.Logf("killed child judged dead through the tracked mapping %v after the kill", lat)
	if !live.Gone(last, c.token) {
		t.Error("Gone(tracked, dead child) = false")
	}
	for name, p := range map[string]unsafe.Pointer{"past the span": out, "Go memory": heap} {
		if v := live.Judge(p, c.token); v != live.Unknown {
			t.Errorf("Judge(%s, dead child) = %v, want unknown", name, v)
		}
		if live.Gone(p, c.token) {
			t.Errorf("Gone(%s, dead child) = true: untracked memory never has a dead owner", name)
		}
	}
	if v := live.Judge(in, live.Self()); v != live.Alive {
		t.Errorf("Judge(tracked, Self) = %v", v)
	}
	if v := live.Judge(in, 0); v != live.Alive {
		t.Errorf("Judge(tracked, 0) = %v", v)
	}
	tracked.Untrack()
	if v := live.Judge(in, c.token); v != live.Unknown {
		t.Errorf("Judge(untracked mapping, dead child) = %v, want unknown", v)
	}
	if got := live.DomainOf(in); got != nil {
		t.Errorf("DomainOf after untrack = %p", got)
	}
}

// TestTokenClash: if another open file already holds this process's
// byte (here a child's own OFD lock on byte Self() of the parent, standing
// in for a live process that drew the same token), Join fails with
// ErrTokenClash and takes nothing; once the other is gone, Join works.
func TestTokenClash(t *testing.T) {
	path := domainFile(t)
	self := live.Self()
	c := start(t, testproc.Command(t, "TestLiveHelper", "clash", envFile+"="+path, envToken+"="+strconv.FormatUint(uint64(self), 10)))
	c.expect("locked")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := live.Join(f.Fd(), false)
	if err == nil {
		d.Leave()
		t.Fatal("Join succeeded while another live process holds our token's byte")
	}
	if !errors.Is(err, live.ErrTokenClash) {
		t.Fatalf("Join = %v, want ErrTokenClash", err)
	}
	// The failed Join left no domain behind: after the clash ends, a
	// Join is a fresh one that locks the byte.
	c.in.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	d, err = live.Join(f.Fd(), false)
	if err != nil {
		t.Fatalf("Join after the other holder exited: %v", err)
	}
	defer d.Leave()
	if held, _ := heldByte(t, path, self); !held {
		t.Fatal("byte <token> not locked after the Join")
	}
}

// TestNamespace: Namespace is the inode of this process's pid namespace.
func TestNamespace(t *testing.T) {
	fi, err := os.Stat("/proc/self/ns/pid")
	if err != nil {
		t.Skipf("no /proc/self/ns/pid: %v", err)
	}
	want := fi.Sys().(*syscall.Stat_t).Ino
	if got := live.Namespace(); got != want || got == 0 {
		t.Fatalf("Namespace() = %d, want %d", got, want)
	}
}

// TestJudgeAcrossPidNamespace: a child that is pid 1 of a new pid
// namespace (with the host's /proc, or its own) joins the file; the
// parent, in the host namespace, judges it alive by its token while it
// runs and dead once the namespace's pid 1 is SIGKILLed (the l_pid of its
// lock means nothing here: -1).
func TestJudgeAcrossPidNamespace(t *testing.T) {
	for _, mountProc := range []bool{false, true} {
		name := "host-proc"
		if mountProc {
			name = "own-proc"
		}
		t.Run(name, func(t *testing.T) {
			testproc.RequirePidNS(t, mountProc)
			path := domainFile(t)
			d := join(t, path)
			cmd := testproc.CommandInPidNS(t, "TestLiveHelper", "join", mountProc, envFile+"="+path)
			c := startJoined(t, cmd)
			if c.pid != 1 {
				t.Fatalf("child's pid in its namespace is %d, want 1", c.pid)
			}
			if c.ns == 0 || c.ns == live.Namespace() {
				t.Fatalf("child's pid namespace %d, ours %d: want another one", c.ns, live.Namespace())
			}
			stillAlive(t, "pid 1 of another namespace", func() live.Verdict { return d.Judge(c.token) })
			if held, pid := heldByte(t, path, c.token); !held || pid != -1 {
				t.Fatalf("child's byte: held %v, l_pid %d; want held, -1", held, pid)
			}
			init := testproc.NamespaceInit(t, cmd)
			killed := time.Now()
			if err := syscall.Kill(init, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			lat := untilDead(t, killed, func() live.Verdict { return d.Judge(c.token) })
			t.Logf("pid 1 of another namespace (host pid %d) judged dead %v after SIGKILL", init, lat)
		})
	}
}
