package testproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Pid-namespace helpers: a helper child that is pid 1 of a new pid
// namespace, as a process of another container of the same pod would be,
// so that tests can check that nothing in shmx judges a process by its
// pid. They need root and util-linux's unshare.

const (
	// EnvPidNS is set to "1" in a child started by CommandInPidNS (and
	// to "proc" when it also has its own /proc): the child is expected to
	// be pid 1 of its namespace.
	EnvPidNS = "SHMX_TEST_PIDNS"
	// EnvRequirePidNS=1 (set by .ci/run), like CI=true, makes
	// RequirePidNS fail instead of skip when a root, native run cannot
	// make pid namespaces.
	EnvRequirePidNS = "SHMX_REQUIRE_PIDNS"
	// EnvNoPidNS=1 allows RequirePidNS to skip even where it would
	// otherwise fail (a CI runner known to forbid namespaces), so that a
	// skip is always somebody's explicit decision.
	EnvNoPidNS = "SHMX_CI_NO_PIDNS"
)

// InPidNS reports whether this process was started by CommandInPidNS.
func InPidNS() bool { return os.Getenv(EnvPidNS) != "" }

// RequirePidNS skips the test, with the reason, unless this process can
// start children in new pid namespaces (with a private /proc too when
// mountProc): it must run as root, natively (not under a user-mode
// emulator, see IsEmulated), with unshare on PATH, and unshare --pid must
// work. Under CI=true or EnvRequirePidNS=1, a native root run that cannot
// (unshare missing or refused) fails instead: those tests must never be
// skipped silently where they can run. EnvNoPidNS=1 allows the skip.
func RequirePidNS(t testing.TB, mountProc bool) {
	t.Helper()
	switch {
	case IsEmulated():
		t.Skip("pid namespaces: the test binary runs under an emulator (unshare --pid does not work under qemu-user)")
	case os.Geteuid() != 0:
		t.Skip("pid namespaces: need root (unshare --pid)")
	}
	reason := pidNSProbe(mountProc)
	if reason == "" {
		return
	}
	if (os.Getenv("CI") == "true" || os.Getenv(EnvRequirePidNS) == "1") && os.Getenv(EnvNoPidNS) != "1" {
		t.Fatalf("pid namespaces: %s; a native root CI run must run this test (install util-linux, allow CLONE_NEWPID, or set %s=1 to skip it on purpose)", reason, EnvNoPidNS)
	}
	t.Skip("pid namespaces: " + reason)
}

var pidNSProbes struct {
	sync.Mutex
	done   [2]bool
	reason [2]string
}

// pidNSProbe returns why unshare cannot start a process in a new pid
// namespace (with --mount-proc when mountProc), or "" if it can. The
// answer is computed once per process.
func pidNSProbe(mountProc bool) string {
	i := 0
	if mountProc {
		i = 1
	}
	pidNSProbes.Lock()
	defer pidNSProbes.Unlock()
	if !pidNSProbes.done[i] {
		pidNSProbes.reason[i] = probeUnshare(mountProc)
		pidNSProbes.done[i] = true
	}
	return pidNSProbes.reason[i]
}

func probeUnshare(mountProc bool) string {
	path, err := exec.LookPath("unshare")
	if err != nil {
		return "unshare (util-linux) is not on PATH"
	}
	// The child prints its pid, which must be 1.
	args := append(unshareArgs(mountProc), "sh", "-c", "echo $$")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s %s failed: %v: %s", path, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	if got := strings.TrimSpace(string(out)); got != "1" {
		return fmt.Sprintf("%s %s: the child's pid is %q, not 1", path, strings.Join(args, " "), got)
	}
	return ""
}

// unshareArgs are the arguments of unshare before the command: a new pid
// namespace whose pid 1 is unshare's forked child, killed (with all of the
// namespace) when unshare dies, however it dies.
func unshareArgs(mountProc bool) []string {
	args := []string{"--pid", "--fork", "--kill-child"}
	if mountProc {
		args = append(args, "--mount-proc")
	}
	return args
}

// CommandInPidNS is Command, but the child runs as
// `unshare --pid --fork --kill-child [--mount-proc] <test binary> args...`:
// it is pid 1 of a new pid namespace (with its own /proc when mountProc,
// which implies a new mount namespace; /dev/shm stays shared), and
// EnvPidNS is set in its environment. Call RequirePidNS first.
//
// The unshare process leads a new process group. Killing unshare kills
// the namespace (--kill-child); KillPidNS kills the whole group; when the
// test ends the group is killed too, so nothing is left behind. The
// child's own pid, as the host sees it, is NamespaceInit.
func CommandInPidNS(t testing.TB, test, role string, mountProc bool, env ...string) *exec.Cmd {
	t.Helper()
	path, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("testproc: %v", err)
	}
	mark := "1"
	if mountProc {
		mark = "proc"
	}
	cmd := Command(t, test, role, append(env, EnvPidNS+"="+mark)...)
	args := append([]string{path}, unshareArgs(mountProc)...)
	args = append(append(args, "--"), cmd.Args...)
	cmd.Path, cmd.Args = path, args
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return KillPidNS(cmd) }
	t.Cleanup(func() {
		if cmd.Process != nil {
			KillPidNS(cmd)
		}
	})
	return cmd
}

// KillPidNS kills (SIGKILL) the process group of a started
// CommandInPidNS: unshare and the namespace's pid 1, whose death kills
// every other process of the namespace.
func KillPidNS(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	pid := cmd.Process.Pid
	// The group exists as long as any member does, reaped unshare or not.
	if pg, err := syscall.Getpgid(pid); err == nil && pg != pid {
		return cmd.Process.Kill() // pid reused by a process of another group: not ours
	}
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if err == syscall.ESRCH {
		return nil
	}
	return err
}

// NamespaceInit returns the host's pid of the namespace's pid 1 of a
// started CommandInPidNS (the child of the unshare process), waiting up
// to 10 s (scaled) for it to appear.
func NamespaceInit(t testing.TB, cmd *exec.Cmd) int {
	t.Helper()
	parent := cmd.Process.Pid
	deadline := time.Now().Add(Scale(10 * time.Second))
	for {
		if pid := childOf(parent); pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("testproc: no child of unshare (pid %d) after 10 s", parent)
		}
		time.Sleep(time.Millisecond)
	}
}

// childOf returns the pid of a child of parent, or 0: from
// /proc/<parent>/task/<parent>/children when the kernel has it, else by
// scanning every process's parent in /proc/<pid>/stat.
func childOf(parent int) int {
	p := strconv.Itoa(parent)
	if b, err := os.ReadFile(filepath.Join("/proc", p, "task", p, "children")); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.Atoi(f[0])
			return n
		}
		return 0
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 2 && f[1] == p {
			return pid
		}
	}
	return 0
}
