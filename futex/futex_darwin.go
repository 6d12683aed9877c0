package futex

import (
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// wakeCounts: each __ulock_wake of one waiter says whether it found one.
const wakeCounts = true

// __ulock_wait/__ulock_wake (bsd/sys/ulock.h in Apple's xnu). They are
// private to libSystem, but their numbers have been fixed since macOS
// 10.12, libc++'s std::atomic::wait is built on them, and Go 1.26 needs
// macOS 12 or later, so they are always there.
//
// UL_COMPARE_AND_WAIT_SHARED keys the wait by VM object and offset (xnu's
// uaddr_findobj), so processes mapping a segment at different addresses
// meet; it also works on private memory, whose object is just not shared.
// Every call here uses the shared operation: xnu fails with EDOM when
// waiters of one word mix operations.
const (
	sysUlockWait           = 515       // SYS_ulock_wait
	sysUlockWake           = 516       // SYS_ulock_wake
	ulCompareAndWaitShared = 3         // UL_COMPARE_AND_WAIT_SHARED
	ulfWakeAll             = 0x100     // ULF_WAKE_ALL
	maxUlockTimeout        = 1<<32 - 1 // µs in the 32-bit timeout argument (~71 min)
	maxSingleWakes         = 64        // above this, Wake uses ULF_WAKE_ALL
)

// Why raw system calls: Go on darwin makes system calls through libSystem
// trampolines, and x/sys/unix offers no wrapper for the ulock calls. But
// syscall.Syscall6 on darwin still traps into the kernel directly (see
// $GOROOT/src/syscall/asm_darwin_*.s): it calls entersyscall/exitsyscall
// around the trap and decodes errors from the carry flag like libc does.
// Apple reserves the right to change the trap ABI, which it has never done
// for BSD system calls, so a raw trap is sound in practice; the
// alternative, a poll, would make every contended lock on macOS cost a
// millisecond. The kernel checks *addr == val under its lock, so a wake
// after the caller's change of the word is never lost.

// wait sleeps in __ulock_wait. Its timeout is relative, in microseconds,
// with 0 meaning forever, so a timed wait recomputes the remainder from a
// monotonic deadline after each EINTR or early return, and rounds up so it
// never wakes before the deadline.
func wait(addr *uint32, val uint32, timeout time.Duration) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		us := uintptr(0)
		if timeout > 0 {
			rem := time.Until(deadline)
			if rem <= 0 {
				return errTimeout
			}
			us = uintptr(min((rem+time.Microsecond-1)/time.Microsecond, maxUlockTimeout))
		}
		_, _, e := syscall.Syscall6(sysUlockWait, ulCompareAndWaitShared,
			uintptr(unsafe.Pointer(addr)), uintptr(val), us, 0, 0)
		switch e {
		case 0: // woken, or *addr != val when the kernel looked
			return nil
		case syscall.EINTR:
			continue
		case syscall.ETIMEDOUT:
			if timeout > 0 && time.Until(deadline) <= 0 {
				return errTimeout
			}
			continue // a slice of a wait longer than ~71 minutes ended
		case syscall.EFAULT:
			// The page was not resident when the kernel copied the word
			// in under its lock; touch it from user space and retry.
			if atomic.LoadUint32(addr) != val {
				return nil
			}
			continue
		}
		return os.NewSyscallError("ulock_wait", e)
	}
}

// wake calls __ulock_wake once per waiter, which reports ENOENT when none
// is left, so the count is exact; for large n (and WakeAll) one call with
// ULF_WAKE_ALL wakes everyone and the count is 0 (unknown).
func wake(addr *uint32, n int) (int, error) {
	if n > maxSingleWakes {
		_, err := ulockWake(addr, ulfWakeAll)
		return 0, err
	}
	woke := 0
	for woke < n {
		ok, err := ulockWake(addr, 0)
		if err != nil || !ok {
			return woke, err
		}
		woke++
	}
	return woke, nil
}

// ulockWake makes one __ulock_wake call; ok is false when nobody waited.
func ulockWake(addr *uint32, flags uintptr) (ok bool, err error) {
	for {
		_, _, e := syscall.RawSyscall6(sysUlockWake, ulCompareAndWaitShared|flags,
			uintptr(unsafe.Pointer(addr)), 0, 0, 0, 0)
		switch e {
		case 0:
			return true, nil
		case syscall.ENOENT:
			return false, nil
		case syscall.EINTR:
			continue
		}
		return false, os.NewSyscallError("ulock_wake", e)
	}
}
