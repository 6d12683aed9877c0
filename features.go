package shmx

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/klauspost/cpuid/v2"
	"golang.org/x/sys/cpu"
)

// Features reports what this process runs on and what the shmx packages
// will use: the CPU features behind atomicx.CAS128 and the spin loop, the
// cache line, and the measured cost of Pause. `shmx doctor` prints it.
type Features struct {
	GOOS, GOARCH string // runtime.GOOS, runtime.GOARCH
	CPU          string // CPU brand name, "" when unknown
	NumCPU       int    // runtime.NumCPU()
	GOMAXPROCS   int    // runtime.GOMAXPROCS(0)

	// Assembly is true when Pause and Ticks are the assembly versions,
	// false with the purego tag, gccgo, or an architecture without them.
	Assembly bool
	// CX16 reports CMPXCHG16B (amd64), which atomicx.CAS128 needs to be
	// lock-free.
	CX16 bool
	// Atomics reports the Armv8.1 LSE atomics (arm64), with which
	// atomicx.CAS128 uses CASPAL instead of an LDAXP/STLXP loop.
	Atomics bool
	// WaitPkg reports UMONITOR/UMWAIT/TPAUSE (x86), a lower-power way to
	// wait on a cache line; reported for information, not yet used.
	WaitPkg bool

	CacheLine        int     // CacheLineSize
	PauseInstruction string  // what Pause executes
	PauseNanos       float64 // measured cost of one Pause, in ns
	TickSource       string  // what Ticks reads
	TicksPerSecond   uint64  // TicksPerSecond()
	// Spins is false when Spinner never spins (one usable CPU).
	Spins bool
}

// Detect gathers Features. It measures Pause (about 100 µs) and may
// calibrate TicksPerSecond (about 1 ms), so call it for reports, not on a
// hot path.
func Detect() Features {
	return Features{
		GOOS:             runtime.GOOS,
		GOARCH:           runtime.GOARCH,
		CPU:              strings.TrimSpace(cpuid.CPU.BrandName),
		NumCPU:           runtime.NumCPU(),
		GOMAXPROCS:       runtime.GOMAXPROCS(0),
		Assembly:         useAsm,
		CX16:             cpu.X86.HasCX16,
		Atomics:          cpu.ARM64.HasATOMICS,
		WaitPkg:          cpuid.CPU.Supports(cpuid.WAITPKG),
		CacheLine:        CacheLineSize,
		PauseInstruction: pauseInstruction,
		PauseNanos:       measurePause(),
		TickSource:       tickSource,
		TicksPerSecond:   TicksPerSecond(),
		Spins:            spinUseful(),
	}
}

// measurePause returns the cost of one Pause in ns: the fastest of a few
// runs timed with Ticks (Go's clock is too coarse on Windows), since
// preemption only ever makes a run slower.
func measurePause() float64 {
	const n = 1000
	best := ^uint64(0)
	for range 10 {
		t := Ticks()
		for range n {
			Pause()
		}
		best = min(best, Ticks()-t)
	}
	return float64(best) * 1e9 / float64(TicksPerSecond()) / n
}

// String returns a readable multi-line report, one "name: value" a line.
func (f Features) String() string {
	var b strings.Builder
	line := func(name, format string, args ...any) {
		fmt.Fprintf(&b, "%-18s "+format+"\n", append([]any{name + ":"}, args...)...)
	}
	cpuName := f.CPU
	if cpuName == "" {
		cpuName = "unknown"
	}
	line("platform", "%s/%s", f.GOOS, f.GOARCH)
	line("cpu", "%s", cpuName)
	line("cpus", "%d (GOMAXPROCS %d)", f.NumCPU, f.GOMAXPROCS)
	line("assembly", "%s", yesNo(f.Assembly, "yes", "no (pure Go)"))
	switch f.GOARCH {
	case "amd64":
		line("cmpxchg16b", "%s", yesNo(f.CX16, "yes (CAS128 lock-free)", "no"))
		line("waitpkg", "%s", yesNo(f.WaitPkg, "yes", "no"))
	case "arm64":
		line("lse atomics", "%s", yesNo(f.Atomics, "yes (CAS128 via CASPAL)", "no (CAS128 via LDAXP/STLXP)"))
	}
	line("cache line", "%d bytes (shared layouts pad to %d)", f.CacheLine, CacheLinePadSize)
	line("pause", "%s, %.1f ns", f.PauseInstruction, f.PauseNanos)
	line("ticks", "%s", f.TickSource)
	line("ticks per second", "%d", f.TicksPerSecond)
	line("spinning", "%s", yesNo(f.Spins, "yes", "no (one usable CPU)"))
	return b.String()
}

func yesNo(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}
