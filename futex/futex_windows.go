package futex

import (
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// wakeCounts: Wake counts the waiters it woke from a waiter queue (see
// queue_windows.go), exactly while no waiter overflowed its queue.
const wakeCounts = true

// Windows has two wait paths, chosen per word by the registry (see
// Register): waiter and waker look the word up the same way, so within a
// process they always agree on the path. Both go through a waiter queue
// (queue_windows.go), which makes Wake exact and wakes waiters oldest
// first, and differ in where the queue lives and how a waiter sleeps.
//
// Process-local words (not inside a registered view) share one table in
// this process's memory, keyed by address; a waiter sleeps with
// WaitOnAddress on its own slot, which a Wake changes and then wakes with
// WakeByAddressSingle. WaitOnAddress is keyed by address in a per-process
// table, so this path never wakes another process.
//
// Words inside a registered view use the table of the view's object: a
// named pagefile-backed mapping, <ns>shmx-futexq1-<object>-<hash>, that
// every process using the object's words opens (see queueName), keyed by
// the word's offset in the object; a waiter sleeps on its slot's named
// auto-reset event, which a Wake sets. Before the queues, these words
// slept on one named semaphore per word and a Wake released n counts:
// with no count of who was asleep, a Wake nobody waited for banked counts
// (up to semMax) that later waits consumed as spurious returns, and a
// count released for a waiter between its check of the word and its
// WaitForSingleObject could be taken by another waiter (the waker itself,
// waiting for the answer), leaving the intended one asleep until its
// slice ended. In the queue a wake-up is marked in the woken waiter's own
// slot, so nobody else can take it.
//
// The semaphore (and, for local words, WaitOnAddress on the word itself)
// remains the fallback of a waiter that finds its table full or cannot
// open it; see the top of queue_windows.go for how a Wake reaches those.
// A process that cannot open the table of an object at all (no
// privilege for a Global\ mapping that nobody created yet) uses the
// semaphore for its Waits and Wakes of that object's words; it then
// meets queued waiters of other processes only through their slices.
//
// Every cross-process wait sleeps in slices of at most waitSlice and
// re-checks *addr between slices, so that no waiter sleeps forever for a
// wake-up that was never signalled: a waker killed between marking a
// waiter woken and setting its event, or a waker on the fallback path.
// Fallback semaphore waits start at firstSlice and double up to
// waitSlice, because there a count released for one waiter can still be
// taken by another; see waitSem.

// firstSlice and waitSlice bound one sleep of a wait: waitSlice every
// sleep of a queued waiter (see queueSlice), and the fallback semaphore
// wait's first sleep is firstSlice, doubling up to waitSlice.
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

// wait picks the table of addr: the one of its registered object, or
// the process-local one. A registered word whose table cannot be opened
// sleeps on its named semaphore.
func wait(addr *uint32, val uint32, timeout time.Duration) error {
	name, off, ok := lookup(addr)
	if !ok {
		return localQueue.wait(addr, val, uint64(uintptr(unsafe.Pointer(addr))), timeout, 0)
	}
	q, err := acquireQueue(name)
	if err != nil {
		return waitNamedSem(name, off, addr, val, timeout)
	}
	defer q.release()
	return q.wait(addr, val, uint64(off), timeout, off)
}

// waitNamedSem waits on the named semaphore of the word at off in object
// name: the fallback path.
func waitNamedSem(name string, off uintptr, addr *uint32, val uint32, timeout time.Duration) error {
	s, err := acquireSem(name, off)
	if err != nil {
		return err
	}
	defer s.release()
	return waitSem(s.h, addr, val, timeout)
}

// waitSem waits on the word's semaphore in growing slices (firstSlice up
// to waitSlice), re-checking *addr before each, until a release, a change
// of the word or the deadline. It checks the deadline against the
// monotonic clock, since a Windows wait may end up to a timer tick early.
// A count released for another waiter between its check and its wait can
// end this wait instead (the semaphore cannot tell waiters apart), which
// returns spuriously; the other waiter then notices at the end of a
// slice, soon since slices start short.
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

// waitLocal is WaitOnAddress on the word itself (the fallback path of
// process-local words), which compares *addr with val itself and may
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

// wake wakes up to n waiters of addr from its table (see wait) and
// returns how many it woke.
func wake(addr *uint32, n int) (int, error) {
	name, off, ok := lookup(addr)
	if !ok {
		return localQueue.wake(uint64(uintptr(unsafe.Pointer(addr))), n, addr, 0)
	}
	q, err := acquireQueue(name)
	if err != nil {
		return 0, wakeNamedSem(name, off, n)
	}
	defer q.release()
	return q.wake(uint64(off), n, addr, off)
}

// wakeNamedSem releases up to n counts of the named semaphore of the
// word at off in object name: the fallback path.
func wakeNamedSem(name string, off uintptr, n int) error {
	s, err := acquireSem(name, off)
	if err != nil {
		return err
	}
	defer s.release()
	return releaseSem(s.h, n)
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

// wakeLocal wakes WaitOnAddress waiters of the word itself (the fallback
// path of process-local words): one call per waiter for small n,
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
