package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/shmx/shmx"
	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/memfile"
)

// fact is one line of the doctor's report.
type fact struct{ name, value string }

func runDoctor(args []string) error {
	fs := flag.NewFlagSet("shmx doctor", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: shmx doctor\n\nPrints the CPU features shmx uses and the platform facts that matter to shared memory.")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return doctor(os.Stdout)
}

// doctor writes the report to w.
func doctor(w io.Writer) error {
	facts := []fact{
		{"os/arch", fmt.Sprintf("%s/%s, %d CPUs, GOMAXPROCS %d, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())},
	}
	facts = append(facts, platformFacts()...)
	facts = append(facts, fact{"segments+futex", checkSegmentFutex()})
	facts = append(facts, fact{"cpu (shmx.Detect)", shmx.Detect().String()})
	return printFacts(w, facts)
}

// printFacts prints one fact a line; a multi-line value (the CPU report)
// goes under its name, indented.
func printFacts(w io.Writer, facts []fact) error {
	for _, f := range facts {
		var err error
		if v := strings.TrimRight(f.value, "\n"); strings.Contains(v, "\n") {
			_, err = fmt.Fprintf(w, "%s:\n  %s\n", f.name, strings.ReplaceAll(v, "\n", "\n  "))
		} else {
			_, err = fmt.Fprintf(w, "%-15s %s\n", f.name, v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkSegmentFutex creates a raw segment and waits on a word in it with a
// short timeout: that exercises segment creation and the OS wait
// primitive on shared memory, which is what every lock's slow path needs.
func checkSegmentFutex() string {
	name := "shmx_doctor_" + strconv.Itoa(os.Getpid())
	f, err := memfile.CreateRaw(name, 4096)
	if err != nil {
		return "cannot create a segment: " + err.Error()
	}
	defer f.Close()
	// The segment is page-aligned mapped memory: its first 4 bytes are an
	// aligned uint32 the GC never moves.
	word := (*uint32)(unsafe.Pointer(&f.Bytes()[0]))
	start := time.Now()
	err = futex.Wait(word, 0, 2*time.Millisecond)
	took := time.Since(start)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("ok (created %s; a 2ms futex wait on it timed out after %v)", name, took.Round(time.Microsecond))
	case errors.Is(err, errors.ErrUnsupported):
		return "segment ok; futex wait unsupported on this OS: locks spin and sleep"
	case err == nil:
		return fmt.Sprintf("segment ok; futex wait returned early after %v (spurious wake-up?)", took)
	}
	return "segment ok; futex wait failed: " + err.Error()
}

// size formats a byte count in binary units.
func size(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
