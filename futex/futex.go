// Package futex waits and wakes on a 32-bit word that may live in memory
// shared between processes: the kernel-assisted sleep under every lock of
// shmx.
//
// Wait sleeps while *addr == val; Wake wakes waiters sleeping on the same
// word. Both meet across processes even when the shared segment is mapped
// at a different address in each, because the kernel keys a shared wait by
// the memory object it lives in, not by its virtual address:
//
//   - Linux: futex(2) with FUTEX_WAIT_BITSET/FUTEX_WAKE, never the _PRIVATE
//     variants (those are keyed by address and never cross processes).
//   - FreeBSD: _umtx_op(2) with UMTX_OP_WAIT_UINT/UMTX_OP_WAKE (shared).
//   - macOS: __ulock_wait/__ulock_wake with UL_COMPARE_AND_WAIT_SHARED,
//     through Go's raw syscall.Syscall6; see futex_darwin.go for why.
//   - Windows: WaitOnAddress wakes only threads of its own process, so a
//     word inside a registered shared mapping (see Register) sleeps in a
//     waiter queue kept in a named shared mapping, each waiter on its own
//     named event, and Wake wakes the oldest waiters queued before it
//     began, counting them exactly; see queue_windows.go.
//   - Any other OS: a bounded poll with back-off (see futex_poll.go). It is
//     correct but slow: a waiter notices a change within about a
//     millisecond and Wake wakes nobody.
//
// Like Go's runtime futexsleep, Wait may return spuriously: callers
// re-check their word in a loop:
//
//	for w.Load() == locked {
//		if err := futex.Wait(&word, locked, -1); err != nil {
//			return err
//		}
//	}
//
// The words a process waits on are usually views into a shared segment
// (see atomicx.Uint32At); they must be 4-byte aligned.
package futex

import (
	"context"
	"errors"
	"math"
	"os"
	"sync/atomic"
	"time"
	"unsafe"
)

// ErrUnaligned is returned for a word that is not 4-byte aligned; no OS
// can wait on such a word.
var ErrUnaligned = errors.New("futex: address not aligned to 4 bytes")

// errEmptyRegion is returned by Register for an empty view or name.
var errEmptyRegion = errors.New("futex: Register needs a non-empty view and name")

// errTimeout is what Wait returns when its timeout passed: the sentinel
// itself, so that returning it never allocates.
var errTimeout = os.ErrDeadlineExceeded

// wakeAll is the count Wake passes to the per-OS wake for WakeAll: the
// largest count every kernel accepts.
const wakeAll = math.MaxInt32

// Wait sleeps while *addr == val, until a Wake, the timeout, or a spurious
// wake-up. timeout < 0 waits without limit. It returns nil when woken or
// when *addr != val at entry, and an error matching os.ErrDeadlineExceeded
// when the timeout passed; it never returns before the timeout has passed
// unless woken (by a Wake, a change of *addr, or spuriously).
//
// Wait neither allocates nor makes a system call when *addr != val.
func Wait(addr *uint32, val uint32, timeout time.Duration) error {
	if err, sleeps := early(addr, val, timeout); !sleeps {
		return err
	}
	return wait(addr, val, timeout)
}

// early is what Wait and WaitContext return without sleeping, when
// sleeps is false: the word is misaligned, no longer val, or the timeout
// is 0.
func early(addr *uint32, val uint32, timeout time.Duration) (err error, sleeps bool) {
	switch {
	case !aligned(addr):
		return ErrUnaligned, false
	case atomic.LoadUint32(addr) != val:
		return nil, false
	case timeout == 0:
		return errTimeout, false
	}
	return nil, true
}

// WaitContext is Wait that also ends, returning nil, soon after ctx is
// done. How depends on where the wait sleeps. A wait queued through
// io_uring (see Parks) ends alone: its own entry is cancelled, and
// nobody else on addr is disturbed. A wait that sleeps on its own thread
// cannot be ended alone: for it, once ctx is done, WaitContext calls
// wakeAll, which must end the wait (a WakeAll of addr, say, or a change of
// *addr and a WakeAll), and which ends the waits of everybody else on
// addr with it. WaitContext returns only after a wakeAll it started has
// returned, so that a caller may unmap addr as soon as it returns.
//
// A ctx that is never done (ctx.Done() == nil) makes it Wait.
func WaitContext(ctx context.Context, addr *uint32, val uint32, timeout time.Duration, wakeAll func()) error {
	if ctx.Done() == nil {
		return Wait(addr, val, timeout)
	}
	if err, sleeps := early(addr, val, timeout); !sleeps {
		return err
	}
	if err, ok := waitParked(ctx.Done(), addr, val, timeout, wakeAll); ok {
		return err
	}
	return waitWoken(ctx, addr, val, timeout, wakeAll)
}

// waitWoken is WaitContext for a wait on its own thread: wakeAll ends it.
func waitWoken(ctx context.Context, addr *uint32, val uint32, timeout time.Duration, wakeAll func()) error {
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		wakeAll()
	})
	err := waitThread(addr, val, timeout)
	if !stop() {
		<-done
	}
	return err
}

// Wake wakes up to n waiters on addr (n <= 0 wakes none; use WakeAll for
// all) and reports how many it woke where the OS says so: Linux always
// does, macOS does for n <= 64 (more uses one wake-all call), Windows
// does (its waiter queue counts; an upper bound while a waiter overflowed
// a full queue); FreeBSD and the poll fallback report 0 because the OS
// does not say. A
// Wake with no waiter is cheap but
// is a system call: callers keep a "waiters present" bit in their word
// to skip it when uncontended.
//
// WakeCounts says whether the count is exact here for n <= 64, so that a
// caller may act on "nobody was asleep".
func Wake(addr *uint32, n int) (int, error) {
	if !aligned(addr) {
		return 0, ErrUnaligned
	}
	if n <= 0 {
		return 0, nil
	}
	if n > wakeAll {
		n = wakeAll
	}
	return wake(addr, n)
}

// Parks reports whether a goroutine's Wait may sleep without holding an
// OS thread here. On Linux 6.7 and later, once four goroutines of the
// process sleep in Wait on their own threads, further Waits are queued
// through io_uring (IORING_OP_FUTEX_WAIT, with a linked timeout) and the
// goroutines park on channels; reaper goroutines, woken through eventfds
// in the Go netpoller, hand out the completions, so 10,000 waiting
// goroutines cost a handful of threads, not 10,000. The first parked wait
// makes an io_uring ring and its eventfd (two file descriptors); more
// rings are made as the parked waits grow, one per 40 in flight and 256
// at most (512 descriptors, with 10,000 parked waits), and all are kept
// for the life of the process. The wait is the kernel's futex wait all the same:
// a Wake from any process finds and counts it, and Wait's results do not
// change. The environment variable SHMX_FUTEX=ring parks every Wait
// (tests use it), SHMX_FUTEX=thread none. Elsewhere, and where io_uring
// is refused (Docker's default seccomp profile, qemu-user, older
// kernels), Parks is false and every Wait sleeps on its own thread.
func Parks() bool { return parks() }

// WakeCounts is true where Wake's count of woken waiters is exact for
// n <= 64 (Linux, macOS, Windows): there a count of 0 means nobody was
// asleep.
// Elsewhere Wake reports 0 whatever it did.
const WakeCounts = wakeCounts

// WakeAll wakes every waiter on addr; see Wake for the count. On Windows
// it wakes every queued waiter; only waiters that overflowed a full queue
// (and so wait on the fallback semaphore) are capped, and notice a changed
// word within one wait slice.
func WakeAll(addr *uint32) (int, error) {
	return Wake(addr, wakeAll)
}

// Register records that mem is a view of the cross-process object name
// (its OS name, the same in every process). Windows needs it to route
// Wait and Wake on words inside mem through named kernel objects, because
// WaitOnAddress only wakes threads of its own process; on every other OS
// the kernel already keys shared waits by memory object and Register only
// checks its arguments. shm calls it on every map and Unregister on Close.
//
// mem must be a mapped view, not Go heap memory: the registry keeps its
// address range, not a reference. Every process must register views that
// start at the same offset of the object (shm maps whole segments), since
// a word is identified by name and offset within mem. Registering a range replaces any
// registration that overlaps it (a stale view whose Unregister was missed).
func Register(mem []byte, name string) error {
	if len(mem) == 0 || name == "" {
		return errEmptyRegion
	}
	return register(mem, name)
}

// Unregister forgets the view mem recorded by Register; words inside it
// then use the process-local path again. Unregistering a view that was
// never registered does nothing. Call it before unmapping mem.
func Unregister(mem []byte) {
	if len(mem) == 0 {
		return
	}
	unregister(mem)
}

// aligned reports whether addr can be waited on: every kernel wait
// primitive used here needs natural 4-byte alignment.
func aligned(addr *uint32) bool {
	return uintptr(unsafe.Pointer(addr))&3 == 0
}
