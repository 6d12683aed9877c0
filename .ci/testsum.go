//go:build ignore

// Command testsum reads `go test -json` from stdin and prints what plain
// `go test` would (failed tests with their output, build errors, the
// ok/FAIL line of each package), then one line of counts:
//
//	go test -json ./... | go run .ci/testsum.go -label arm64 -counts FILE
//
// It exits 1 if any test or package failed, if a package produced no
// ok/FAIL result at all (the test binary was killed), or if a test named
// with -expect did not pass. The counts line
//
//	arm64: 120 passed (85 top-level tests), 0 failed, 3 skipped in 14 packages
//
// is also written to the -counts file for .ci/run's summary. Subtests
// count like tests in the first figure. The CI builds it for the host
// (//go:build ignore keeps it out of ./... and go vet).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of test2json output (cmd/test2json documents it);
// ImportPath is set on build-output and build-fail events.
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
}

// maxDump bounds the output printed for a package that failed without a
// failing test (a panic, a timeout, a TestMain exit): its last lines.
const maxDump = 300

// maxTestLines bounds the output kept for one test: its last lines.
const maxTestLines = 2000

type pkgState struct {
	lines      []string            // package-level output, for a failure without a test
	tests      map[string][]string // output of each running test
	running    []string            // tests in the order their output began
	testFailed bool                // a failing test was printed
	done       bool                // ok/FAIL/skip seen
}

type summary struct {
	out                     *bufio.Writer
	pkgs                    map[string]*pkgState
	order                   []string
	passed, failed, skipped int
	topLevel                int
	failedPkgs              []string
	passedTests             map[string]bool
}

func main() {
	label := flag.String("label", "tests", "label of the counts line")
	countsFile := flag.String("counts", "", "also write the counts line to this file")
	var expect multiFlag
	flag.Var(&expect, "expect", "pkg/path.TestName that must pass (repeatable); a package that is absent from the run is not required")
	flag.Parse()

	s := &summary{
		out:         bufio.NewWriter(os.Stdout),
		pkgs:        map[string]*pkgState{},
		passedTests: map[string]bool{},
	}
	bad := s.read(os.Stdin)
	for _, name := range s.order {
		if !s.pkgs[name].done {
			fmt.Fprintf(s.out, "FAIL\t%s\t(no result: test binary killed or output lost)\n", name)
			s.failedPkgs = append(s.failedPkgs, name)
		}
	}
	for _, e := range expect {
		pkg := e[:strings.LastIndex(e, ".")]
		if _, ran := s.pkgs[pkg]; ran && !s.passedTests[e] {
			fmt.Fprintf(s.out, "FAIL\t%s did not pass\n", e)
			bad = true
		}
	}
	line := fmt.Sprintf("%s: %d passed (%d top-level tests), %d failed, %d skipped in %d packages",
		*label, s.passed, s.topLevel, s.failed, s.skipped, len(s.order))
	if len(s.failedPkgs) > 0 {
		sort.Strings(s.failedPkgs)
		line += "; failed packages: " + strings.Join(s.failedPkgs, " ")
	}
	fmt.Fprintln(s.out, line)
	s.out.Flush()
	if *countsFile != "" {
		if err := os.WriteFile(*countsFile, []byte(line+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "testsum:", err)
			bad = true
		}
	}
	if bad || s.failed > 0 || len(s.failedPkgs) > 0 {
		os.Exit(1)
	}
}

// read consumes the stream; it reports true if it met a line it could
// not parse as an event (printed as is).
func (s *summary) read(r io.Reader) (bad bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			// Not an event: go test prints some errors as text.
			fmt.Fprintln(s.out, sc.Text())
			continue
		}
		s.handle(e)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(s.out, "testsum: reading go test output:", err)
		return true
	}
	return false
}

func (s *summary) pkg(name string) *pkgState {
	p := s.pkgs[name]
	if p == nil {
		p = &pkgState{tests: map[string][]string{}}
		s.pkgs[name] = p
		s.order = append(s.order, name)
	}
	return p
}

func (s *summary) handle(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.out, e.Output)
		return
	case "build-fail", "start":
		return
	}
	p := s.pkg(e.Package)
	if e.Test != "" {
		s.handleTest(p, e)
		return
	}
	switch e.Action {
	case "output":
		p.lines = append(p.lines, e.Output)
		if len(p.lines) > maxDump {
			p.lines = p.lines[len(p.lines)-maxDump:]
		}
		// The ok/FAIL/? lines of the package, as plain go test prints them.
		if strings.HasPrefix(e.Output, "ok  \t") || strings.HasPrefix(e.Output, "FAIL\t") ||
			strings.HasPrefix(e.Output, "?   \t") {
			fmt.Fprint(s.out, e.Output)
		}
	case "pass", "skip":
		p.done = true
	case "fail":
		p.done = true
		s.failedPkgs = append(s.failedPkgs, e.Package)
		if !p.testFailed {
			// Nothing explains the failure yet (the binary crashed or
			// timed out inside a test): show what is left.
			for _, t := range p.running {
				for _, l := range p.tests[t] {
					fmt.Fprint(s.out, l)
				}
			}
			for _, l := range p.lines {
				if !strings.HasPrefix(l, "FAIL\t") && !strings.HasPrefix(l, "ok  \t") {
					fmt.Fprint(s.out, l)
				}
			}
		}
		// No ok/FAIL line comes after a build failure: say it.
		if !hasResultLine(p.lines) {
			fmt.Fprintf(s.out, "FAIL\t%s\n", e.Package)
		}
	}
}

func hasResultLine(lines []string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, "FAIL\t") || strings.HasPrefix(l, "ok  \t") {
			return true
		}
	}
	return false
}

func (s *summary) handleTest(p *pkgState, e event) {
	switch e.Action {
	case "output":
		if framing(e.Output) {
			return
		}
		buf, seen := p.tests[e.Test]
		if !seen {
			p.running = append(p.running, e.Test)
		}
		buf = append(buf, e.Output)
		if len(buf) > maxTestLines {
			buf = buf[len(buf)-maxTestLines:]
		}
		p.tests[e.Test] = buf
		return
	case "pass":
		s.passed++
		s.passedTests[e.Package+"."+e.Test] = true
	case "skip":
		s.skipped++
	case "fail":
		s.failed++
		p.testFailed = true
		for _, l := range p.tests[e.Test] {
			fmt.Fprint(s.out, l)
		}
	default: // run, pause, cont
		return
	}
	if !strings.Contains(e.Test, "/") && e.Action == "pass" {
		s.topLevel++
	}
	if _, seen := p.tests[e.Test]; seen {
		delete(p.tests, e.Test)
		for i, t := range p.running {
			if t == e.Test {
				p.running = append(p.running[:i], p.running[i+1:]...)
				break
			}
		}
	}
}

// framing reports lines that -v adds and plain go test does not print.
func framing(l string) bool {
	t := strings.TrimLeft(l, " ")
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS", "--- SKIP"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
