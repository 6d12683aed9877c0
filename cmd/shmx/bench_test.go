package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/bench"
	"github.com/shmx/shmx/internal/testproc"
)

// init lets the test binary stand in for shmx when bench re-executes
// itself (TestMain, in main_test.go, handles the demo's peer; init runs
// before it).
func init() {
	if len(os.Args) > 1 && os.Args[1] == benchPeerCmd {
		os.Exit(dispatch(os.Args[1:], os.Stderr))
	}
}

// TestBench runs shmx bench end to end with tiny figures, as JSON and with
// an SVG, and checks that the JSON parses and the SVG is well-formed XML.
func TestBench(t *testing.T) {
	svg := filepath.Join(testDir(t), "lat.svg")
	c := benchConfig{json: true, svg: svg}
	c.Duration, c.Sizes, c.Procs, c.Bulk = 10*time.Millisecond, []int{64}, 2, 1<<20
	if testproc.IsEmulated() && runtime.GOOS == "linux" {
		// Few process starts under qemu-user: see TestRun in internal/bench.
		c.Only = "bulk"
	}
	var out, progress bytes.Buffer
	if err := runBenchConfig(&out, &progress, c); err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("-json output does not parse: %v\n%s", err, out.String())
	}
	if rep.CPU == "" || len(rep.Results) < 3 {
		t.Errorf("report has CPU %q and %d results", rep.CPU, len(rep.Results))
	}
	for _, r := range rep.Results {
		if strings.Contains(r.Skipped, "lost updates") {
			t.Errorf("%s / %s: %s", r.Group, r.Name, r.Skipped)
		}
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if err := wellFormed(b); err != nil || !bytes.Contains(b, []byte("p99.9")) {
		t.Errorf("SVG not well-formed or without percentiles: %v\n%s", err, b)
	}
	if !strings.Contains(progress.String(), "[1/") {
		t.Errorf("no progress on stderr: %q", progress.String())
	}
}

// TestBenchTable checks the table and Markdown forms on fixed results.
func TestBenchTable(t *testing.T) {
	rs := []bench.Result{
		{Group: "g", Name: "shmx X", Shmx: true, Unit: bench.NsPerRoundTrip, Value: 1000, P50: 900, P99: 2000, P999: 5000},
		{Group: "g", Name: "pipe", Vs: "shmx X", Ratio: 0.25, Unit: bench.NsPerRoundTrip, Value: 4000, P50: 3000, P99: 9000, P999: 20000},
	}
	var out bytes.Buffer
	if err := bench.WriteTable(&out, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "0.25× (shmx faster, vs shmx X)") {
		t.Errorf("table:\n%s", out.String())
	}
	out.Reset()
	if err := writeSVG(&out, benchReport{CPU: "Test <CPU> & co", Results: rs}); err != nil {
		t.Fatal(err)
	}
	if err := wellFormed(out.Bytes()); err != nil {
		t.Errorf("SVG: %v\n%s", err, out.String())
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-duration", "0s"}, {"bench", "-sizes", "x"}, {"bench", "-procs", "0"},
		{"bench", "-bulk", "-1"}, {"bench", "-runs", "0"}, {"bench", "-json", "-markdown"}, {"bench", "extra"},
	} {
		var stderr bytes.Buffer
		if got := dispatch(args, &stderr); got != 2 {
			t.Errorf("shmx %q exited %d, want 2", args, got)
		}
	}
	for s, want := range map[string]int64{"64": 64, "64KiB": 64 << 10, "1GiB": 1 << 30, "3 MiB": 3 << 20, "10B": 10} {
		if got, err := parseSize(s); got != want || err != nil {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
}

func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := d.Token(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
