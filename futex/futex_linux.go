package futex

import (
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// wakeCounts: FUTEX_WAKE returns the number woken.
const wakeCounts = true

// futex(2) operations. x/sys/unix has SYS_FUTEX but no operation
// constants. These are the shared variants on purpose: without
// FUTEX_PRIVATE_FLAG (128) the kernel keys the wait by the page's backing
// object and offset, so processes that map a segment at different
// addresses still meet.
const (
	futexWake           = 1          // FUTEX_WAKE
	futexWaitBitset     = 9          // FUTEX_WAIT_BITSET: absolute CLOCK_MONOTONIC deadline
	futexBitsetMatchAny = 0xffffffff // FUTEX_BITSET_MATCH_ANY: plain wait/wake semantics
)

// threadSleepers counts this process's goroutines asleep in futex(2) on
// their own thread. Up to threadSleepersMax sleep there: a sleeper woken
// in its own thread runs a little sooner than one the reaper hands its
// completion to (see uring_linux.go), and a handful of threads costs
// nothing. Beyond that a wait parks through io_uring where the kernel has
// it, so the threads stay few however many goroutines wait.
var threadSleepers atomic.Int32

const threadSleepersMax = 4

// parkMode is SHMX_FUTEX, read once: "ring" parks every wait through
// io_uring where it exists, "thread" never does, anything else (the
// default) parks beyond threadSleepersMax.
var parkMode = func() int {
	switch os.Getenv("SHMX_FUTEX") {
	case "ring":
		return parkAlways
	case "thread":
		return parkNever
	}
	return parkAuto
}()

const (
	parkAuto = iota
	parkAlways
	parkNever
)

// parks reports whether waits may park without a thread here.
func parks() bool { return parkMode != parkNever && getRing() != nil }

// wait parks through io_uring (see threadSleepers), or sleeps in
// FUTEX_WAIT_BITSET. Either way the kernel compares *addr with val under
// its hash-bucket lock, so a Wake after the caller's change of the word
// is never lost. It uses syscall.Syscall6, not RawSyscall6, because
// the thread may sleep for long: the runtime must hand its P to another
// thread.
func wait(addr *uint32, val uint32, timeout time.Duration) error {
	if err, ok := waitParked(nil, addr, val, timeout, nil); ok {
		return err
	}
	return waitThread(addr, val, timeout)
}

// parkedRing is the ring this wait parks through, or nil when it sleeps on
// its thread (see threadSleepers and parkMode).
func parkedRing() *uring {
	if parkMode == parkAlways || parkMode == parkAuto && threadSleepers.Load() >= threadSleepersMax {
		return getRing()
	}
	return nil
}

// waitParked parks the wait through io_uring when it should park
// (parkedRing), ending it alone once cancel (nil: never) is closed; ok is
// false when it did not park (the caller then sleeps on its thread).
func waitParked(cancel <-chan struct{}, addr *uint32, val uint32, timeout time.Duration, wakeAll func()) (err error, ok bool) {
	if r := parkedRing(); r != nil {
		return r.wait(addr, val, timeout, cancel, wakeAll)
	}
	return nil, false
}

// waitThread is wait on this goroutine's thread, in futex(2).
func waitThread(addr *uint32, val uint32, timeout time.Duration) error {
	threadSleepers.Add(1)
	defer threadSleepers.Add(-1)
	if timeout < 0 {
		for {
			_, _, e := syscall.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)),
				futexWaitBitset, uintptr(val), 0, 0, futexBitsetMatchAny)
			if err, again := waitResult(e); !again {
				return err
			}
		}
	}
	ts, err := monotonicDeadline(timeout)
	if err != nil {
		return os.NewSyscallError("clock_gettime", err)
	}
	for {
		_, _, e := syscall.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)),
			futexWaitBitset, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, futexBitsetMatchAny)
		if err, again := waitResult(e); !again {
			return err
		}
	}
}

// waitResult maps a futex wait's errno to Wait's result; again is true
// for EINTR (a signal, e.g. the runtime's preemption SIGURG), after which
// the wait resumes with the same absolute deadline.
func waitResult(e syscall.Errno) (err error, again bool) {
	switch e {
	case 0, unix.EAGAIN: // woken, or *addr != val when the kernel looked
		return nil, false
	case unix.EINTR:
		return nil, true
	case unix.ETIMEDOUT:
		return errTimeout, false
	}
	return os.NewSyscallError("futex", e), false
}

// wake is FUTEX_WAKE, which reports how many waiters it woke. It never
// sleeps, so RawSyscall6 spares the scheduler hand-off of Syscall6.
func wake(addr *uint32, n int) (int, error) {
	r, _, e := syscall.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)),
		futexWake, uintptr(n), 0, 0, 0)
	if e != 0 {
		return 0, os.NewSyscallError("futex", e)
	}
	return int(r), nil
}
