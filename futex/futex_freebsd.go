package futex

import (
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// wakeCounts: UMTX_OP_WAKE does not say how many it woke.
const wakeCounts = false

// _umtx_op(2) operations and flags, from FreeBSD's sys/umtx.h. The
// non-_PRIVATE operations select the process-shared sleep queue when the
// word lives in a shared mapping (keyed by VM object and offset), so
// processes that map a segment at different addresses meet; on private
// memory they behave like the _PRIVATE ones.
const (
	umtxOpWake     = 3   // UMTX_OP_WAKE: wake up to val waiters
	umtxOpWaitUint = 11  // UMTX_OP_WAIT_UINT: sleep while *(u_int *)obj == val
	umtxAbsTime    = 0x1 // UMTX_ABSTIME: _timeout is an absolute time
)

// umtxTime is struct _umtx_time: a timeout, its flags and its clock. When
// uaddr1 holds its size, _umtx_op reads uaddr2 as this struct; otherwise
// as a relative struct timespec.
type umtxTime struct {
	timeout unix.Timespec
	flags   uint32
	clockid uint32
}

// wait sleeps in UMTX_OP_WAIT_UINT, which compares *addr with val under
// the sleep-queue lock. A timed wait uses an absolute CLOCK_MONOTONIC
// deadline, so retries after EINTR do not drift. syscall.Syscall6 lets
// the runtime hand the P to another thread while this one sleeps.
func wait(addr *uint32, val uint32, timeout time.Duration) error {
	if timeout < 0 {
		for {
			_, _, e := syscall.Syscall6(unix.SYS__UMTX_OP, uintptr(unsafe.Pointer(addr)),
				umtxOpWaitUint, uintptr(val), 0, 0, 0)
			if err, again := waitResult(e); !again {
				return err
			}
		}
	}
	ts, err := monotonicDeadline(timeout)
	if err != nil {
		return os.NewSyscallError("clock_gettime", err)
	}
	ut := umtxTime{timeout: ts, flags: umtxAbsTime, clockid: unix.CLOCK_MONOTONIC}
	for {
		_, _, e := syscall.Syscall6(unix.SYS__UMTX_OP, uintptr(unsafe.Pointer(addr)),
			umtxOpWaitUint, uintptr(val), unsafe.Sizeof(ut), uintptr(unsafe.Pointer(&ut)), 0)
		if err, again := waitResult(e); !again {
			return err
		}
	}
}

// waitResult maps a umtx wait's errno to Wait's result; again is true
// for EINTR, after which the wait resumes with the same deadline.
func waitResult(e syscall.Errno) (err error, again bool) {
	switch e {
	case 0: // woken, or *addr != val when the kernel looked
		return nil, false
	case unix.EINTR:
		return nil, true
	case unix.ETIMEDOUT:
		return errTimeout, false
	}
	return os.NewSyscallError("_umtx_op", e), false
}

// wake is UMTX_OP_WAKE. FreeBSD does not report how many threads it woke,
// so the count is 0. It never sleeps: RawSyscall6 avoids the scheduler
// hand-off.
func wake(addr *uint32, n int) (int, error) {
	_, _, e := syscall.RawSyscall6(unix.SYS__UMTX_OP, uintptr(unsafe.Pointer(addr)),
		umtxOpWake, uintptr(n), 0, 0, 0)
	if e != 0 {
		return 0, os.NewSyscallError("_umtx_op", e)
	}
	return 0, nil
}
