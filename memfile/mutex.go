package memfile

import (
	"context"
	"errors"
	"fmt"
	sw "github.com/shmx/shmx/internal/word"
	"time"
	"unsafe"
)

// Mutex is a mutual exclusion lock that lives in memory shared between
// processes: place one with MutexAt over bytes of a shared mapping, or
// embed it at an 8-aligned offset of a struct viewed over one. All-zero
// bytes are an unlocked Mutex. A Mutex in ordinary Go memory works too,
// within one process.
//
// Layout (MutexSize = 16 bytes, 8-byte aligned, the same for every GOARCH
// and for 32- and 64-bit processes):
//
//	offset size meaning
//	0      4    state: flag bits, epoch and waiter count (below); the futex word
//	4      4    token of the owning process (internal/live), 0 when unlocked
//	8      4    recounts: how many times the waiter count was dropped (any value is valid)
//	12     4    wokenSeen: Unlocks that found a waiter awake (any value is valid)
//
// Bytes 0-7 are one 64-bit word changed only by compare-and-swap, so
// taking the lock and naming the owner is one atomic operation; its low
// half is what waiters sleep on (futex). The owner is named by its
// process token, never by a pid: a pid means nothing in another pid
// namespace and is reused. The uncontended Lock and Unlock are one CAS
// each, inlined on amd64 and arm64 (32-bit platforms have no intrinsic
// 64-bit atomics), with no system call and no allocation.
//
// The lock is held by a process, not by a goroutine or thread (goroutines
// migrate between threads): any goroutine of the owning process (or even
// of another process) may unlock it, as with sync.Mutex.
//
// Owner death. If the owning process dies holding the lock (crash,
// SIGKILL, os.Exit), a waiter notices within about 50 ms: waiters sleep
// in slices of 50 ms and then ask internal/live whether the owner's token
// is still vouched for by the kernel (a lock on the segment's file that
// dies with its process; see that package for each OS). Only a Mutex in
// a MemFile's mapping has such a file: elsewhere (a Go slice, a mapping
// made by hand) the owner is never judged dead and waiters only time
// out. The waiter takes the lock over and marks the Mutex inconsistent:
// the data it protects may be half-written.
//
// No call returns an error, or panics, with the lock held, so
// "if err != nil { return err }" after any lock call never leaks it, and
// neither does a recovered panic. While the Mutex is inconsistent:
//
//   - LockContext waits for the lock as usual, then gives it back and
//     returns an error matching ErrOwnerDead;
//   - Lock does the same and panics with that error (the lock not held);
//   - TryLock fails;
//   - LockRecover takes the lock and reports inconsistent = true with a
//     nil error: the caller repairs the data (or decides it needs none),
//     calls MarkConsistent and unlocks. A caller that unlocks without
//     MarkConsistent leaves the mark for the next LockRecover.
//
// This is POSIX's robust mutex (EOWNERDEAD, pthread_mutex_consistent)
// with the lock given back rather than handed to code that did not ask
// for a broken one.
//
// A process killed while it waits (rather than while it holds) leaves
// its registration in the waiter count, which is anonymous. The first
// Unlock that then wakes for it finds nobody asleep (the kernel says so)
// and drops the whole count, which the live waiters rebuild (see
// recount): one wake-up system call that finds nobody, once, however
// many waiters died, and the state word is back to 0, so that Lock and
// Unlock take their one-CAS fast paths again. Mutex.State shows the
// count. (FreeBSD's kernel does not count wake-ups: there the count
// stays, and every Unlock makes a needless wake-up call; see
// recount.)
//
// On Windows, cross-process wake-ups need the memory to be a mapping
// registered with futex.Register (shm does this for every segment); an
// unregistered mapping still works, with waiters noticing an unlock only
// at the end of a 50 ms slice.
type Mutex struct {
	_         [0]sw.Uint64 // 8-byte alignment on 32-bit platforms too
	state     uint64       // low half: flags, epoch, waiters (futex word); high half: owner token
	recounts  uint32       // bumped by every recount; names the next epoch
	wokenSeen uint32       // Unlocks that made no wake-up for an awake waiter (see wakeOne)
}

// The fields are plain words accessed only through sync/atomic functions:
// the sw.Uint64 methods would cost the fast paths their inlining.

func (m *Mutex) load() uint64             { return sw.LoadUint64(&m.state) }
func (m *Mutex) cas(old, new uint64) bool { return sw.CompareAndSwapUint64(&m.state, old, new) }

// Mutex state: the low 32 bits of the state word.
const (
	mutexLocked      = 1 << iota // held; the high half names the owning pid
	mutexWoken                   // a waiter is awake (spinning or just woken): Unlock need not wake another
	mutexStarving                // fair mode: only waiters older than 1 ms may take the lock
	mutexDirty                   // a holder died; cleared by MarkConsistent
	mutexEpochShift  = iota      // bits 4..11: the epoch of the waiter count, 0 when the count is
	mutexWaiterShift = 12        // bits 12..31 count registered waiters

	mutexEpochMask = 0xFF << mutexEpochShift
	mutexWaiter    = 1 << mutexWaiterShift
	maxWaiters     = lowMask >> mutexWaiterShift // the count's largest value
	mutexCountMask = maxWaiters << mutexWaiterShift
	ownerShift     = 32
	lowMask        = 1<<ownerShift - 1
)

// Fairness. Like sync.Mutex, the Mutex has two modes.
//
// In normal mode a woken waiter competes with newly arriving lockers and
// often loses: they are already running, and a cross-process wake-up takes
// 10-20 µs. This keeps throughput high. A waiter registers itself once (in
// the waiter count, so that Unlock knows to wake somebody) and stays
// registered until it has the lock or gives up.
//
// A waiter that has waited longer than 1 ms sets mutexStarving. In
// starving mode newcomers do not take the lock even when it is free, and
// do not spin: they register and sleep. Only registered waiters take
// the lock, by CAS: one that has waited longer than 1 ms, the one Unlock
// woke for it (the hand-off, as sync.Mutex hands the lock to the
// goroutine it wakes), or the only waiter left (handedOff). The kernel
// wakes sleepers on one word in FIFO order on Linux and Windows, so the
// oldest waiters get it first. A registered waiter that may not take the
// free lock never leaves it idle: it hands the wake-up to a sleeper, or
// takes the hand-off itself when nobody sleeps, and sleeps until it is
// old enough. (Across processes a waiter may also wake by itself at the
// end of its time slice, so several may be awake and the hand-off has to
// be a CAS among them.) The waiter that takes the lock clears
// mutexStarving if it is the last registered waiter or waited less than
// 2 ms (the queue moves fast); a waiter still starving sets it again.
// The explorer checks that no schedule leaves the lock free while its
// waiters sleep (TestExploreMutex).
//
// Waiters never sleep longer than one slice (50 ms): after a slice they
// check that the owner process is alive.
//
// Dead waiters: the recount. A waiter that dies while registered (killed
// while blocked in Lock) leaves its count behind, and nothing tells which
// registration was its. But an Unlock that wakes for a registered waiter
// learns from the kernel (sw.WakeCounts) whether anybody slept: when
// nobody did although the count says somebody waits, it drops the whole
// count, and every live waiter registers again. A live waiter must know
// that its registration was dropped, without a second word it would have
// to read atomically with the state: that is the epoch. Every
// registration records the epoch bits of the state word it registered
// in; the first registration into a count of 0 picks a fresh epoch, and
// the count's return to 0, by the last waiter leaving or by a recount,
// clears it, so that an idle Mutex is all zeros again and keeps its
// fast paths. A waiter counts itself registered only while the state's
// epoch is the one it registered in. The states and changes of the
// count (c waiters in epoch e, e in 1..255; the flag bits aside):
//
//	from           to                 by                         when
//	(c=0, e=0)     (1, next)          register                   a waiter that is not counted
//	(c, 0), (0, e) (1, next)          register                   garbage: no registration has no epoch
//	(c, e)         (c+1, e)           register                   c >= 1, c+1 <= maxWaiters
//	(c, e)         (c-1, e)           acquire, unregister        a waiter of epoch e; c >= 2
//	(1, e)         (0, 0)             acquire, unregister        the last waiter of epoch e
//	(c, e)         (0, 0)             recount, by an Unlock      its wake-up found nobody asleep, c >= 1
//	(c, e)         (0, 0)             dropEpoch, by a waiter     it began epoch e while a recount ran, c >= 1
//
// next is recounts%255+1, and recount bumps recounts before it drops the
// count, so that the epoch chosen after a recount differs from the one
// it dropped (a waiter that registered in the dropped count read the
// state before the recount, so the state it now reads has a later epoch
// or none): a dropped waiter sees a foreign epoch and registers anew
// rather than decrementing somebody else's registration. Every change is
// a CAS of the state word against the value the waiter or unlocker read,
// so the epoch and the count always change together.
//
// But a registrant can be descheduled between register's load of
// recounts and its CAS while other waiters register in the epoch that
// load names, a recount drops them and the owner's process locks again:
// the state is then the very word the registrant read, its CAS succeeds,
// and the dropped epoch is back. A dropped waiter then takes the new
// registration for its own and goes to sleep uncounted, and with several
// such, the lock sat free while one slept out its 50 ms slice (the
// explorer found it: TestExploreMutexRegressions, seed 6931 of the 3x2x3
// model, nobody killed). The waitCount of Events and Conds closes this by
// keeping the epoch in its word while the count is 0; the Mutex cannot,
// since its idle state must be 0 for the one-CAS Lock and Unlock. So a
// waiter whose registration began an epoch looks at recounts again after
// its CAS: if it moved, a recount ran in between, and the waiter drops
// the count of its epoch as a recount would (dropEpoch: the count, the
// epoch, the woken and starving flags cleared, every sleeper woken), so
// that every waiter of that epoch, dropped before or counted now,
// registers again in a fresh one. That costs a wake-all, only after such
// a race. 255 recounts while one waiter is descheduled could still bring
// its epoch back; it would then take another waiter's registration for
// its own, and that waiter, not counted, could sleep out one slice before
// it notices, once: a delay, never a lost lock (decrements never go below
// 0 or change the epoch of a count still above 0).
//
// A recount also drops a live waiter that was awake (between its
// registration and its sleep, say) when the wake-up found nobody; it
// registers again with one CAS, keeping its age (fair mode). Waiters
// that fell asleep between the wake-up and the recount are woken by it
// (one wake-all), and register again. TestExploreMutex checks, with
// waiters killed at every step, that the count comes back.

// waiters returns the waiter count of state word s.
func waiters(s uint64) uint32 { return uint32(s) >> mutexWaiterShift }

// epochOf returns the epoch bits of state word s.
func epochOf(s uint64) uint32 { return uint32(s) >> mutexEpochShift & 0xFF }

// register returns state word old with one more registered waiter: in a
// fresh epoch if nobody was registered (see the recount). A count without
// an epoch, or an epoch without a count, is garbage a broken process left
// (every registration has an epoch, and the count's return to 0 clears
// it): nobody could unregister those registrations, so they are dropped,
// as a recount would. Registering into such a count unchanged once let a
// waiter count itself in epoch 0, survive the recount that zeroed the
// count (its epoch still matched) and then decrement the empty count,
// borrowing from the owner token (FuzzMutexState, 6d08854e0770f267).
func (m *Mutex) register(old uint64) uint64 {
	if beginsEpoch(old) {
		fresh := uint64(m.nextEpoch()) << mutexEpochShift
		return old&^(mutexCountMask|mutexEpochMask) | mutexWaiter | fresh
	}
	return old + mutexWaiter
}

// beginsEpoch reports whether a registration into state old begins a
// fresh epoch (nobody is registered, or garbage: see register).
func beginsEpoch(old uint64) bool { return waiters(old) == 0 || epochOf(old) == 0 }

// nextEpoch is the epoch a registration that begins one takes now.
func (m *Mutex) nextEpoch() uint32 { return sw.LoadUint32(&m.recounts)%255 + 1 }

// Lock locks m, waiting as long as it takes.
//
// If m is inconsistent (a previous owner died holding it, see Mutex),
// Lock gives the lock back and panics with an error matching
// ErrOwnerDead: it never hands over a dead owner's lock silently, and the
// panic leaves nothing held. Programs that can repair the data m
// protects use LockRecover.
func (m *Mutex) Lock() {
	if !sw.CompareAndSwapUint64(&m.state, 0, lockedBySelf()) {
		m.lockOrPanic()
	}
}

// TryLock tries to lock m without waiting and reports whether it did. It
// does not take over the lock of a dead owner, and it fails while m is
// inconsistent (after an owner died, until MarkConsistent): LockRecover
// handles both.
func (m *Mutex) TryLock() bool {
	return sw.CompareAndSwapUint64(&m.state, 0, lockedBySelf()) || m.tryLockSlow()
}

// Unlock unlocks m. It panics if m is not locked.
func (m *Mutex) Unlock() {
	if !sw.CompareAndSwapUint64(&m.state, lockedBySelf(), 0) {
		m.unlockSlow()
	}
}

// lockOrPanic is Lock's slow path.
//
//go:noinline
func (m *Mutex) lockOrPanic() {
	if err := m.refuseDirty(m.lockWait(nil)); err != nil {
		panic(fmt.Errorf("memfile: Mutex.Lock: %w", err))
	}
}

// LockContext locks m, waiting until it can or until ctx is done; then it
// returns ctx.Err() and leaves m as it found it. Cancellation is noticed
// at once: it wakes the wait (context.AfterFunc), no polling. A nil ctx
// means context.Background().
//
// If m is inconsistent because an owner died holding it, LockContext
// returns an error matching ErrOwnerDead, without the lock: use
// LockRecover to repair. A dead owner is noticed within about 50 ms of
// the wait starting or of its death, whichever is later. LockContext
// never returns an error with the lock held.
func (m *Mutex) LockContext(ctx context.Context) error {
	if sw.CompareAndSwapUint64(&m.state, 0, lockedBySelf()) {
		return nil
	}
	return m.refuseDirty(m.lockWait(cancellable(ctx)))
}

// LockRecover locks m like LockContext, but also while m is inconsistent
// (a previous owner died holding it): then it returns inconsistent = true
// and a nil error, with the lock held. The caller repairs the data m
// protects, calls MarkConsistent and unlocks; see the example. With an
// error (ctx done), the lock is not held.
func (m *Mutex) LockRecover(ctx context.Context) (inconsistent bool, err error) {
	return m.lockRecover(cancellable(ctx))
}

// lockRecover is LockRecover; ctx nil means wait forever.
func (m *Mutex) lockRecover(ctx context.Context) (bool, error) {
	if sw.CompareAndSwapUint64(&m.state, 0, lockedBySelf()) {
		return false, nil
	}
	err := m.lockWait(ctx)
	if err == errDirty {
		return true, nil
	}
	return false, err
}

// lockWait is lockSlow, except that a lock taken in memory that
// MemFile.Close replaced by private zeros while we waited (a spinning
// waiter then finds it free) is given back: the wait fails with errClosed
// as a sleeping one does.
func (m *Mutex) lockWait(ctx context.Context) error {
	err := m.lockSlow(ctx)
	if (err == nil || err == errDirty) && closedAt(unsafe.Pointer(m)) {
		m.Unlock()
		return errClosed
	}
	return err
}

// errMutexInconsistent is what LockContext and Lock return for an
// inconsistent Mutex (preallocated: the refusal allocates nothing).
var errMutexInconsistent = fmt.Errorf("memfile: Mutex is inconsistent, a holder died (repair with LockRecover): %w", ErrOwnerDead)

// refuseDirty turns lockSlow's result into LockContext's: the lock of an
// inconsistent Mutex is given back (the mark stays) and refused.
func (m *Mutex) refuseDirty(err error) error {
	if err == errDirty {
		m.Unlock()
		return errMutexInconsistent
	}
	return err
}

// MarkConsistent declares that the data m protects is consistent again
// after an owner died (see LockRecover). The caller must hold m.
func (m *Mutex) MarkConsistent() {
	for {
		old := m.load()
		if old&mutexLocked == 0 {
			if closedAt(unsafe.Pointer(m)) {
				return // the memory is Close's zeros now
			}
			panic("memfile: MarkConsistent of unlocked mutex")
		}
		if old&mutexDirty == 0 || m.cas(old, old&^mutexDirty) {
			return
		}
	}
}

// lockSlow is Lock after the fast path failed; ctx is nil for Lock. It
// returns errDirty when it took the lock of an inconsistent Mutex (held:
// the caller gives it back or recovers), ctx's error otherwise (not held).
func (m *Mutex) lockSlow(ctx context.Context) error {
	w := waiter{}
	for {
		old := m.load()
		if w.registered && !w.counted(old) {
			// A recount dropped our registration, and the woken flag
			// with it: register again.
			w.registered, w.awoke = false, false
		}
		saturated := waiters(old) == maxWaiters
		if old&mutexLocked == 0 && (old&mutexStarving == 0 || w.long() || w.handedOff(old) || saturated && !w.registered) {
			if m.cas(old, w.acquire(old)) {
				return dirtyErr(old)
			}
			continue
		}
		if !w.registered {
			if old&mutexStarving == 0 && w.spin(m, old) {
				continue
			}
			if saturated {
				// Only bytes left by a broken process reach 2^28-1
				// waiters. Registering would carry into the owner pid,
				// so wait uncounted: Unlock cannot know we sleep, so
				// poll in short slices, and take the lock whenever it
				// is free, fair mode or not.
				if err := sleep(ctx, lowWord(&m.state), uint32(old), shortWait); err != nil {
					return err
				}
				if err := m.checkOwner(&w); err != nil {
					return err
				}
				continue
			}
			fresh := beginsEpoch(old)
			if nw := m.register(old); m.cas(old, nw) {
				w.registered, w.epoch = true, epochOf(nw)
				if w.since.IsZero() {
					w.since = sw.Now() // a registration again keeps the age
				}
				if fresh && m.nextEpoch() != w.epoch {
					// A recount ran since register read recounts: the
					// epoch we began may be the one it dropped (see
					// "Dead waiters: the recount").
					m.dropEpoch(w.epoch)
				}
			}
			continue
		}
		if err := w.wait(ctx, m, old); err != nil {
			return err
		}
	}
}

// waiter is the state of one goroutine in lockSlow.
type waiter struct {
	registered bool   // counted in the waiter bits, in epoch epoch
	epoch      uint32 // the epoch bits of the count we registered in
	awoke      bool   // woke from a sleep: may own mutexWoken
	spinning   bool   // spinner started
	spinner    sw.Spinner
	since      time.Time // when we first registered
}

// counted reports whether the waiter's registration is in the count of
// state word s (a recount may have dropped it). A registration always has
// an epoch (1..255) and is one of the count, so a count of 0 or an epoch
// of 0 holds nobody's: a decrement never borrows from the owner token.
func (w *waiter) counted(s uint64) bool {
	return w.registered && w.epoch != 0 && epochOf(s) == w.epoch && waiters(s) != 0
}

// long reports whether the waiter has waited long enough to take the
// lock in starving mode.
func (w *waiter) long() bool {
	return w.registered && sw.Since(w.since) >= starveAfter
}

// handedOff reports whether the waiter may take the free lock old in
// fair mode whatever its age: it is the one Unlock (or another waiter)
// woke for it, as sync.Mutex hands the lock to the waiter it wakes, or
// the only waiter left, with nobody to be fair to. (A waiter that woke at
// the end of its slice may take the flag for its own; that costs fairness
// once, never progress.) Without this the lock sat free while young
// waiters slept until they were 1 ms old: the explorer found that lost
// wake-up twice (TestExploreMutexRegressions).
func (w *waiter) handedOff(old uint64) bool {
	return w.registered && (w.awoke && old&mutexWoken != 0 || waiters(old) == 1)
}

// acquire returns the state word after we take the free lock old.
func (w *waiter) acquire(old uint64) uint64 {
	nw := old&lowMask | lockedBySelf()
	if w.awoke {
		nw &^= mutexWoken
	}
	if w.counted(old) {
		nw -= mutexWaiter
		if sw.Since(w.since) < 2*starveAfter {
			nw &^= mutexStarving // the queue moves fast
		}
	}
	if waiters(nw) == 0 {
		// Nobody is left to be awake or starving, and the epoch ends.
		// mutexWoken can be stale here: an Unlock may have set it for a
		// registered waiter that had not slept yet and then took the
		// free lock without sleeping, so it never knew the flag was its
		// own.
		nw &^= mutexStarving | mutexWoken | mutexEpochMask
	}
	return nw
}

// spin spins once while the lock is held by a running owner, setting
// mutexWoken so that Unlock does not wake a sleeper we would race with.
func (w *waiter) spin(m *Mutex, old uint64) bool {
	if !w.spinning {
		w.spinning, w.spinner = true, sw.NewSpinner(spinBudget)
	}
	if !w.spinner.Spin() {
		return false
	}
	if !w.awoke && old&mutexWoken == 0 && waiters(old) != 0 &&
		m.cas(old, old|mutexWoken) {
		w.awoke = true
	}
	return true
}

// wait is one round of a registered waiter that cannot take the lock:
// turn starving, give up the woken flag, check the owner, sleep a slice.
func (w *waiter) wait(ctx context.Context, m *Mutex, old uint64) error {
	nw := old
	if w.awoke {
		nw &^= mutexWoken
	}
	if old&mutexLocked != 0 && sw.Since(w.since) > starveAfter {
		nw |= mutexStarving
	}
	if nw != old {
		if !m.cas(old, nw) {
			return nil // changed under us: look again
		}
		w.awoke = false
	}
	slice := sliceWait
	if nw&mutexLocked == 0 {
		// Free but fair, and we may not take it (not long, not handed
		// off): never leave it idle. Hand it to a sleeper, the oldest
		// first, or, if nobody sleeps, take the hand-off ourselves. Then
		// come back when we are long.
		if nw&mutexWoken == 0 {
			if !m.cas(nw, nw|mutexWoken) {
				return nil
			}
			if n, err := sw.Wake(lowWord(&m.state), 1); n == 0 && err == nil && sw.WakeCounts {
				w.awoke = true // the flag is ours: handedOff
				return nil
			}
			nw |= mutexWoken
		}
		slice = max(starveAfter-sw.Since(w.since), 0) + 50*time.Microsecond
	}
	if err := sleep(ctx, lowWord(&m.state), uint32(nw), slice); err != nil {
		m.unregister(w)
		return err
	}
	w.awoke = true
	return m.checkOwner(w)
}

// checkOwner takes the lock over when the kernel says its owner is gone
// (one look suffices: the owner's token is in the state word itself, and
// its liveness lock dies only with it). The CAS against the exact word
// that named the dead owner makes sure the lock has not changed hands
// meanwhile. It returns errDirty when it took the lock, nil otherwise.
func (m *Mutex) checkOwner(w *waiter) error {
	old := m.load()
	if !m.ownerGone(old) {
		return nil
	}
	if !m.cas(old, w.acquire(old&^mutexLocked)|mutexDirty) {
		return nil
	}
	return errDirty
}

// ownerGone reports whether the state word old is locked by a process
// that is gone.
func (m *Mutex) ownerGone(old uint64) bool {
	return old&mutexLocked != 0 && gone(unsafe.Pointer(m), uint32(old>>ownerShift))
}

// seize takes over m, locked in state old by a dead owner, for a caller
// that is not a registered waiter (an RWMutex reader releasing a dead
// writer), marking it dirty. It reports whether it did.
func (m *Mutex) seize(old uint64) bool {
	return m.cas(old, old&lowMask|lockedBySelf()|mutexDirty)
}

// unregister removes a waiter that gives up, restoring the state word as
// it would be had the waiter never come, and passes on a wake-up it may
// have consumed.
func (m *Mutex) unregister(w *waiter) {
	for {
		old := m.load()
		if !w.counted(old) {
			return // a recount dropped us, and our woken flag with us
		}
		nw := old - mutexWaiter
		if w.awoke {
			nw &^= mutexWoken
		}
		if waiters(nw) == 0 {
			nw &^= mutexStarving | mutexWoken | mutexEpochMask
		}
		if m.cas(old, nw) {
			if nw&mutexLocked == 0 && waiters(nw) != 0 {
				wake(lowWord(&m.state), 1)
			}
			return
		}
	}
}

// errDirty is the internal result of a lock call that took the lock of
// an inconsistent Mutex or RWMutex (held); the public calls turn it into
// a refusal (refuseDirty) or a report (LockRecover). It never leaves the
// package.
var errDirty = errors.New("memfile: internal: took an inconsistent lock")

// dirtyErr returns errDirty when the state word old says an earlier
// owner died and nobody has called MarkConsistent since.
func dirtyErr(old uint64) error {
	if old&mutexDirty != 0 {
		return errDirty
	}
	return nil
}

// tryLockSlow takes a free lock that has waiters (barging, as
// sync.Mutex.TryLock does) unless the lock is fair or dirty.
//
//go:noinline
func (m *Mutex) tryLockSlow() bool {
	ok, _ := m.tryTake(mutexLocked | mutexStarving | mutexDirty)
	return ok
}

// tryLockRecover takes m if it is free, also while it is inconsistent,
// and reports whether it did and whether m was inconsistent. It does not
// take a lock held by a dead owner, nor, if fair, one in fair mode
// (waiters are owed it). The Semaphore's lock uses it.
func (m *Mutex) tryLockRecover(fair bool) (locked, dirty bool) {
	refuse := uint64(mutexLocked)
	if fair {
		refuse |= mutexStarving
	}
	ok, old := m.tryTake(refuse)
	return ok, ok && old&mutexDirty != 0
}

// tryTake takes m without waiting unless its state has a bit of refuse
// set, keeping the waiter bits; it reports whether it did and the state
// it took m from.
func (m *Mutex) tryTake(refuse uint64) (bool, uint64) {
	for {
		old := m.load()
		if old&refuse != 0 {
			return false, old
		}
		if m.cas(old, old&lowMask|lockedBySelf()) {
			return true, old
		}
	}
}

// unlockSlow unlocks a Mutex whose state word has other bits set than
// our lock, or that another process (or nobody) holds.
//
//go:noinline
func (m *Mutex) unlockSlow() {
	for {
		old := m.load()
		if old&mutexLocked == 0 {
			if closedAt(unsafe.Pointer(m)) {
				return // the memory is Close's zeros now: the lock went with it
			}
			panic("memfile: unlock of unlocked mutex")
		}
		nw := old & lowMask &^ mutexLocked
		if m.cas(old, nw) {
			m.wakeOne(nw)
			return
		}
	}
}

// wokenProbe: one Unlock in this many of those that find a waiter awake
// (mutexWoken) wakes a sleeper anyway, in case the flag is stale.
var wokenProbe = uint32(256)

// wakeOne wakes a sleeping waiter after an unlock left the state nw,
// unless there is none or one is awake already.
//
// The woken flag belongs to a waiter that is awake, and only that waiter
// clears it: if it is killed awake, the flag stays, and with it the count.
// Unlocks then make no wake-up at all (the count stays, the fast paths do
// not come back), and a live waiter that sleeps meanwhile notices only
// at the end of a slice. So one Unlock in wokenProbe that finds the flag
// set wakes a sleeper anyway: if the kernel finds nobody, recount drops
// the count and the flag. A live owner of the flag (a spinner, or a
// waiter just woken) loses nothing by it: it takes the free lock as
// before, or registers again. Under contention this costs one wake-up in
// wokenProbe of the Unlocks that make none.
func (m *Mutex) wakeOne(nw uint64) {
	for {
		if waiters(nw) == 0 || nw&mutexLocked != 0 {
			return
		}
		if nw&mutexWoken != 0 {
			if sw.AddUint32(&m.wokenSeen, 1)%wokenProbe == 0 {
				if n, err := sw.Wake(lowWord(&m.state), 1); n == 0 && err == nil && sw.WakeCounts {
					m.recount()
				}
			}
			return
		}
		if m.cas(nw, nw|mutexWoken) {
			n, err := sw.Wake(lowWord(&m.state), 1)
			if n == 0 && err == nil && sw.WakeCounts {
				m.recount()
			}
			return
		}
		nw = m.load()
	}
}

// recount drops the waiter count after wakeOne's wake-up found nobody
// asleep although the count said somebody waits: registrations of
// waiters that died, or of live ones that are awake, which register
// again (see "Dead waiters: the recount"). It also clears the woken flag
// wakeOne set (otherwise no later Unlock would wake anyone, and each
// sleeper would wait out its 50 ms slice) and mutexStarving (a live
// waiter that is old sets it again). Each try bumps recounts before its
// CAS against the state read before the bump, so that every
// registration in the count it drops read recounts before the bump.
// Waiters that fell asleep since the wake-up (skipped by any Unlock that
// saw the flag) are woken to register again. It stops when a waiter that
// woke by itself took the flag: that waiter is alive and counted, and
// the count stays for a later Unlock. Where the OS does not count
// wake-ups (sw.WakeCounts: FreeBSD) it never runs: the flag stays,
// sleepers may wait out their slices, and a dead waiter's count stays.
func (m *Mutex) recount() {
	for {
		old := m.load()
		if old&mutexWoken == 0 {
			return // a waiter that woke by itself took the flag
		}
		if m.drop(old) {
			return
		}
	}
}

// dropEpoch drops the count of epoch e, as a recount does, unless it is
// gone already: a waiter calls it when its registration began epoch e
// while a recount ran, so that waiters the recount dropped may take e for
// theirs (see "Dead waiters: the recount").
func (m *Mutex) dropEpoch(e uint32) {
	for {
		old := m.load()
		if epochOf(old) != e || waiters(old) == 0 || m.drop(old) {
			return
		}
	}
}

// drop is one try of a recount against state old: recounts bumped, then
// the count, its epoch and the woken and starving flags cleared with a
// CAS, and, if it took, every sleeper woken to register again. It reports
// whether the CAS took.
func (m *Mutex) drop(old uint64) bool {
	sw.AddUint32(&m.recounts, 1)
	if !m.cas(old, old&^(mutexWoken|mutexStarving|mutexEpochMask|mutexCountMask)) {
		return false
	}
	sw.WakeAll(lowWord(&m.state)) // in every process: stragglers anywhere register again
	return true
}
