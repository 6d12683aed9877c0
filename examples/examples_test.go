// Package examples holds the README's two programs, create and open; this
// test builds and runs them as separate processes.
package examples

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/testproc"
)

// build compiles ./<name> for this test binary's platform into dir and
// returns the command line that runs it (through the emulator when the
// tests run under one).
func build(t *testing.T, dir, name string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the examples with")
	}
	exe := filepath.Join(dir, name)
	if runtime.GOOS == "windows" {
		exe += ".exe"
	}
	cmd := exec.Command(gobin, "build", "-o", exe, "./"+name)
	cmd.Env = append(os.Environ(), "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./%s: %v\n%s", name, err, out)
	}
	return append(strings.Fields(os.Getenv(testproc.EnvEmulator)), exe)
}

// TestCreateOpen runs examples/create, waits until it has written, runs
// examples/open and checks that it prints "Hello World !", then lets
// create exit and checks that it removed its link file.
func TestCreateOpen(t *testing.T) {
	if os.Getenv("WINEPREFIX") != "" || os.Getenv("SHMX_UNDER_WINE") != "" {
		t.Skip("under wine the go command (a Linux program) cannot be run")
	}
	dir := t.TempDir()
	create := build(t, dir, "create")
	open := build(t, dir, "open")
	link := filepath.Join(dir, "shared_mem.link")

	ctx := testproc.Context(t, time.Minute)
	c := exec.CommandContext(ctx, create[0], append(create[1:], "-link", link)...)
	stdin, _ := c.StdinPipe()
	stdout, _ := c.StdoutPipe()
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("create printed %q, %v; want ready", line, err)
	}
	out, err := exec.CommandContext(ctx, open[0], append(open[1:], "-link", link)...).Output()
	if err != nil {
		t.Fatalf("open: %v\n%s", err, out)
	}
	if string(out) != "Hello World !\n" {
		t.Errorf("open printed %q, want %q", out, "Hello World !\n")
	}
	stdin.Close() // create exits at end of stdin
	if err := c.Wait(); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := os.Stat(link); !os.IsNotExist(err) {
		t.Errorf("create left its link file: %v", err)
	}
}
