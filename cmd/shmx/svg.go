package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/shmx/shmx/internal/bench"
)

// The latency plot: one horizontal bar per measured round trip, on a
// logarithmic time axis, drawn as three nested bars (p99.9 lightest, then
// p99, then p50 darkest), shmx rows in blue and alternatives in grey.
// Hand-written SVG: no plotting dependency.
const (
	svgWidth  = 960
	svgLabelW = 380 // left column with the row names
	svgRight  = 30
	svgTop    = 70
	svgRowH   = 22
	svgGroupH = 26
)

func writeSVGFile(path string, rep benchReport) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeSVG(f, rep); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeSVG draws the rows of rep whose percentiles are of their latency
// (not a rate's, such as the contended RWMutex row's writer waits).
func writeSVG(w io.Writer, rep benchReport) error {
	var rows []bench.Result
	hi := 1e3
	for _, r := range rep.Results {
		if r.P999 > 0 && r.LowerIsBetter() {
			rows = append(rows, r)
			hi = max(hi, r.P999)
		}
	}
	lo := 100.0 // ns
	for lo > 1 && rowsMin(rows) < lo {
		lo /= 10
	}
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	plotW := float64(svgWidth - svgLabelW - svgRight)
	x := func(ns float64) float64 {
		ns = min(max(ns, lo), hi)
		return svgLabelW + plotW*math.Log10(ns/lo)/math.Log10(hi/lo)
	}
	var b strings.Builder
	y := float64(svgTop)
	group := ""
	var body strings.Builder
	for _, r := range rows {
		if r.Group != group {
			group = r.Group
			y += svgGroupH - svgRowH
			fmt.Fprintf(&body, `<text x="8" y="%.0f" font-weight="bold">%s</text>`+"\n", y+12, esc(group))
			y += svgRowH
		}
		fill := []string{"#d0d0d0", "#a0a0a0", "#606060"}
		if r.Shmx {
			fill = []string{"#c6dbef", "#6baed6", "#08519c"}
		}
		fmt.Fprintf(&body, `<text x="%d" y="%.0f" text-anchor="end">%s</text>`+"\n", svgLabelW-8, y+14, esc(r.Name))
		for i, v := range []float64{r.P999, r.P99, r.P50} {
			fmt.Fprintf(&body, `<rect x="%d" y="%.0f" width="%.1f" height="16" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
				svgLabelW, y+2, x(v)-svgLabelW, fill[i], esc(r.Name), []string{"p99.9", "p99", "p50"}[i], bench.Duration(v))
		}
		y += svgRowH
	}
	height := y + 40
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="8" y="20" font-size="14" font-weight="bold">Round-trip latency percentiles (log scale): %s</text>`+"\n", esc(rep.CPU))
	fmt.Fprintf(&b, `<text x="8" y="38">%s/%s, %d CPUs, %s, %s per measurement. Bars: p50 (dark), p99, p99.9 (light); shmx blue, alternatives grey.</text>`+"\n",
		rep.OS, rep.Arch, rep.CPUs, esc(rep.Go), esc(rep.Duration))
	for t := lo; t <= hi*1.001; t *= 10 { // decade grid lines
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.0f" stroke="#e8e8e8"/>`+"\n", x(t), svgTop-8, x(t), y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%s</text>`+"\n", x(t), y+18, bench.Duration(t))
	}
	b.WriteString(body.String())
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func rowsMin(rows []bench.Result) float64 {
	m := math.Inf(1)
	for _, r := range rows {
		if r.P50 > 0 {
			m = min(m, r.P50)
		}
	}
	return m
}

var esc = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace
