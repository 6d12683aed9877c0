package futex

import (
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// wakeCounts: neither WakeByAddress nor ReleaseSemaphore says.
const wakeCounts = false

// Windows has two wait paths, chosen per word by the registry (see
// Register): waiter and waker look the word up the same way, so within a
// process they always agree on the path.
//
// Process-local words (not inside a registered view) use WaitOnAddress
// and WakeByAddressSingle/All: fast, but keyed by address in a per-process
// table, so they never wake another process.
//
// Words inside a registered view use a named kernel semaphore per word,
// Local\shmx-futex-<object>-<hash>-<offset> (see semName), created or
// opened lazily and cached per process. Wait checks *addr == val and then
// waits on the semaphore; Wake releases n counts. A semaphore is sticky:
// a release between a waiter's check and its WaitForSingleObject is
// banked, not lost. Banked counts nobody consumed only cause spurious
// wake-ups later, which callers tolerate; semMax bounds them.
//
// There is no cross-process count of waiters, so WakeAll releases semMax
// (64) counts at most, and a Wake never releases more. To make sure no
// waiter sleeps forever because of a capped or missed wake (or a waker
// that died), a cross-process wait sleeps in slices of at most waitSlice
// and re-checks *addr between slices: a waiter beyond the cap notices a
// changed word within one slice. A Wake that leaves the word unchanged
// reaches at most semMax waiters.
//
// The check of *addr and the wait are two steps, so a count released for
// one waiter can be taken by another waiter of the same word (for
// instance the waker itself, waiting for an answer on that word) while
// the intended one is between its check and its wait; the taker returns
// spuriously and the intended waiter sleeps until its slice ends. Slices
// therefore start at firstSlice and double up to waitSlice: such a waiter
// re-checks soon after it started waiting, which is exactly when the race
// happens, while a long wait costs only a handful of extra wake-ups.

// firstSlice and waitSlice bound one WaitForSingleObject of a
// cross-process wait: the first one, and every later one.
const (
	firstSlice = time.Millisecond
	waitSlice  = 50 * time.Millisecond
)

var (
	modSynch                = windows.NewLazySystemDLL("api-ms-win-core-synch-l1-2-0.dll")
	procWaitOnAddress       = modSynch.NewProc("WaitOnAddress")
	procWakeByAddressSingle = modSynch.NewProc("WakeByAddressSingle")
	procWakeByAddressAll    = modSynch.NewProc("WakeByAddressAll")
)

// wait picks the path of addr: a named semaphore for a registered word,
// WaitOnAddress otherwise.
func wait(addr *uint32, val uint32, timeout time.Duration) error {
	name, off, ok := lookup(addr)
	if !ok {
		return waitLocal(addr, val, timeout)
	}
	s, err := acquireSem(name, off)
	if err != nil {
		return err
	}
	defer s.release()
	return waitSem(s.h, addr, val, timeout)
}

// waitSem waits on the word's semaphore in growing slices (firstSlice up
// to waitSlice), re-checking *addr before each, until a release, a change of the word or
// the deadline. It checks the deadline against the monotonic clock, since
// a Windows wait may end up to a timer tick early.
func waitSem(h windows.Handle, addr *uint32, val uint32, timeout time.Duration) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	next := firstSlice
	for {
		if atomic.LoadUint32(addr) != val {
			return nil
		}
		slice := next
		next = min(2*next, waitSlice)
		if timeout > 0 {
			rem := time.Until(deadline)
			if rem <= 0 {
				return errTimeout
			}
			slice = min(slice, rem)
		}
		r, err := windows.WaitForSingleObject(h, millis(slice))
		switch r {
		case windows.WAIT_OBJECT_0:
			return nil
		case uint32(windows.WAIT_TIMEOUT):
			continue
		}
		return os.NewSyscallError("WaitForSingleObject", err)
	}
}

// waitLocal is WaitOnAddress, which compares *addr with val itself and may
// also return spuriously or a tick early; on a timeout it re-checks the
// deadline and the word.
func waitLocal(addr *uint32, val uint32, timeout time.Duration) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		ms := uint32(windows.INFINITE)
		if timeout > 0 {
			rem := time.Until(deadline)
			if rem <= 0 {
				return errTimeout
			}
			ms = millis(rem)
		}
		// SyscallN, not LazyProc.Call: Call's uintptrescapes would move
		// val to the heap on every wait.
		r, _, e := syscall.SyscallN(procWaitOnAddress.Addr(), uintptr(unsafe.Pointer(addr)),
			uintptr(unsafe.Pointer(&val)), 4, uintptr(ms))
		if r != 0 {
			return nil // woken, the word differed, or spurious
		}
		if e != windows.ERROR_TIMEOUT {
			return os.NewSyscallError("WaitOnAddress", e)
		}
		if atomic.LoadUint32(addr) != val {
			return nil
		}
	}
}

// millis converts d to a wait timeout in milliseconds, rounded up so that
// a wait never ends before d, and below INFINITE.
func millis(d time.Duration) uint32 {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return uint32(min(ms, windows.INFINITE-1))
}

// wake releases up to n counts of a registered word's semaphore, or wakes
// WaitOnAddress waiters of a local word. Neither reports a count.
func wake(addr *uint32, n int) (int, error) {
	name, off, ok := lookup(addr)
	if !ok {
		return 0, wakeLocal(addr, n)
	}
	s, err := acquireSem(name, off)
	if err != nil {
		return 0, err
	}
	defer s.release()
	return 0, releaseSem(s.h, n)
}

// releaseSem adds min(n, semMax) counts to h. ReleaseSemaphore adds all or
// nothing, failing with ERROR_TOO_MANY_POSTS past semMax, so it halves
// the count until it fits; a full semaphore already wakes the next
// waiters, which is all a Wake promises.
func releaseSem(h windows.Handle, n int) error {
	n = min(n, semMax)
	for ; n > 0; n /= 2 {
		r, _, e := syscall.SyscallN(procReleaseSemaphore.Addr(), uintptr(h), uintptr(n), 0)
		if r != 0 {
			return nil
		}
		if e != windows.ERROR_TOO_MANY_POSTS {
			return os.NewSyscallError("ReleaseSemaphore", e)
		}
	}
	return nil
}

// wakeLocal wakes WaitOnAddress waiters: one call per waiter for small n,
// WakeByAddressAll beyond semMax (waking more than asked is allowed).
func wakeLocal(addr *uint32, n int) error {
	if n > semMax {
		syscall.SyscallN(procWakeByAddressAll.Addr(), uintptr(unsafe.Pointer(addr)))
		return nil
	}
	for range n {
		syscall.SyscallN(procWakeByAddressSingle.Addr(), uintptr(unsafe.Pointer(addr)))
	}
	return nil
}
