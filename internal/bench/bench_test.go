package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/cbench"
	"github.com/shmx/shmx/internal/testproc"
)

const peerCmd = "bench-peer"

// TestMain lets the test binary be the peer process.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == peerCmd {
		if err := RunPeer(os.Args[2:]); err != nil {
			os.Stderr.WriteString("bench peer: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// peer starts this test binary as a peer, through the emulator if any.
func peer(ctx context.Context, args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	argv := append([]string{exe, peerCmd}, args...)
	if em := strings.Fields(os.Getenv(testproc.EnvEmulator)); len(em) > 0 {
		argv = append(em, argv...)
	}
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// TestRun runs every row with tiny sizes: each must produce a value (or
// be skipped for a documented reason), the locked counters must be exact
// (a lost update fails the row), and the results must survive JSON.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testproc.Scale(5*time.Minute))
	defer cancel()
	var progress bytes.Buffer
	c := Config{Duration: 20 * time.Millisecond, Sizes: []int{64, 4096}, Procs: 2, Bulk: 1 << 20, Peer: peer, Progress: &progress}
	if testproc.IsEmulated() && runtime.GOOS == "linux" {
		// qemu-user's fork of a multithreaded emulator can deadlock the
		// child before exec, and the parent with it (in os/exec's Start,
		// which waits for the exec): seen about once in fifty starts here.
		// Start few processes there.
		t.Log("under qemu-user: message round trips only (few process starts)")
		c.Only, c.Sizes = "message round trip", []int{64}
	}
	rs, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "[1/") {
		t.Errorf("no progress line: %q", progress.String())
	}
	step := clockStep()
	t.Logf("clock step %v", step)
	skipped := map[[2]string]bool{}
	for _, r := range rs {
		if r.Skipped != "" {
			skipped[[2]string{r.Group, r.Name}] = true
		}
	}
	for _, r := range rs {
		switch {
		case r.Skipped != "" && allowedSkip(r):
			t.Logf("%s / %s skipped: %s", r.Group, r.Name, r.Skipped)
		case r.Skipped != "":
			t.Errorf("%s / %s failed: %s", r.Group, r.Name, r.Skipped)
		case r.Value <= 0 || r.Ops <= 0:
			t.Errorf("%s / %s: value %v over %d ops", r.Group, r.Name, r.Value, r.Ops)
		case r.Unit == NsPerRoundTrip && !strings.Contains(r.Name, "C loop") && (r.P999 == 0 && float64(step) <= r.Value || r.P50 > r.P99 || r.P99 > r.P999):
			// Percentiles may be 0 where the clock steps more coarsely
			// than a round trip takes (wine's clock steps by about a
			// millisecond): then even the 99.9th sample can read 0.
			t.Errorf("%s / %s: percentiles %v %v %v", r.Group, r.Name, r.P50, r.P99, r.P999)
		case r.Vs != "" && r.Ratio == 0 && !skipped[[2]string{r.Group, r.Vs}]:
			t.Errorf("%s / %s: no ratio against %s", r.Group, r.Name, r.Vs)
		}
	}
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	var back []Result
	if err := json.Unmarshal(b, &back); err != nil || len(back) != len(rs) {
		t.Fatalf("JSON round trip: %v, %d rows of %d", err, len(back), len(rs))
	}
	var table bytes.Buffer
	WriteTable(&table, rs)
	WriteMarkdown(&table, rs)
	t.Logf("\n%s", table.String())
}

// allowedSkip tells a row this platform cannot run from a failure.
func allowedSkip(r Result) bool {
	switch {
	case !cbench.Available && r.Skipped == errNoCgo.Error():
		return true
	case !flockAvailable && r.Skipped == errNoFlock.Error():
		return true
	case r.Skipped == errBelowClock.Error() && clockStep() > time.Microsecond:
		return true // wine's clock: a busy-spin latency reads 0
	case strings.HasPrefix(r.Skipped, noHuge):
		return true // no huge pages on this OS or machine, or none free
	case runtime.GOOS == "windows" && strings.Contains(r.Name, "Unix socket"):
		return true // AF_UNIX needs Windows 10 1803+, and wine lacks it
	}
	return false
}

func TestConfigErrors(t *testing.T) {
	if _, err := Run(context.Background(), Config{}); err == nil {
		t.Error("Run accepted an empty Config")
	}
	if err := RunPeer([]string{"-kind", "nope", "-net", "pipe"}); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RunPeer of an unknown kind: %v", err)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		r    Result
		want string
	}{
		{Result{Unit: NsPerOp, Value: 12.345}, "12.3 ns/op"},
		{Result{Unit: NsPerRoundTrip, Value: 15234}, "15.2 µs/round trip"},
		{Result{Unit: OpsPerSec, Value: 12.5e6}, "12.50 M ops/s"},
		{Result{Unit: GiBPerSec, Value: 5.214}, "5.21 GiB/s"},
		{Result{Skipped: "no"}, "skipped: no"},
	} {
		if got := Value(c.r); got != c.want {
			t.Errorf("Value(%+v) = %q, want %q", c.r, got, c.want)
		}
	}
	if got := RatioText(Result{Unit: NsPerOp, Ratio: 0.5, Vs: "x"}); !strings.Contains(got, "shmx faster") {
		t.Errorf("time ratio 0.5: %q", got)
	}
	if got := RatioText(Result{Unit: GiBPerSec, Ratio: 0.5, Vs: "x"}); !strings.Contains(got, "shmx slower") {
		t.Errorf("rate ratio 0.5: %q", got)
	}
	if got := sizeName(64 << 10); got != "64 KiB" {
		t.Errorf("sizeName(64 KiB) = %q", got)
	}
}

// clockStep is the median non-zero difference between two readings of
// time.Now in a short burst: the clock's usual step on this platform.
func clockStep() time.Duration {
	steps := make([]time.Duration, 1000)
	for i := range steps {
		a := time.Now()
		b := time.Now()
		for b.Equal(a) {
			b = time.Now()
		}
		steps[i] = b.Sub(a)
	}
	// The median, not the smallest: wine's clock steps by about a
	// microsecond now and then but mostly by far more, and a round trip
	// of 1.85 µs (mean) read 0 in more than 99.9% of its samples against
	// a smallest step of 1.3 µs.
	slices.Sort(steps)
	return steps[len(steps)/2]
}
