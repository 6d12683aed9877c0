package futex

import (
	"errors"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// A Watch is one word of a WaitAny: the wait goes on while *addr == val.
// Its layout is Linux's struct futex_waitv (value, address, flags,
// reserved), so that a []Watch is handed to the kernel as it is, without
// a copy or an allocation; set it with Set.
//
// The words must stay mapped while a WaitAny watches them (a Watch keeps
// a Go variable alive, not a mapping).
type Watch struct {
	val   uint64
	addr  unsafe.Pointer
	_     [8 - unsafe.Sizeof(uintptr(0))]byte // the address is 64 bits to the kernel (little-endian: the high half is 0)
	flags uint32
	_     uint32
}

// futex2SizeU32 is FUTEX2_SIZE_U32: the watched word is 32 bits. Without
// FUTEX2_PRIVATE the kernel keys each wait by the memory object, as Wait
// does, so a WaitAny meets Wakes from other processes.
const futex2SizeU32 = 0x02

// Set makes w watch addr while it holds val.
func (w *Watch) Set(addr *uint32, val uint32) {
	*w = Watch{val: uint64(val), addr: unsafe.Pointer(addr), flags: futex2SizeU32}
}

// Addr returns the watched word.
func (w *Watch) Addr() *uint32 { return (*uint32)(w.addr) }

// Val returns the value the watched word is expected to hold.
func (w *Watch) Val() uint32 { return uint32(w.val) }

// MaxWatches is the most words one WaitAny watches: the kernel's limit
// for futex_waitv (FUTEX_WAITV_MAX).
const MaxWatches = 128

// WaitAny sleeps while every watched word holds its value, until a Wake
// of any of them, the timeout, or a spurious wake-up: one thread waiting
// for many words, the building block of waiting on several shared objects
// in one Go select (memfile.WaitSet). timeout < 0 waits without limit.
//
// It returns the index of a word that was woken, or -1 when it cannot
// tell (a word differed from its value at entry, or a spurious return),
// and nil; or -1 and an error matching os.ErrDeadlineExceeded when the
// timeout passed. Callers re-read all their words either way, as after
// Wait. It returns ErrUnaligned for a misaligned word and an error for
// more than MaxWatches words or none.
//
// Linux 5.16 and later wait in one futex_waitv(2) system call, which
// queues the thread on every word, so that any Wake of any of them (from
// any process) ends it. Elsewhere, and on older kernels (ENOSYS), WaitAny
// with one word is Wait; with several it polls them, backing off from a
// few yields to 1 ms sleeps: a change is noticed up to 1 ms late, and
// since a poller sleeps on no word, a Wake finds nobody (a counting waker,
// see WakeCounts, sees 0). The Windows waiter queue and macOS's ulock wait
// on one word per thread, so there is no multi-word wait to build on.
func WaitAny(ws []Watch, timeout time.Duration) (int, error) {
	if len(ws) == 0 || len(ws) > MaxWatches {
		return -1, errWatchCount
	}
	for i := range ws {
		if !aligned(ws[i].Addr()) {
			return -1, ErrUnaligned
		}
		if atomic.LoadUint32(ws[i].Addr()) != ws[i].Val() {
			return i, nil
		}
	}
	if timeout == 0 {
		return -1, errTimeout
	}
	if len(ws) == 1 {
		err := wait(ws[0].Addr(), ws[0].Val(), timeout)
		if err != nil {
			return -1, err
		}
		return 0, nil
	}
	return waitAny(ws, timeout)
}

// WaitAnyWakes reports whether a Wake of a word reaches a WaitAny that
// watches it (Linux with futex_waitv); false means WaitAny polls here and
// notices changes of its words, not Wakes.
func WaitAnyWakes() bool { return waitAnyWakes() }

// errWatchCount is WaitAny's error for an empty or too long list.
var errWatchCount = errors.New("futex: WaitAny needs 1 to MaxWatches words")

// maxPollSleep bounds the back-off of the polling waits: a poller
// notices a change of its word at most about this late.
const maxPollSleep = time.Millisecond

// waitAnyPoll is WaitAny where the kernel has no multi-word wait, and
// Wait where it has no shared wait at all (futex_poll.go): it re-reads
// the words, yielding a few times and then sleeping with exponential
// back-off up to maxPollSleep.
func waitAnyPoll(ws []Watch, timeout time.Duration) (int, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	sleep := time.Microsecond
	for n := 0; ; n++ {
		for i := range ws {
			if atomic.LoadUint32(ws[i].Addr()) != ws[i].Val() {
				return i, nil
			}
		}
		rem := time.Duration(-1)
		if timeout > 0 {
			if rem = time.Until(deadline); rem <= 0 {
				return -1, errTimeout
			}
		}
		if n < 4 {
			runtime.Gosched()
			continue
		}
		d := sleep
		if rem >= 0 && rem < d {
			d = rem
		}
		time.Sleep(d)
		sleep = min(2*sleep, maxPollSleep)
	}
}
