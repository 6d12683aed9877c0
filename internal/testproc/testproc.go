// Package testproc runs the current test binary again as a helper child
// process, the os.Args[0] pattern of os/exec's own tests, so that every
// lock and wait primitive of shmx can be tested across real OS processes.
//
// A parent test calls Command with the name of a test function and a role;
// the child runs only that test, sees its role through Role, does its part
// and exits. Under user-mode emulation (qemu-user without binfmt_misc) the
// test binary cannot exec itself directly: the CI's exec wrapper then sets
// SHMX_TEST_EMULATOR to the emulator's path and Command starts the child
// through it.
//
// MapFile maps a file shared between processes on every OS, so that layers
// below shm/ can be tested across processes without importing it.
package testproc

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/live"
)

const (
	// EnvRole names the role a helper child was started for.
	EnvRole = "SHMX_TEST_HELPER"
	// EnvEmulator, when set, is the program (and space-separated
	// arguments) that must run the test binary, e.g. qemu-aarch64-static.
	EnvEmulator = "SHMX_TEST_EMULATOR"
)

// Role reports the role this process was started with by Command, or ""
// in an ordinary test run (the parent).
func Role() string { return os.Getenv(EnvRole) }

// IsEmulated reports whether the test binary runs under a user-mode
// emulator (qemu) or a compatibility layer (wine), where timings are far
// slower and less regular than on real hardware: tests use it to widen
// time bounds, never to skip checks.
func IsEmulated() bool {
	return os.Getenv(EnvEmulator) != "" || os.Getenv("SHMX_UNDER_WINE") != "" || os.Getenv("WINEPREFIX") != ""
}

// Command returns a command that runs the test function named test in a new
// process of the current test binary, with EnvRole=role and the extra
// environment entries env ("KEY=value"). The child is killed when the
// parent test ends, and has its own -test.timeout so that it never outlives
// a hung parent for long. Stdout and stderr go to the parent's stderr
// unless the caller sets them.
func Command(t testing.TB, test, role string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	args := []string{"-test.run=^" + test + "$", "-test.count=1", "-test.timeout=120s", "-test.v=false"}
	var cmd *exec.Cmd
	ctx := t.Context()
	if em := strings.Fields(os.Getenv(EnvEmulator)); len(em) > 0 {
		all := append(append(em[1:], exe), args...)
		cmd = exec.CommandContext(ctx, em[0], all...)
	} else {
		cmd = exec.CommandContext(ctx, exe, args...)
	}
	cmd.Env = append(append(os.Environ(), EnvRole+"="+role), env...)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Scale returns d, multiplied when the binary runs under emulation, for
// deadlines that bound how long a test waits for another process.
func Scale(d time.Duration) time.Duration {
	if IsEmulated() {
		return 10 * d
	}
	return d
}

// Context returns a context for a helper child's own work, cancelled after
// d (scaled by Scale), so that a child never waits forever for a parent
// that died.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), Scale(d))
	t.Cleanup(cancel)
	return ctx
}

// MapFileLive is MapFile for lock tests: the process also joins the
// file's liveness domain and tracks the mapping (internal/live), as a
// memfile.MemFile does for its segment, so that waiters on words in it
// can learn that a holder died. Without it they never do.
func MapFileLive(t testing.TB, path string, size int) []byte {
	t.Helper()
	b := MapFile(t, path, size)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := live.Join(f.Fd(), false)
	if err != nil {
		f.Close()
		t.Fatalf("testproc: joining the liveness domain of %s: %v", path, err)
	}
	m := live.Track(b, d)
	t.Cleanup(func() {
		m.Untrack()
		d.Leave()
		f.Close()
	})
	return b
}
