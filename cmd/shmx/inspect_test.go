package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/internal/testproc"
	"github.com/shmx/shmx/memfile"
	"github.com/shmx/shmx/shm"
)

// TestLs checks that ls lists a segment this test created, with its lock
// type and this process as its live creator.
func TestLs(t *testing.T) {
	f := create(t, memfile.LockRWMutex, 2)
	var out bytes.Buffer
	err := ls(&out, time.Now())
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("ls: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	line := lineWith(out.String(), f.OSID())
	if line == "" {
		t.Fatalf("ls does not list %s:\n%s", f.OSID(), out.String())
	}
	for _, want := range []string{"RWMutex", fmt.Sprintf("token %08x, pid %d (alive)", live.Self(), os.Getpid()), "KiB"} {
		if !strings.Contains(line, want) {
			t.Errorf("ls line lacks %q: %s", want, line)
		}
	}
	t.Logf("\n%s", out.String())
}

// TestInfoMutex checks info's view of a Mutex free, then held by us.
func TestInfoMutex(t *testing.T) {
	f := create(t, memfile.LockMutex, 3)
	out := infoOf(t, f.LinkPath())
	for _, want := range []string{f.OSID(), "Mutex: not held, no waiters", "events          3", "auto-reset, not set, 0 waiter(s)",
		"layout          version 5, 128-byte header",
		fmt.Sprintf("creator         token %08x, pid %d (alive)", live.Self(), os.Getpid()),
		"participants    1 listed (table of 64)",
		fmt.Sprintf("  %08x      pid %d, %s: alive, creator", live.Self(), os.Getpid(), nsText(live.Namespace()))} {
		if !strings.Contains(out, want) {
			t.Errorf("info of a free Mutex lacks %q:\n%s", want, out)
		}
	}
	f.Lock()
	ev, _ := f.Event(1)
	ev.Set()
	out = infoOf(t, f.OSID()) // by segment name this time
	f.Unlock()
	for _, want := range []string{fmt.Sprintf("Mutex: held by token %08x, pid %d (alive)", live.Self(), os.Getpid()), "auto-reset, set, 0 waiter(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("info of a held Mutex lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)
}

// TestInfoRWMutex checks info's view of an RWMutex read-held, then
// write-held.
func TestInfoRWMutex(t *testing.T) {
	f := create(t, memfile.LockRWMutex, 0)
	f.RLock()
	out := infoOf(t, f.LinkPath())
	f.RUnlock()
	if want := fmt.Sprintf("readers: 1 process(es): token %08x, pid %d (alive) x1", live.Self(), os.Getpid()); !strings.Contains(out, want) {
		t.Errorf("info of a read-held RWMutex lacks %q:\n%s", want, out)
	}
	f.Lock()
	out = infoOf(t, f.LinkPath())
	f.Unlock()
	for _, want := range []string{fmt.Sprintf("writer: held by token %08x, pid %d (alive)", live.Self(), os.Getpid()), "barring new readers", "readers: none"} {
		if !strings.Contains(out, want) {
			t.Errorf("info of a write-held RWMutex lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)
}

// TestInfoLiveness checks that info judges another process by the
// kernel: a child that opened the segment and holds its Mutex is shown
// alive (holder and participant, by its token and pid), and dead once it
// was killed, while the lock word still names it.
func TestInfoLiveness(t *testing.T) {
	if testproc.Role() == "holder" {
		f, err := memfile.Open(os.Getenv("LINK"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		f.Lock()
		fmt.Printf("holder %08x %d\n", live.Self(), os.Getpid())
		time.Sleep(testproc.Scale(time.Minute)) // until killed
		os.Exit(1)
	}
	f := create(t, memfile.LockMutex, 0)
	cmd := testproc.Command(t, "TestInfoLiveness", "holder", "LINK="+f.LinkPath())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	var token uint32
	var pid int
	if _, serr := fmt.Sscanf(line, "holder %x %d", &token, &pid); err != nil || serr != nil {
		t.Fatalf("holder child said %q (%v, %v)", line, err, serr)
	}
	out := infoOf(t, f.LinkPath())
	t.Logf("\n%s", out)
	for _, want := range []string{
		fmt.Sprintf("Mutex: held by token %08x, pid %d (alive)", token, pid),
		"participants    2 listed (table of 64)",
		fmt.Sprintf("  %08x      pid %d, %s: alive\n", token, pid, nsText(live.Namespace())),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info with a live holder lacks %q", want)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	out = infoOf(t, f.LinkPath())
	t.Logf("\n%s", out)
	for _, want := range []string{
		fmt.Sprintf("Mutex: held by token %08x, pid %d (dead)", token, pid),
		fmt.Sprintf("  %08x      pid %d, %s: dead\n", token, pid, nsText(live.Namespace())),
		fmt.Sprintf("creator         token %08x, pid %d (alive)", live.Self(), os.Getpid()),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info with a killed holder lacks %q", want)
		}
	}
}

// nsText is how info shows a participant's pid namespace ns when it is
// this process's.
func nsText(ns uint64) string {
	if ns == 0 {
		return "pid namespace unknown"
	}
	return fmt.Sprintf("pid namespace %d (this one's)", ns)
}

// TestInfoNotShmx checks that info refuses a missing segment and a file
// that is not a link.
func TestInfoNotShmx(t *testing.T) {
	var out bytes.Buffer
	if err := info(&out, "shmx_no_such_segment_here"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("info of a missing segment: %v, want fs.ErrNotExist", err)
	}
	junk := filepath.Join(testDir(t), "junk.link")
	os.WriteFile(junk, []byte("hello\n"), 0o600)
	if err := info(&out, junk); !errors.Is(err, memfile.ErrCorrupt) {
		t.Errorf("info of a junk link: %v, want memfile.ErrCorrupt", err)
	}
}

// TestRm checks that rm of a link removes the segment and the link.
func TestRm(t *testing.T) {
	f := create(t, memfile.LockMutex, 0)
	var out bytes.Buffer
	if err := rm(&out, rmConfig{args: []string{f.LinkPath()}, dryRun: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.LinkPath()); err != nil {
		t.Fatalf("rm -dry-run removed the link: %v", err)
	}
	if err := rm(&out, rmConfig{args: []string{f.LinkPath()}}); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if _, err := os.Stat(f.LinkPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("link still there after rm: %v", err)
	}
	if !strings.Contains(out.String(), "removed segment "+f.OSID()) {
		t.Errorf("rm did not report the segment:\n%s", out.String())
	}
	if runtime.GOOS == "windows" {
		return // the section lives while we have it open: nothing to check
	}
	if _, err := memfile.OpenRaw(f.OSID()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("segment still opens after rm: %v", err)
	}
}

// TestRmStale kills a child that created a segment, then checks that
// rm -stale -dry-run names it and leaves it, and rm -stale removes it.
func TestRmStale(t *testing.T) {
	if testproc.Role() == "creator" {
		f, err := memfile.Create(os.Getenv("LINK"), memfile.LockMutex, 4096)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("osid", f.OSID())
		time.Sleep(testproc.Scale(time.Minute)) // until killed
		os.Exit(1)
	}
	if _, _, err := mappers(nil); errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("rm -stale: %v", err)
	}
	osid, _ := killedCreator(t)
	only := func(s string) bool { return s == osid } // leave other programs' segments alone
	var out bytes.Buffer
	if err := rm(&out, rmConfig{stale: true, dryRun: true, only: only}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "would remove "+osid) {
		t.Fatalf("rm -stale -dry-run does not name %s:\n%s", osid, out.String())
	}
	if _, err := readSegment(osid); err != nil {
		t.Fatalf("rm -stale -dry-run removed the segment: %v", err)
	}
	out.Reset()
	if err := rm(&out, rmConfig{stale: true, only: only}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "removed "+osid) {
		t.Fatalf("rm -stale does not report %s:\n%s", osid, out.String())
	}
	if _, err := readSegment(osid); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("segment still there after rm -stale: %v", err)
	}
	t.Logf("\n%s", out.String())
}

// TestRmStaleKeepsLiveParticipant checks that rm -stale keeps a segment
// whose creator is dead while a participant the kernel vouches for (a
// child that opened it) still uses it, and removes it once that
// participant was killed too.
func TestRmStaleKeepsLiveParticipant(t *testing.T) {
	if testproc.Role() == "opener" {
		if _, err := memfile.Open(os.Getenv("LINK")); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("opener %08x %d\n", live.Self(), os.Getpid())
		time.Sleep(testproc.Scale(time.Minute)) // until killed
		os.Exit(1)
	}
	if _, _, err := mappers(nil); errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("rm -stale: %v", err)
	}
	osid, link := killedCreator(t)
	cmd := testproc.Command(t, "TestRmStaleKeepsLiveParticipant", "opener", "LINK="+link)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	var token uint32
	var pid int
	if _, serr := fmt.Sscanf(line, "opener %x %d", &token, &pid); err != nil || serr != nil {
		t.Fatalf("opener child said %q (%v, %v)", line, err, serr)
	}
	only := func(s string) bool { return s == osid }
	var out bytes.Buffer
	if err := rm(&out, rmConfig{stale: true, only: only}); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if want := fmt.Sprintf("keeping %s: creator token ", osid); !strings.Contains(out.String(), want) ||
		!strings.Contains(out.String(), fmt.Sprintf("is dead but participant token %08x, pid %d (alive) is not", token, pid)) {
		t.Fatalf("rm -stale does not keep %s for its live participant:\n%s", osid, out.String())
	}
	if _, err := readSegment(osid); err != nil {
		t.Fatalf("rm -stale removed a segment in use: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	out.Reset()
	if err := rm(&out, rmConfig{stale: true, only: only}); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if !strings.Contains(out.String(), "removed "+osid) {
		t.Fatalf("rm -stale does not remove %s once its participant died:\n%s", osid, out.String())
	}
}

// killedCreator starts a child that creates a segment, kills it once it
// has, and returns the segment's name and its link file.
func killedCreator(t *testing.T) (osid, link string) {
	link = filepath.Join(testDir(t), "stale.link")
	cmd := testproc.Command(t, "TestRmStale", "creator", "LINK="+link)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	cmd.Process.Kill()
	cmd.Wait()
	osid, ok := strings.CutPrefix(strings.TrimSpace(line), "osid ")
	if err != nil || !ok {
		t.Fatalf("creator child said %q (%v)", line, err)
	}
	t.Cleanup(func() { memfileRemove(osid) })
	return osid, link
}

// TestRmRefusesForeign checks that rm leaves a segment without an shmx
// header alone.
func TestRmRefusesForeign(t *testing.T) {
	name := fmt.Sprintf("shmx_test_raw_%d", os.Getpid())
	f, err := memfile.CreateRaw(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if err := rm(&out, rmConfig{args: []string{name}}); err == nil || !strings.Contains(err.Error(), "not an shmx segment") {
		t.Errorf("rm of a raw segment: %v", err)
	}
}

// TestInspectUsage checks the exit status of bad command lines.
func TestInspectUsage(t *testing.T) {
	for _, args := range [][]string{{"info"}, {"info", "a", "b"}, {"rm"}, {"rm", "-stale", "x"}, {"ls", "x"}, {"rm", "-bogus"}} {
		var stderr bytes.Buffer
		if got := dispatch(args, &stderr); got != 2 {
			t.Errorf("shmx %q exited %d, want 2; stderr:\n%s", args, got, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if got := dispatch([]string{"info", "shmx_no_such_segment_here"}, &stderr); got != 1 || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("info of a missing segment exited %d with %q; want 1 and one line", got, stderr.String())
	}
}

// create makes a memfile with a 4 KiB data area, closed at the end of the
// test.
func create(t *testing.T, lock memfile.LockType, events int) *memfile.MemFile {
	f, err := memfile.Create(filepath.Join(testDir(t), "t.link"), lock, 4096, memfile.WithEvents(events))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func infoOf(t *testing.T, arg string) string {
	var out bytes.Buffer
	if err := info(&out, arg); err != nil {
		t.Fatalf("info %s: %v", arg, err)
	}
	return out.String()
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// memfileRemove removes a segment left by a failed test.
func memfileRemove(osid string) { shm.Remove(osid) }

// testDir is t.TempDir, emptied entry by entry with os.Remove: under wine
// 8.0 Go's os.RemoveAll fails ("Invalid function") while os.Remove works.
func testDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "shmx-cmd-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			os.Remove(filepath.Join(dir, e.Name()))
		}
		os.Remove(dir)
	})
	return dir
}
