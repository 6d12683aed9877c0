package shmx

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/shmx/shmx/internal/testproc"
)

// checkInlines builds the package in dir with -gcflags=-m and fails for
// each function of funcs the compiler does not report as inlinable: the
// hot paths of shmx must cost a call to assembly at most, never a Go call
// around it.
func checkInlines(t *testing.T, dir string, funcs ...string) {
	t.Helper()
	if testing.Short() || testproc.IsEmulated() {
		t.Skip("needs the go command of the host (not in -short or under emulation)")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "build", "-gcflags=-m", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m %s: %v\n%s", dir, err, out)
	}
	for _, f := range funcs {
		if !strings.Contains(string(out), "can inline "+f+"\n") &&
			!strings.Contains(string(out), "can inline "+f+" with cost") {
			t.Errorf("%s does not inline; -m output:\n%s", f, out)
		}
	}
}

func TestInlines(t *testing.T) {
	checkInlines(t, ".", "Pause", "Ticks")
}
