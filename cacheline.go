package shmx

import (
	"runtime"

	"github.com/klauspost/cpuid/v2"
)

// CacheLineSize is the size in bytes of this CPU's L1 data cache line, as
// CPUID (x86) or the system (arm64) reports it, or a safe default when
// that is unknown: 128 on Apple arm64 (its cores move data in 128-byte
// lines) and 64 elsewhere. Use it for in-process layout decisions only:
// layouts shared with other processes use CacheLinePadSize, which every
// process agrees on.
var CacheLineSize = cacheLineSize()

// CacheLinePadSize is the fixed size of CacheLinePad. It is 128, not
// CacheLineSize, so that every process and every CPU that maps a shared
// layout computes the same offsets; 128 also keeps two hot words apart
// on CPUs whose adjacent-line prefetcher pulls 64-byte lines in pairs
// (Intel since Sandy Bridge), and covers Apple's 128-byte lines.
const CacheLinePadSize = 128

// CacheLinePad is padding that keeps hot shared words on their own cache
// line: put one between fields that different processes write, so that a
// write to one does not invalidate the other's line (false sharing).
type CacheLinePad struct{ _ [CacheLinePadSize]byte }

// cacheLineSize returns cpuid's cache line size when it is a plausible
// power of two, else the default for this platform.
func cacheLineSize() int {
	if n := cpuid.CPU.CacheLine; n >= 16 && n <= 1024 && n&(n-1) == 0 {
		return n
	}
	if runtime.GOARCH == "arm64" && (runtime.GOOS == "darwin" || runtime.GOOS == "ios") {
		return 128
	}
	return 64
}
