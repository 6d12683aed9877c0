package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmx/shmx/memfile"
)

// TestMain lets the test binary stand in for the shmx binary when the
// demo re-executes itself (os.Executable is the test binary here).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == demoPeerCmd {
		os.Exit(dispatch(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

func TestDispatchUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"nope"},
		{"demo", "-n", "x"},
		{"demo", "-n", "0"},
		{"demo", "extra"},
		{"doctor", "-bogus"},
		{demoPeerCmd, "-role", "juggler", "-link", "/nonexistent"},
	} {
		var stderr bytes.Buffer
		if got := dispatch(args, &stderr); got != 2 && !(len(args) > 0 && args[0] == demoPeerCmd && got == 1) {
			t.Errorf("shmx %q exited %d, want 2; stderr:\n%s", args, got, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if got := dispatch([]string{demoPeerCmd, "-link", "/nonexistent/x.link"}, &stderr); got != 1 || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("a failing command exited %d with %q; want 1 and one line", got, stderr.String())
	}
}

func TestDoctor(t *testing.T) {
	var out bytes.Buffer
	if err := doctor(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"os/arch", "cpu", "segments+futex"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}

// TestDemo runs the demo end to end with real writer and reader processes.
func TestDemo(t *testing.T) {
	for _, s := range waitStrategies {
		t.Run(s.String(), func(t *testing.T) {
			var out bytes.Buffer
			if err := demo(&out, demoConfig{n: 200, maxTime: 2 * time.Minute, wait: s}); err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			for _, want := range []string{"wait strategy: " + s.String() + " (", "200 round trips", "messages/s", "p50", "p99.9", "last exchange: ping #200 -> pong #200"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("demo output lacks %q:\n%s", want, out.String())
				}
			}
			t.Logf("\n%s", out.String())
		})
	}
	var s memfile.WaitStrategy
	if err := s.UnmarshalText([]byte("spin")); err == nil {
		t.Error("-wait spin accepted")
	}
}
