package memfile

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/shmx/shmx/internal/testproc"
	"github.com/shmx/shmx/shm"
)

func TestRawCrossProcess(t *testing.T) {
	if testproc.Role() == "child" {
		f, err := OpenRaw(os.Getenv("OSID"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Size() != 1000 || string(f.Bytes()[:3]) != "raw" || f.IsOwner() || f.LinkPath() != "" {
			t.Fatalf("child sees size %d, %q, owner %v", f.Size(), f.Bytes()[:3], f.IsOwner())
		}
		copy(f.Bytes()[500:], "back")
		return
	}
	osid := "shmx_test_raw_" + strconv.Itoa(os.Getpid())
	f, err := CreateRaw(osid, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateRaw(osid, 1000); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second CreateRaw = %v, want fs.ErrExist", err)
	}
	copy(f.Bytes(), "raw")
	if out, err := testproc.Command(t, "TestRawCrossProcess", "child", "OSID="+osid).Output(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got := string(f.Bytes()[500:504]); got != "back" {
		t.Errorf("parent read %q", got)
	}
	f.Close()
	if _, err := OpenRaw(osid); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenRaw after the owner closed = %v, want fs.ErrNotExist", err)
	}
}

// python runs a Python 3 program, skipping the test where Python's
// multiprocessing.shared_memory does not see shmx's segments.
func python(t *testing.T, prog string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("Python's shared_memory uses shm_open, which shm uses only on Linux")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	// Python < 3.13 registers even attached segments with its resource
	// tracker, which unlinks them at exit: unregister them.
	pre := "from multiprocessing import shared_memory, resource_tracker\n" +
		"def untrack(s):\n    try: resource_tracker.unregister(s._name, 'shared_memory')\n    except Exception: pass\n"
	out, err := exec.Command(py, "-c", pre+prog).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestRawPython: a segment made by CreateRaw is opened by Python, and one
// made by Python is opened by OpenRaw.
func TestRawPython(t *testing.T) {
	osid := "shmx_test_py_" + strconv.Itoa(os.Getpid())
	f, err := CreateRaw(osid, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	copy(f.Bytes(), "from go")
	got := python(t, "s = shared_memory.SharedMemory(name='"+osid+"')\nuntrack(s)\n"+
		"print(bytes(s.buf[:7]).decode()); s.buf[100:109] = b'from py!!'; s.close()")
	if got != "from go" || string(f.Bytes()[100:109]) != "from py!!" {
		t.Fatalf("python read %q, Go read back %q", got, f.Bytes()[100:109])
	}

	pyid := "shmx_test_pymade_" + strconv.Itoa(os.Getpid())
	python(t, "s = shared_memory.SharedMemory(name='"+pyid+"', create=True, size=8192)\nuntrack(s)\n"+
		"s.buf[:6] = b'py mem'; s.close()")
	defer shm.Remove(pyid)
	g, err := OpenRaw(pyid)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Size() != 8192 || string(g.Bytes()[:6]) != "py mem" {
		t.Fatalf("OpenRaw of Python's segment: size %d, %q", g.Size(), g.Bytes()[:6])
	}
}
