package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Range is one row over several runs of the same configuration: the
// lowest and highest value and ratio seen, and the last run's result for
// the columns that only one run can give (the percentiles).
type Range struct {
	Last               Result
	Runs               int // runs that measured the row (not skipped)
	Min, Max           float64
	MinRatio, MaxRatio float64
	MinCPU, MaxCPU     float64
	ratioed            int // runs that gave a ratio
}

// Ranges lines up the rows of several runs (by group, name and the row
// compared with) and gives each its range. Rows missing from some runs
// are ranged over the runs that have them.
func Ranges(runs [][]Result) []Range {
	type key struct{ g, n, vs string }
	var out []Range
	at := map[key]int{}
	for _, rs := range runs {
		for _, r := range rs {
			k := key{r.Group, r.Name, r.Vs}
			i, ok := at[k]
			if !ok {
				i = len(out)
				at[k] = i
				out = append(out, Range{})
			}
			g := &out[i]
			g.Last = r
			if r.Skipped != "" || r.Value == 0 {
				continue
			}
			if g.Runs == 0 || r.Value < g.Min {
				g.Min = r.Value
			}
			if g.Runs == 0 || r.Value > g.Max {
				g.Max = r.Value
			}
			g.Runs++
			if r.CPU > 0 {
				if g.MinCPU == 0 || r.CPU < g.MinCPU {
					g.MinCPU = r.CPU
				}
				g.MaxCPU = max(g.MaxCPU, r.CPU)
			}
			if r.Ratio > 0 {
				if g.ratioed == 0 || r.Ratio < g.MinRatio {
					g.MinRatio = r.Ratio
				}
				g.MaxRatio = max(g.MaxRatio, r.Ratio)
				g.ratioed++
			}
		}
	}
	return out
}

// value formats the range of a row's values, or why it was skipped:
// times as durations, rates in millions or GiB a second.
func (g Range) value() string {
	if g.Runs == 0 {
		return Value(g.Last)
	}
	f := func(v float64) string {
		switch g.Last.Unit {
		case NsPerOp, NsPerRoundTrip:
			return Duration(v)
		case OpsPerSec:
			return fmt.Sprintf("%.3g M/s", v/1e6)
		case GiBPerSec:
			return fmt.Sprintf("%.3g GiB/s", v)
		}
		return fmt.Sprintf("%.3g %s", v, g.Last.Unit)
	}
	lo, hi := f(g.Min), f(g.Max)
	if lo == hi {
		return lo
	}
	return lo + " – " + hi
}

// cpu formats the range of the CPU per operation, "" where none.
func (g Range) cpu() string {
	switch {
	case g.MaxCPU == 0:
		return ""
	case Duration(g.MinCPU) == Duration(g.MaxCPU):
		return Duration(g.MinCPU)
	}
	return Duration(g.MinCPU) + " – " + Duration(g.MaxCPU)
}

// percentiles are the last run's p50 / p99 / p99.9, "" where none.
func (g Range) percentiles() string {
	r := g.Last
	if r.P50 == 0 {
		return ""
	}
	f := func(ns float64) string {
		if ns == 0 {
			return "–" // not measured (fewer samples than it needs, or a coarse clock)
		}
		return Duration(ns)
	}
	s := f(r.P50) + " / " + f(r.P99) + " / " + f(r.P999)
	if r.Max > 0 {
		s += " / max " + Duration(r.Max)
	}
	return s
}

// ratio states the range of an alternative's ratio and who wins: faster
// or slower in every run, or mixed.
func (g Range) ratio() string {
	if g.ratioed == 0 {
		return ""
	}
	r := g.Last
	who := "mixed"
	switch lo, hi := r.shmxWins(g.MinRatio), r.shmxWins(g.MaxRatio); {
	case lo && hi:
		who = "shmx faster"
	case !lo && !hi:
		who = "shmx slower"
	}
	if g.MinRatio == g.MaxRatio {
		return fmt.Sprintf("%.3g× (%s, vs %s)", g.MinRatio, who, r.Vs)
	}
	return fmt.Sprintf("%.3g× – %.3g× (%s, vs %s)", g.MinRatio, g.MaxRatio, who, r.Vs)
}

// WriteRangeTable prints ranges over runs as an aligned text table, a
// heading per group.
func WriteRangeTable(w io.Writer, gs []Range, runs int) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	group := ""
	for _, g := range gs {
		if g.Last.Group != group {
			group = g.Last.Group
			fmt.Fprintf(tw, "\n%s\tresult (range over %d runs)\tp50 / p99 / p99.9 (last run)\tCPU/op\tshmx ÷ this (range)\n", strings.ToUpper(group[:1])+group[1:], runs)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", g.Last.Name, g.value(), g.percentiles(), g.cpu(), g.ratio())
	}
	return tw.Flush()
}

// WriteRangeMarkdown prints ranges over runs as one Markdown table, the
// README's.
func WriteRangeMarkdown(w io.Writer, gs []Range, runs int) error {
	fmt.Fprintf(w, "| measurement | | result (range over %d runs) | p50 / p99 / p99.9 (last run) | CPU/op | shmx ÷ this (range) |\n", runs)
	fmt.Fprintln(w, "|---|---|--:|--:|--:|---|")
	group := ""
	for _, g := range gs {
		grp := ""
		if g.Last.Group != group {
			group, grp = g.Last.Group, g.Last.Group
		}
		name := g.Last.Name
		if g.Last.Shmx {
			name = "**" + name + "**"
		}
		if _, err := fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", grp, name, g.value(), g.percentiles(), g.cpu(), g.ratio()); err != nil {
			return err
		}
	}
	return nil
}
