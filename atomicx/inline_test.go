package atomicx

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/shmx/shmx/internal/testproc"
)

// TestInlines checks that the word views and the 128-bit operations
// inline into their callers (go build -gcflags=-m), so that using them
// costs no more than the atomic instruction or the one assembly call.
func TestInlines(t *testing.T) {
	if testing.Short() || testproc.IsEmulated() {
		t.Skip("needs the go command of the host (not in -short or under emulation)")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	for _, f := range []string{"Uint32At", "Uint64At", "Uint128At", "CAS128", "Load128", "wordAt"} {
		if !strings.Contains(string(out), "can inline "+f+"\n") &&
			!strings.Contains(string(out), "can inline "+f+" with cost") {
			t.Errorf("%s does not inline; -m output:\n%s", f, out)
		}
	}
}
