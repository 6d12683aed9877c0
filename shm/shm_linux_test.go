package shm

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDevShmFile checks that a segment is exactly the file shm_open uses,
// sized exactly and with exactly the mode asked for.
func TestDevShmFile(t *testing.T) {
	name := testName(t)
	s := mustCreate(t, name, 5000, WithMode(0o640))
	if s.OSName() != "/dev/shm/"+name {
		t.Fatalf("OSName() = %q, want /dev/shm/%s", s.OSName(), name)
	}
	fi, err := os.Lstat("/dev/shm/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 5000 || fi.Mode() != 0o640 {
		t.Fatalf("/dev/shm/%s: size %d mode %v, want 5000 -rw-r-----", name, fi.Size(), fi.Mode())
	}
	// fallocate reserved the memory: the file's blocks are allocated.
	if st := fi.Sys().(*syscall.Stat_t); st.Blocks*512 < 5000 {
		t.Fatalf("only %d bytes allocated for a 5000-byte segment", st.Blocks*512)
	}
}

// TestOpenStrangeFiles: what another program may leave in /dev/shm.
func TestOpenStrangeFiles(t *testing.T) {
	base := testName(t)
	empty, fifo, link := base+"e", base+"f", base+"l"
	t.Cleanup(func() {
		for _, n := range []string{empty, fifo, link} {
			os.Remove("/dev/shm/" + n)
		}
	})
	if err := os.WriteFile("/dev/shm/"+empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty); !errors.Is(err, ErrEmpty) {
		t.Errorf("Open of an empty segment: %v, want ErrEmpty", err)
	}
	if err := unix.Mkfifo("/dev/shm/"+fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(fifo); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open of a FIFO: %v, want fs.ErrInvalid (and no hang)", err)
	}
	if err := os.Symlink("/dev/shm/"+empty, "/dev/shm/"+link); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(link); !errors.Is(err, unix.ELOOP) {
		t.Errorf("Open of a symlink: %v, want ELOOP (O_NOFOLLOW)", err)
	}
	if _, err := Create(link, 100); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over a symlink: %v, want fs.ErrExist", err)
	}
}

// TestTooBigForDevShm: asking for more than /dev/shm has left fails at
// Create with ENOSPC, instead of a SIGBUS at first touch, and leaves no
// file behind.
func TestTooBigForDevShm(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil {
		t.Skip(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	name := testName(t)
	_, err := Create(name, free+1<<30)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Create of %d bytes with %d free: %v, want ENOSPC", free+1<<30, free, err)
	}
	if _, err := os.Lstat("/dev/shm/" + name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed Create left /dev/shm/%s: %v", name, err)
	}
}

// python runs a Python snippet with args, skipping the test when there
// is no python3 with multiprocessing.shared_memory.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: cannot test interoperation with Python")
	}
	if exec.Command(py, "-c", "import multiprocessing.shared_memory").Run() != nil {
		t.Skip("python3 has no multiprocessing.shared_memory (needs 3.8+)")
	}
	out, err := exec.Command(py, append([]string{"-c", script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// pyUntrack stops Python's resource_tracker from unlinking a segment the
// script merely attached to (before 3.13, attaching registers it too, and
// the tracker unlinks it at exit; 3.13 has track=False for this).
const pyUntrack = `
from multiprocessing import shared_memory, resource_tracker
def untrack(shm):
    resource_tracker.unregister(shm._name, "shared_memory")
`

// TestPythonOpensGoSegment: Go creates and writes, Python
// (multiprocessing.shared_memory) reads and writes back, Go sees it.
func TestPythonOpensGoSegment(t *testing.T) {
	name := testName(t)
	s := mustCreate(t, name, 1000)
	copy(s.Bytes(), "from-go")
	out := python(t, pyUntrack+`
import sys
shm = shared_memory.SharedMemory(name=sys.argv[1])
untrack(shm)
assert bytes(shm.buf[:7]) == b"from-go", bytes(shm.buf[:7])
shm.buf[500:509] = b"python-ok"
print(shm.size)
shm.close()
`, name)
	if string(s.Bytes()[500:509]) != "python-ok" {
		t.Fatalf("Go reads %q where Python wrote python-ok", s.Bytes()[500:509])
	}
	if out != "1000" {
		t.Fatalf("Python sees size %s, want 1000", out)
	}
	if _, err := os.Stat("/dev/shm/" + name); err != nil {
		t.Fatalf("segment gone after Python exited (resource_tracker?): %v", err)
	}
}

// TestGoOpensPythonSegment: Python creates a segment, Go opens it.
func TestGoOpensPythonSegment(t *testing.T) {
	name := testName(t)
	t.Cleanup(func() { Remove(name) })
	python(t, pyUntrack+`
import sys
shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=int(sys.argv[2]))
untrack(shm)
shm.buf[:9] = b"py-create"
shm.close()
`, name, strconv.Itoa(777))
	s := mustOpen(t, name)
	if s.Size() != 777 || string(s.Bytes()[:9]) != "py-create" {
		t.Fatalf("Go opened Python's segment: size %d, %q; want 777, py-create", s.Size(), s.Bytes()[:9])
	}
	if _, err := Create(name, 10); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create of Python's segment: %v, want fs.ErrExist", err)
	}
}
