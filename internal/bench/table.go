package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/klauspost/cpuid/v2"
)

// CPUName names this machine's CPU: the brand string the CPU reports, or
// /proc/cpuinfo's model name, or "unknown".
func CPUName() string {
	if n := strings.TrimSpace(cpuid.CPU.BrandName); n != "" {
		return n
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown"
}

// WriteTable prints the results as an aligned text table, a heading per
// group.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	group := ""
	for _, r := range rs {
		if r.Group != group {
			group = r.Group
			fmt.Fprintf(tw, "\n%s\tresult\tp50\tp99\tp99.9\tCPU/op\tshmx ÷ this\n", strings.ToUpper(group[:1])+group[1:])
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, Value(r), pct(r.P50), pct(r.P99), pct(r.P999), pct(r.CPU), RatioText(r))
	}
	return tw.Flush()
}

// WriteMarkdown prints the results as one Markdown table.
func WriteMarkdown(w io.Writer, rs []Result) error {
	fmt.Fprintln(w, "| measurement | | result | p50 | p99 | p99.9 | CPU/op | shmx ÷ this |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|---|")
	group := ""
	for _, r := range rs {
		g := ""
		if r.Group != group {
			group, g = r.Group, r.Group
		}
		name := r.Name
		if r.Shmx {
			name = "**" + name + "**"
		}
		if _, err := fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", g, name, Value(r), pct(r.P50), pct(r.P99), pct(r.P999), pct(r.CPU), RatioText(r)); err != nil {
			return err
		}
	}
	return nil
}

// Value formats a result with its unit, or why it was skipped.
func Value(r Result) string {
	if r.Skipped != "" {
		return "skipped: " + r.Skipped
	}
	switch r.Unit {
	case NsPerOp:
		return Duration(r.Value) + "/op"
	case NsPerRoundTrip:
		return Duration(r.Value) + "/round trip"
	case OpsPerSec:
		return fmt.Sprintf("%.2f M ops/s", r.Value/1e6)
	case GiBPerSec:
		return fmt.Sprintf("%.2f GiB/s", r.Value)
	}
	return fmt.Sprintf("%.3g %s", r.Value, r.Unit)
}

// Duration formats ns with three significant digits.
func Duration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	}
	return fmt.Sprintf("%.3g ns", ns)
}

func pct(ns float64) string {
	if ns == 0 {
		return ""
	}
	return Duration(ns)
}

// shmxWins reports whether a ratio of the shmx row's value to this
// alternative's means shmx is faster: below 1 for times, above for rates.
func (r Result) shmxWins(ratio float64) bool {
	if r.LowerIsBetter() {
		return ratio < 1
	}
	return ratio > 1
}

// RatioText states an alternative's ratio and who wins, "" for shmx rows.
func RatioText(r Result) string {
	if r.Ratio == 0 {
		return ""
	}
	who := "shmx slower"
	if r.shmxWins(r.Ratio) {
		who = "shmx faster"
	}
	return fmt.Sprintf("%.3g× (%s, vs %s)", r.Ratio, who, r.Vs)
}
