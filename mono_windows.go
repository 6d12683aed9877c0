package shmx

import (
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// On Windows Go's monotonic clock reads the interrupt time, which steps
// once per timer interrupt (0.5 to 15.6 ms), far too coarse to budget a
// spin of microseconds. QueryPerformanceCounter has sub-microsecond
// resolution (usually 10 MHz) and is what Windows offers for this.
var (
	qpcProc = windows.NewLazySystemDLL("kernel32.dll").NewProc("QueryPerformanceCounter")
	qpfProc = windows.NewLazySystemDLL("kernel32.dll").NewProc("QueryPerformanceFrequency")
	// qpcFreq is the counter's rate, fixed at boot; 0 if unavailable.
	qpcFreq = queryFrequency()
	// qpcEpoch is the counter when the package was initialised.
	qpcEpoch = queryCounter()
)

// monoNanos returns nanoseconds since the package was initialised, from
// QueryPerformanceCounter, or from Go's clock if that is unavailable.
func monoNanos() uint64 {
	if qpcFreq == 0 {
		return uint64(time.Since(epoch))
	}
	return scale(queryCounter()-qpcEpoch, 1e9, qpcFreq)
}

// queryCounter calls QueryPerformanceCounter. syscall.SyscallN keeps c
// alive and on the stack (go:uintptrkeepalive), so this does not allocate.
func queryCounter() uint64 {
	if qpcProc.Find() != nil {
		return 0
	}
	var c int64
	syscall.SyscallN(qpcProc.Addr(), uintptr(unsafe.Pointer(&c)))
	return uint64(c)
}

func queryFrequency() uint64 {
	if qpfProc.Find() != nil || qpcProc.Find() != nil {
		return 0
	}
	var f int64
	syscall.SyscallN(qpfProc.Addr(), uintptr(unsafe.Pointer(&f)))
	return uint64(max(f, 0))
}
