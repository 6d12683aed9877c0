package shm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/testproc"
)

// testName returns a segment name unique to this process, test and call:
// "sx<pid>-<test>-<random>", at most 30 bytes so that it is valid on
// macOS too.
func testName(t testing.TB) string {
	var r [4]byte
	rand.Read(r[:])
	tn := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			return c
		}
		return -1
	}, strings.TrimPrefix(t.Name(), "Test"))
	head := "sx" + strconv.Itoa(os.Getpid()) + "-"
	if room := 30 - len(head) - 9; len(tn) > room {
		tn = tn[:max(room, 0)]
	}
	return head + tn + "-" + hex.EncodeToString(r[:])
}

// mustCreate creates a segment that the test closes and removes at its end.
func mustCreate(t testing.TB, name string, size int64, opts ...Option) *Segment {
	t.Helper()
	s, err := Create(name, size, opts...)
	if err != nil {
		t.Fatalf("Create(%q, %d): %v", name, size, err)
	}
	t.Cleanup(func() {
		s.Close()
		s.Remove()
	})
	return s
}

// mustOpen opens a segment that the test closes at its end.
func mustOpen(t testing.TB, name string, opts ...Option) *Segment {
	t.Helper()
	s, err := Open(name, opts...)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// word returns the 32-bit word at off of b (4-byte aligned).
func word(b []byte, off int) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&b[off]))
}

// waitFor polls cond until it holds or d (scaled for emulators) passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testproc.Scale(d))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCreateOpenShare(t *testing.T) {
	for _, size := range []int64{1, 7, 1000, 4095, 4096, 4097, 65536 + 3} {
		t.Run(strconv.FormatInt(size, 10), func(t *testing.T) {
			name := testName(t)
			a := mustCreate(t, name, size)
			if a.Size() != size || len(a.Bytes()) != int(size) || cap(a.Bytes()) != int(size) {
				t.Fatalf("Create: Size %d len %d cap %d, want %d", a.Size(), len(a.Bytes()), cap(a.Bytes()), size)
			}
			if a.Name() != name {
				t.Fatalf("Name() = %q, want %q", a.Name(), name)
			}
			for i, c := range a.Bytes() {
				if c != 0 {
					t.Fatalf("byte %d of a new segment is %#x, want 0", i, c)
				}
			}
			b := mustOpen(t, name)
			if b.Size() != size || len(b.Bytes()) != int(size) {
				t.Fatalf("Open: Size %d len %d, want %d", b.Size(), len(b.Bytes()), size)
			}
			a.Bytes()[0] = 'a'
			if b.Bytes()[0] != 'a' {
				t.Fatal("a write through the creator's mapping is not seen by the opener's")
			}
			b.Bytes()[size-1] = 'b'
			if a.Bytes()[size-1] != 'b' {
				t.Fatal("a write through the opener's mapping is not seen by the creator's")
			}
		})
	}
}

func TestExistAndNotExist(t *testing.T) {
	name := testName(t)
	if _, err := Open(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing segment: %v, want fs.ErrNotExist", err)
	}
	if err := Remove(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Remove of a missing segment: %v, want fs.ErrNotExist", err)
	}
	mustCreate(t, name, 100)
	_, err := Create(name, 100)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: %v, want fs.ErrExist", err)
	}
	checkPathError(t, err, "create", name)
	_, err = Create("/"+name, 100)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create with a leading '/': %v, want fs.ErrExist (same segment)", err)
	}
	if s := mustOpen(t, "/"+name); s.Name() != name || s.Size() != 100 {
		t.Fatalf("Open with a leading '/': name %q size %d", s.Name(), s.Size())
	}
}

// checkPathError checks that err is an *fs.PathError with op and path.
func checkPathError(t testing.TB, err error, op, path string) {
	t.Helper()
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != op || pe.Path != path {
		t.Fatalf("error %v (%T) is not a *fs.PathError{Op: %q, Path: %q}", err, err, op, path)
	}
}

func TestBadInput(t *testing.T) {
	good := testName(t)
	long := strings.Repeat("x", MaxNameLen+1)
	names := []string{"", "/", "a/b", `a\b`, "a\x00b", ".", "..", "//x", long}
	if runtime.GOOS == "darwin" {
		names = append(names, strings.Repeat("y", 32))
	}
	for _, n := range names {
		_, err := Create(n, 100)
		if !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Create(%q): %v, want fs.ErrInvalid", n, err)
		}
		if _, err := Open(n); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q): %v, want fs.ErrInvalid", n, err)
		}
		if err := Remove(n); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Remove(%q): %v, want fs.ErrInvalid", n, err)
		}
	}
	for _, size := range []int64{0, -1, math.MinInt64, math.MaxInt64, math.MaxInt64 - 4095} {
		_, err := Create(good, size)
		if !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Create(size %d): %v, want fs.ErrInvalid", size, err)
		}
		checkPathError(t, err, "create", good)
	}
	if _, err := Create(good, 100, WithReadOnly()); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Create(WithReadOnly): %v, want fs.ErrInvalid", err)
	}
	if _, err := Open(good); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed Create left something behind: Open = %v", err)
	}
}

// TestTooBig asks for more memory than the machine has: Create must fail
// cleanly (ENOSPC from fallocate on Linux, a commit-limit error on
// Windows), leaving nothing behind.
func TestTooBig(t *testing.T) {
	if runtime.GOOS == "darwin" || runtime.GOOS == "freebsd" {
		t.Skip("macOS files and FreeBSD shm objects are sparse: a huge Create succeeds there")
	}
	if unsafe.Sizeof(uintptr(0)) < 8 {
		t.Skip("32-bit: the size check rejects it before the OS sees it")
	}
	name := testName(t)
	s, err := Create(name, 1<<50)
	if err == nil {
		s.Close()
		s.Remove()
		t.Fatal("Create of 1 PiB succeeded")
	}
	checkPathError(t, err, "create", name)
	t.Logf("Create(1 PiB): %v", err)
	if _, err := Open(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed Create left something behind: Open = %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	name := testName(t)
	s := mustCreate(t, name, 64)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Bytes() != nil {
		t.Fatal("Bytes() after Close is not nil")
	}
	err := s.Close()
	if !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("second Close: %v, want fs.ErrClosed", err)
	}
	checkPathError(t, err, "close", name)
}

// TestRetire checks that a retired segment's memory stays mapped at the
// same address, reads zeros, takes writes without a fault, and is no
// longer shared: another mapping of the segment neither sees those
// writes nor loses its data. A second Close or Retire fails with
// fs.ErrClosed.
func TestRetire(t *testing.T) {
	name := testName(t)
	a := mustCreate(t, name, 3*4096+100)
	b := mustOpen(t, name)
	copy(a.Bytes(), "shared")
	old := a.Bytes()
	retired, err := a.Retire()
	if err != nil || !retired {
		t.Fatalf("Retire = %v, %v; want true, nil", retired, err)
	}
	for i, c := range old {
		if c != 0 {
			t.Fatalf("retired memory holds %#x at %d, want zeros", c, i)
		}
	}
	if faults(old) {
		t.Fatal("a write to retired memory faulted")
	}
	copy(old, "private")
	if got := string(b.Bytes()[:6]); got != "shared" {
		t.Fatalf("the other mapping reads %q after Retire and a write to the retired memory, want %q", got, "shared")
	}
	if _, err := a.Retire(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("second Retire: %v, want fs.ErrClosed", err)
	}
	if err := a.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Close after Retire: %v, want fs.ErrClosed", err)
	}
}

// TestReadOnlyFaults checks that a read-only mapping is really mapped
// without write access: a write faults (caught here as a panic thanks to
// debug.SetPanicOnFault) and changes nothing.
func TestReadOnlyFaults(t *testing.T) {
	name := testName(t)
	w := mustCreate(t, name, 4096)
	copy(w.Bytes(), "data")
	r := mustOpen(t, name, WithReadOnly(), WithPrefault())
	if string(r.Bytes()[:4]) != "data" {
		t.Fatalf("read-only mapping reads %q", r.Bytes()[:4])
	}
	if !faults(r.Bytes()) {
		t.Fatal("a write to a read-only mapping did not fault")
	}
	if string(w.Bytes()[:4]) != "data" {
		t.Fatalf("the segment changed to %q", w.Bytes()[:4])
	}
	if faults(w.Bytes()) {
		t.Fatal("a write to a read-write mapping faulted")
	}
}

// faults reports whether writing b[0] faults.
func faults(b []byte) (faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			faulted = true
		}
	}()
	// A plain store (not an atomic, which the race detector performs in
	// C code where a fault cannot become a panic) of the byte already
	// there: a writable mapping stays as it was.
	storeByte(&b[0], b[0])
	return false
}

// storeByte stores v at p; kept out of line so that the compiler cannot
// drop a store of the value that is already there.
//
//go:noinline
func storeByte(p *byte, v byte) { *p = v }

func TestOptionsPrefaultLock(t *testing.T) {
	name := testName(t)
	s := mustCreate(t, name, 1<<20+5, WithPrefault(), WithMode(0o640))
	s.Bytes()[1<<20] = 1
	o := mustOpen(t, name, WithPrefault())
	if o.Bytes()[1<<20] != 1 {
		t.Fatal("prefaulted mappings do not share")
	}
	l, err := Open(name, WithLockInRAM())
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "memory") ||
			strings.Contains(err.Error(), "quota") {
			t.Skipf("locking 1 MiB in RAM is not allowed here: %v", err)
		}
		t.Fatal(err)
	}
	defer l.Close()
	if l.Bytes()[1<<20] != 1 {
		t.Fatal("locked mapping does not share")
	}
}

func TestHugePages(t *testing.T) {
	name := testName(t)
	s, err := Create(name, 3<<20, WithHugePages())
	if err != nil {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("Create(WithHugePages): %v, want success or errors.ErrUnsupported", err)
		}
		checkPathError(t, err, "create", name)
		t.Skipf("no huge pages here (the error says why, as it must): %v", err)
	}
	t.Cleanup(func() { s.Close(); s.Remove() })
	o := mustOpen(t, name, WithHugePages())
	s.Bytes()[3<<20-1] = 7
	if o.Bytes()[3<<20-1] != 7 || o.Size() < 3<<20 {
		t.Fatalf("huge-page segment: size %d, not shared", o.Size())
	}
	// Retire swaps huge pages for small private ones over the whole
	// (huge-page rounded) mapping.
	old := o.Bytes()
	if retired, err := o.Retire(); err != nil || !retired {
		t.Fatalf("Retire of a huge-page mapping = %v, %v", retired, err)
	}
	if old[3<<20-1] != 0 || faults(old[3<<20-1:]) || s.Bytes()[3<<20-1] != 7 {
		t.Fatal("a retired huge-page mapping is not private zeros, or it changed the segment")
	}
}

func TestWithFile(t *testing.T) {
	// Not t.TempDir: its RemoveAll fails under wine 8.0 (see
	// .ci/bin/go_windows_amd64_exec); the directory is emptied by the
	// test itself and removed with os.Remove.
	dir, err := os.MkdirTemp("", "shmx-withfile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Remove(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	name := testName(t)
	s, err := Create(name, 12345, WithFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	copy(s.Bytes(), "persist")
	fi, err := os.Stat(dir + string(os.PathSeparator) + name)
	if err != nil || fi.Size() != 12345 {
		t.Fatalf("segment file: %v, size %v, want 12345", err, fi)
	}
	if _, err := Open(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a WithFile segment is visible without WithFile: %v", err)
	}
	o, err := Open(name, WithFile(dir), WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	if o.Size() != 12345 || string(o.Bytes()[:7]) != "persist" {
		t.Fatalf("reopened file segment: size %d, %q", o.Size(), o.Bytes()[:7])
	}
	o.Close()
	s.Close()
	if err := s.Remove(); err != nil {
		t.Fatalf("Segment.Remove: %v", err)
	}
	if _, err := os.Stat(dir + string(os.PathSeparator) + name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("segment file still there after Remove: %v", err)
	}

}

// TestRemoveWhileMapped removes a segment while this process and a child
// process both map it: both keep sharing the memory. On Unix the name is
// gone at once (Open fails, Create makes a new segment); on Windows it
// lives until its last handle closes.
func TestRemoveWhileMapped(t *testing.T) {
	if testproc.Role() == "child" {
		s := mustOpen(t, os.Getenv("SEG"))
		word(s.Bytes(), 0).Store(1) // I am mapped
		waitFor(t, "removal", 30*time.Second, func() bool { return word(s.Bytes(), 4).Load() == 1 })
		word(s.Bytes(), 8).Store(42) // write after removal
		return
	}
	name := testName(t)
	s := mustCreate(t, name, 4096)
	cmd := testproc.Command(t, "TestRemoveWhileMapped", "child", "SEG="+name)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child to map", 30*time.Second, func() bool { return word(s.Bytes(), 0).Load() == 1 })
	if err := Remove(name); err != nil {
		t.Fatalf("Remove while mapped: %v", err)
	}
	word(s.Bytes(), 4).Store(1)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if got := word(s.Bytes(), 8).Load(); got != 42 {
		t.Fatalf("after Remove the parent reads %d, want the child's 42", got)
	}
	if runtime.GOOS == "windows" {
		return
	}
	if _, err := Open(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open after Remove: %v, want fs.ErrNotExist", err)
	}
	n := mustCreate(t, name, 4096)
	if word(n.Bytes(), 8).Load() != 0 {
		t.Fatal("Create after Remove reused the removed memory")
	}
}

// TestChildSharesSegment: a child process opens the segment the parent
// created; each sees the other's writes.
func TestChildSharesSegment(t *testing.T) {
	const size = 3*4096 + 100
	if testproc.Role() == "child" {
		s := mustOpen(t, os.Getenv("SEG"))
		if s.Size() != size {
			t.Fatalf("child: Size %d, want %d", s.Size(), size)
		}
		if got := string(s.Bytes()[size-6:]); got != "parent" {
			t.Fatalf("child reads %q, want parent", got)
		}
		copy(s.Bytes()[100:], "child")
		word(s.Bytes(), 0).Store(1)
		return
	}
	name := testName(t)
	s := mustCreate(t, name, size)
	copy(s.Bytes()[size-6:], "parent")
	if out, err := testproc.Command(t, "TestChildSharesSegment", "child", "SEG="+name).Output(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if word(s.Bytes(), 0).Load() != 1 || string(s.Bytes()[100:105]) != "child" {
		t.Fatalf("parent reads %q after the child ran", s.Bytes()[100:105])
	}
}

// TestChildReadOnlyFaults: a child that opened the segment read-only
// cannot write it; its write faults, which it catches, and the parent
// sees nothing changed.
func TestChildReadOnlyFaults(t *testing.T) {
	if testproc.Role() == "child" {
		s := mustOpen(t, os.Getenv("SEG"), WithReadOnly())
		if string(s.Bytes()[:6]) != "parent" {
			t.Fatalf("child reads %q", s.Bytes()[:6])
		}
		if !faults(s.Bytes()) {
			t.Fatal("child: a write to the read-only mapping did not fault")
		}
		return
	}
	name := testName(t)
	s := mustCreate(t, name, 100)
	copy(s.Bytes(), "parent")
	if out, err := testproc.Command(t, "TestChildReadOnlyFaults", "child", "SEG="+name).Output(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if string(s.Bytes()[:6]) != "parent" {
		t.Fatalf("segment changed to %q", s.Bytes()[:6])
	}
}

// TestRacingCreates: 8 goroutines in each of 2 processes create one name
// at the same moment; exactly one Create succeeds. A control segment
// lines both processes up on a start flag.
func TestRacingCreates(t *testing.T) {
	const goroutines = 8
	// race returns the segments it won; they stay open until both
	// processes are done, since on Windows closing the last handle
	// destroys a segment, and a late racer could then create it anew.
	race := func(name string) []*Segment {
		var mu sync.Mutex
		var won []*Segment
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				s, err := Create(name, 4096)
				if err == nil {
					mu.Lock()
					won = append(won, s)
					mu.Unlock()
				} else if !errors.Is(err, fs.ErrExist) {
					t.Errorf("racing Create: %v, want success or fs.ErrExist", err)
				}
			})
		}
		wg.Wait()
		return won
	}
	closeAll := func(ss []*Segment) {
		for _, s := range ss {
			s.Close()
		}
	}
	if testproc.Role() == "child" {
		ctl := mustOpen(t, os.Getenv("CTL"))
		word(ctl.Bytes(), 0).Store(1) // ready
		waitFor(t, "the start flag", 30*time.Second, func() bool { return word(ctl.Bytes(), 4).Load() == 1 })
		won := race(os.Getenv("SEG"))
		word(ctl.Bytes(), 8).Store(uint32(len(won)) + 100)
		waitFor(t, "the parent's race", 30*time.Second, func() bool { return word(ctl.Bytes(), 12).Load() == 1 })
		closeAll(won)
		return
	}
	for round := range 5 {
		ctl := mustCreate(t, testName(t), 64)
		name := testName(t)
		cmd := testproc.Command(t, "TestRacingCreates", "child", "CTL="+ctl.Name(), "SEG="+name)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the child", 30*time.Second, func() bool { return word(ctl.Bytes(), 0).Load() == 1 })
		word(ctl.Bytes(), 4).Store(1)
		won := race(name)
		word(ctl.Bytes(), 12).Store(1)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
		closeAll(won)
		Remove(name)
		theirs := int(word(ctl.Bytes(), 8).Load()) - 100
		if len(won)+theirs != 1 {
			t.Fatalf("round %d: %d Creates succeeded here and %d in the child, want exactly 1 in all", round, len(won), theirs)
		}
	}
}

func ExampleCreate() {
	name := fmt.Sprintf("example-%d", os.Getpid())
	seg, err := Create(name, 1000)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer Remove(name)
	defer seg.Close()
	copy(seg.Bytes(), "hello")

	other, err := Open(name) // typically in another process
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close()
	fmt.Println(string(other.Bytes()[:5]), other.Size())
	// Output: hello 1000
}
