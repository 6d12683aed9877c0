package futex

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// noWaitv is set once futex_waitv answered ENOSYS (a kernel before 5.16,
// or a seccomp filter that refuses it): WaitAny polls from then on.
var noWaitv atomic.Bool

// bigEndian32 is true on a 32-bit big-endian CPU, where a Watch's address
// would sit in the wrong half of the kernel's 64-bit field: WaitAny polls
// there.
var bigEndian32 = func() bool {
	x := uint16(1)
	return unsafe.Sizeof(uintptr(0)) == 4 && *(*byte)(unsafe.Pointer(&x)) == 0
}()

func waitAnyWakes() bool {
	if noWaitv.Load() || bigEndian32 {
		return false
	}
	// Ask the kernel once, with a wait that cannot sleep (the word
	// differs), whether it has the call at all.
	probeOnce.Do(func() {
		var w [1]Watch
		var x uint32 = 1
		w[0].Set(&x, 0)
		_, _, e := syscall.Syscall6(unix.SYS_FUTEX_WAITV, uintptr(unsafe.Pointer(&w[0])), 1, 0, 0, unix.CLOCK_MONOTONIC, 0)
		if e == unix.ENOSYS {
			noWaitv.Store(true)
		}
	})
	return !noWaitv.Load()
}

var probeOnce sync.Once

// waitAny is futex_waitv(2): the thread is queued on every word at once
// and the first Wake of any ends the wait; the kernel compares each word
// with its value under that word's hash-bucket lock, as FUTEX_WAIT does,
// so a Wake after a change is never lost. The deadline is absolute on
// CLOCK_MONOTONIC, so a wait resumed after EINTR keeps it. Syscall6 (not
// RawSyscall6) because the thread may sleep long and its P must go to
// another thread.
func waitAny(ws []Watch, timeout time.Duration) (int, error) {
	if noWaitv.Load() || bigEndian32 {
		return waitAnyPoll(ws, timeout)
	}
	var ts unix.Timespec
	var tsp *unix.Timespec
	if timeout > 0 {
		var err error
		if ts, err = monotonicDeadline(timeout); err != nil {
			return -1, os.NewSyscallError("clock_gettime", err)
		}
		tsp = &ts
	}
	for {
		r, _, e := syscall.Syscall6(unix.SYS_FUTEX_WAITV, uintptr(unsafe.Pointer(&ws[0])), uintptr(len(ws)),
			0, uintptr(unsafe.Pointer(tsp)), unix.CLOCK_MONOTONIC, 0)
		switch e {
		case 0:
			return int(r), nil
		case unix.EAGAIN: // a word differed when the kernel looked
			return -1, nil
		case unix.EINTR:
			continue
		case unix.ETIMEDOUT:
			return -1, errTimeout
		case unix.ENOSYS:
			noWaitv.Store(true)
			return waitAnyPoll(ws, timeout)
		}
		return -1, os.NewSyscallError("futex_waitv", e)
	}
}
