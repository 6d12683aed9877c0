package memfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/testproc"
	"github.com/shmx/shmx/shm"
)

// tempLink returns a link path in a fresh temporary directory.
func tempLink(t testing.TB) string {
	return filepath.Join(tempDir(t), "test.link")
}

// tempDir is t.TempDir, emptied entry by entry with os.Remove: under wine
// 8.0, Go's os.RemoveAll fails ("Invalid function", see
// .ci/bin/go_windows_amd64_exec) while os.Remove works.
func tempDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "memfile-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			os.Remove(filepath.Join(dir, e.Name()))
		}
		if err := os.Remove(dir); err != nil {
			t.Errorf("removing the test directory: %v", err)
		}
	})
	return dir
}

// mustCreate creates a memfile that is closed (and so removed) when the
// test ends, unless the test closed it already.
func mustCreate(t *testing.T, link string, lt LockType, size int, opts ...Option) *MemFile {
	t.Helper()
	f, err := Create(link, lt, size, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !f.closed.Load() {
			f.Close()
		}
	})
	return f
}

func segmentExists(t *testing.T, osid string) bool {
	t.Helper()
	s, err := shm.Open(osid)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	return true
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestCrossProcessReadWrite: a child process opens the parent's memfile
// through the link, reads what the parent wrote under the lock and writes
// an answer back; for each lock type.
func TestCrossProcessReadWrite(t *testing.T) {
	if testproc.Role() == "child" {
		f, err := Open(os.Getenv("LINK"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		err = f.Read(func(data []byte) error {
			if got := string(data[:5]); got != "hello" {
				return fmt.Errorf("child read %q", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Write(func(data []byte) error { copy(data[100:], "world"); return nil }); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, lt := range []LockType{LockNone, LockMutex, LockRWMutex} {
		t.Run(lt.String(), func(t *testing.T) {
			link := tempLink(t)
			f := mustCreate(t, link, lt, 4096, WithEvents(2))
			if f.Size() != 4096 || f.LockType() != lt || !f.IsOwner() || f.LinkPath() != link {
				t.Fatalf("Size %d LockType %v IsOwner %v LinkPath %q", f.Size(), f.LockType(), f.IsOwner(), f.LinkPath())
			}
			f.Write(func(data []byte) error { copy(data, "hello"); return nil })
			out, err := testproc.Command(t, "TestCrossProcessReadWrite", "child", "LINK="+link).Output()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			f.Read(func(data []byte) error {
				if got := string(data[100:105]); got != "world" {
					t.Errorf("parent read %q after the child wrote", got)
				}
				return nil
			})
		})
	}
}

func TestOwnerAndOpenerClose(t *testing.T) {
	link := tempLink(t)
	f := mustCreate(t, link, LockMutex, 100)
	g, err := Open(link)
	if err != nil {
		t.Fatal(err)
	}
	if g.IsOwner() {
		t.Error("an opener is owner")
	}
	if g.OSID() != f.OSID() || g.Size() != 100 {
		t.Errorf("opener sees %s/%d, creator %s/%d", g.OSID(), g.Size(), f.OSID(), f.Size())
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if !segmentExists(t, f.OSID()) || !fileExists(link) {
		t.Fatal("an opener's Close removed the segment or link")
	}
	if err := g.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Close = %v, want fs.ErrClosed", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if segmentExists(t, f.OSID()) || fileExists(link) {
		t.Fatal("the owner's Close left the segment or link")
	}
	if _, err := Open(link); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open after the owner closed = %v, want fs.ErrNotExist", err)
	}
}

func TestSetOwner(t *testing.T) {
	link := tempLink(t)
	f := mustCreate(t, link, LockRWMutex, 100)
	g, err := Open(link)
	if err != nil {
		t.Fatal(err)
	}
	f.SetOwner(false)
	g.SetOwner(true)
	if f.IsOwner() || !g.IsOwner() {
		t.Fatal("SetOwner did not move ownership")
	}
	f.Close()
	if !segmentExists(t, g.OSID()) || !fileExists(link) {
		t.Fatal("the former owner's Close removed the segment or link")
	}
	g.Close()
	if segmentExists(t, g.OSID()) || fileExists(link) {
		t.Fatal("the new owner's Close left the segment or link")
	}
}

// TestForkedOwnerKeeps: a MemFile owned by another process id (as after a
// fork) is not removed by Close (complaint #35 of shared_memory-rs).
func TestForkedOwnerKeeps(t *testing.T) {
	link := tempLink(t)
	f := mustCreate(t, link, LockNone, 100)
	osid := f.OSID()
	f.ownerPID = os.Getpid() + 1 // what a forked child would see
	if f.IsOwner() {
		t.Fatal("IsOwner in a process that is not the owner")
	}
	f.Close()
	// (Windows itself frees a segment with its last handle.)
	if runtime.GOOS != "windows" && !segmentExists(t, osid) || !fileExists(link) {
		t.Fatal("Close in a non-owner process removed the segment or link")
	}
	shm.Remove(osid)
	os.Remove(link)
}

func TestStaleLink(t *testing.T) {
	link := tempLink(t)
	if err := writeLink(link, LinkInfo{OSID: newOSID(), Size: 4096}, 0o600, false); err != nil {
		t.Fatal(err)
	}
	_, err := Open(link)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), link) || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("Open of a stale link = %v; want fs.ErrNotExist naming %s", err, link)
	}
	if _, err := Create(link, LockMutex, 64); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over a link = %v, want fs.ErrExist", err)
	}
	f := mustCreate(t, link, LockMutex, 64, WithForce())
	g, err := Open(link)
	if err != nil {
		t.Fatalf("Open after a forced Create: %v", err)
	}
	g.Close()
	f.Close()
	if fileExists(link) {
		t.Fatal("forced creator's Close left its link")
	}
}

// TestRacingCreators: 8 goroutines and 2 processes create the same link at
// the same moment; exactly one wins, the others get fs.ErrExist. The
// winner holds the link until everyone has tried.
func TestRacingCreators(t *testing.T) {
	if testproc.Role() == "racer" {
		res, f := raceOnce(t, os.Getenv("LINK"), os.Getenv("START"))
		fmt.Println(res)
		if f != nil {
			io.Copy(io.Discard, os.Stdin) // hold until the parent closes stdin
			f.Close()
		}
		return
	}
	link := tempLink(t)
	start := time.Now().Add(testproc.Scale(500 * time.Millisecond)).Format(time.RFC3339Nano)
	type racer struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   *bufio.Reader
	}
	var procs []racer
	for range 2 {
		cmd := testproc.Command(t, "TestRacingCreators", "racer", "LINK="+link, "START="+start)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, racer{cmd, in, bufio.NewReader(out)})
	}
	results := make(chan string, 10)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			res, f := raceOnce(t, link, start)
			results <- res
			if f != nil {
				<-release
				f.Close()
			}
		})
	}
	counts := map[string]int{}
	for range 8 {
		counts[<-results]++
	}
	for _, p := range procs {
		line, err := p.out.ReadString('\n')
		if err != nil {
			t.Fatalf("racer process said %q: %v", line, err)
		}
		counts[strings.TrimSpace(line)]++
	}
	close(release)
	for _, p := range procs {
		p.stdin.Close()
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("racer process: %v", err)
		}
	}
	wg.Wait()
	if counts["won"] != 1 || counts["exist"] != 9 {
		t.Fatalf("results %v, want exactly 1 won and 9 exist", counts)
	}
	if fileExists(link) {
		t.Error("the winner's Close left the link")
	}
}

// raceOnce waits until start, then creates link: "won" with the MemFile,
// or "exist" (or an error message) without.
func raceOnce(t *testing.T, link, start string) (string, *MemFile) {
	at, err := time.Parse(time.RFC3339Nano, start)
	if err != nil {
		t.Error(err)
		return err.Error(), nil
	}
	time.Sleep(time.Until(at))
	f, err := Create(link, LockMutex, 64)
	switch {
	case errors.Is(err, fs.ErrExist):
		return "exist", nil
	case err != nil:
		return "error: " + err.Error(), nil
	}
	return "won", f
}

// TestForceAfterCrash: a creator that exits without Close leaves its link
// and (except on Windows) its segment. Create without WithForce refuses
// the path; with it, it takes the path over and removes the dead
// creator's segment. A live creator's segment is never removed.
func TestForceAfterCrash(t *testing.T) {
	if testproc.Role() == "crash" {
		f, err := Create(os.Getenv("LINK"), LockMutex, 64)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(f.OSID())
		os.Exit(0) // no Close: link and segment stay behind
	}
	link := tempLink(t)
	out, err := testproc.Command(t, "TestForceAfterCrash", "crash", "LINK="+link).Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	old := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	defer shm.Remove(old)
	if _, err := Create(link, LockMutex, 64); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over a crashed creator's link = %v, want fs.ErrExist", err)
	}
	f := mustCreate(t, link, LockMutex, 64, WithForce())
	if runtime.GOOS != "windows" && segmentExists(t, old) {
		t.Errorf("forced Create left the dead creator's segment %s", old)
	}
	g := mustCreate(t, link, LockMutex, 64, WithForce())
	if !segmentExists(t, f.OSID()) {
		t.Error("forced Create removed a live creator's segment")
	}
	g.Close()
	f.Close()
}
