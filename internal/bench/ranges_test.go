package bench

import (
	"strings"
	"testing"
)

// TestRanges: rows line up across runs by group, name and comparison;
// each gets its lowest and highest value, CPU and ratio; a run that
// skipped a row does not widen its range; the winner is stated for the
// whole range ("mixed" when runs disagree).
func TestRanges(t *testing.T) {
	run := func(shmx, sock, cpu float64, skipped string) []Result {
		rs := []Result{
			{Group: "g", Name: "shmx", Shmx: true, Unit: NsPerRoundTrip, Value: shmx, P50: shmx / 2, P99: shmx, P999: 2 * shmx, CPU: cpu},
			{Group: "g", Name: "socket", Vs: "shmx", Unit: NsPerRoundTrip, Value: sock, Skipped: skipped},
		}
		ratios(rs)
		return rs
	}
	gs := Ranges([][]Result{run(100, 1000, 50, ""), run(300, 200, 70, ""), run(200, 0, 60, "no sockets here")})
	if len(gs) != 2 {
		t.Fatalf("%d rows, want 2", len(gs))
	}
	s, k := gs[0], gs[1]
	if s.Runs != 3 || s.Min != 100 || s.Max != 300 || s.MinCPU != 50 || s.MaxCPU != 70 {
		t.Fatalf("shmx row: %+v", s)
	}
	if k.Runs != 2 || k.Min != 200 || k.Max != 1000 || k.MinRatio != 0.1 || k.MaxRatio != 1.5 {
		t.Fatalf("socket row: %+v", k)
	}
	if got := s.value(); got != "100 ns – 300 ns" {
		t.Errorf("value: %q", got)
	}
	if got := s.percentiles(); got != "100 ns / 200 ns / 400 ns" {
		t.Errorf("percentiles of the last run: %q", got)
	}
	if got := k.ratio(); got != "0.1× – 1.5× (mixed, vs shmx)" {
		t.Errorf("ratio: %q", got)
	}
	var b strings.Builder
	if err := WriteRangeMarkdown(&b, gs, 3); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "range over 3 runs") || !strings.Contains(b.String(), "| g | **shmx** | 100 ns – 300 ns |") {
		t.Errorf("markdown:\n%s", b.String())
	}
	rate := Ranges([][]Result{{{Group: "t", Name: "x", Unit: OpsPerSec, Value: 86e6}}, {{Group: "t", Name: "x", Unit: OpsPerSec, Value: 98.5e6}}})
	if got := rate[0].value(); got != "86 M/s – 98.5 M/s" {
		t.Errorf("rate: %q", got)
	}
	faster := Ranges([][]Result{run(100, 1000, 0, ""), run(100, 2000, 0, "")})
	if got := faster[1].ratio(); got != "0.05× – 0.1× (shmx faster, vs shmx)" {
		t.Errorf("ratio: %q", got)
	}
}
