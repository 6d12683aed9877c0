package memfile

import (
	"context"
	"fmt"
	sw "github.com/shmx/shmx/internal/word"
	"runtime"
	"sync"
	"unsafe"
)

// rwSlots is how many reader slots an RWMutex has: at most this many
// processes read at once. A power of two (slot indexes wrap with a mask).
const rwSlots = 16

// RWMutex is a reader/writer mutual exclusion lock that lives in memory
// shared between processes: any number of readers or one writer. Place one
// with RWMutexAt; all-zero bytes are an unlocked RWMutex.
//
// Layout (RWMutexSize = 1088 bytes, 8-byte aligned, the same for every
// GOARCH and for 32- and 64-bit processes):
//
//	offset      size meaning
//	0           16   w: a Mutex (see its layout) that a writer holds from
//	                 Lock to Unlock; writers queue on it, and it names the
//	                 writer's token
//	16          4    rstate: bit 0 a writer holds or waits for readers to
//	                 leave (new readers wait), bit 1 that writer sleeps on
//	                 this word, bit 2 a holder died and nobody has called
//	                 MarkConsistent
//	20          4    gate: bumped when a writer leaves; waiting readers
//	                 sleep here
//	24          8    rwait: the readers registered to sleep on gate, a
//	                 waitCount (see its layout: the count heals after a
//	                 reader dies there)
//	32          32   reserved, 0
//	64 + 64*i   8    reader slot i (16 of them): token (internal/live) of a
//	                 reading process (4), read holds of that process counted
//	                 in this slot (4); 0 when free (see the slot state
//	                 machine)
//	72 + 64*i   56   reserved, 0
//
// Each reader slot has a 64-byte cache line of its own, apart from the
// words every reader loads (rstate): with 8 slots to a line, as the
// 288-byte layout 3 had, two reading processes whose slots shared a line,
// or a slot sharing rstate's line, made every read lock of one process
// miss in the other's cache. Measured across 2 processes at 90% reads
// (shmx bench, 6 alternated runs each): 9.6-17.9 M ops/s (median 13.8)
// with the shared lines, 8.9-20.6 (median 18.1) with a line a slot. The
// slots are 64 bytes apart wherever the RWMutex lies, so no two share a
// line; rstate keeps to its own line when the RWMutex starts at a multiple
// of 64 (a MemFile's lock does; RWMutexAt accepts any multiple of 8).
//
// A reader counts itself in a slot that carries its process's token (the
// goroutines of a process that read one after the other share a slot,
// those that read at once on different CPUs use up to 4, see rwStripes)
// and then checks that no writer has come; a writer sets bit 0 and then
// waits until every slot is empty. So a waiting writer stops new readers
// from entering and cannot starve, and a writer always knows which
// processes hold the read side: when one of them dies, the writer (or a
// reader waiting for a free slot) empties its slots and the RWMutex
// becomes inconsistent (bit 2). At most 16 processes read at once (fewer
// while one holds in several slots, see the slot state machine): a reader
// of a process that finds no slot of its own and none free waits until a
// slot frees, so that no read hold is ever anonymous and every dead holder
// is found. Processes are named by token, never by pid (see Mutex).
//
// Owner death works as for Mutex: a process that waits for the lock of a
// dead writer or of dead readers asks internal/live after each slice of
// its wait (at most 50 ms) whether the processes it waits for are alive,
// and takes over what the kernel says a dead one held, at the first look.
// The RWMutex is then inconsistent (bit 2) until a writer that took it
// with LockRecover calls MarkConsistent. As with Mutex, no call returns
// an error or panics with a hold: while rw is inconsistent, RLockContext
// and LockContext give back what they took and return an error matching
// ErrOwnerDead, RLock and Lock panic with it, TryRLock and TryLock fail,
// and LockRecover takes the write lock and reports inconsistent = true.
// (A reader cannot repair the data, so only the write side recovers.)
// Only an RWMutex in a MemFile's mapping has a dead holder: elsewhere its
// waiters wait, or time out under a context.
type RWMutex struct {
	w      Mutex
	rstate uint32
	gate   uint32
	rwait  waitCount // readers registered to sleep on gate
	_      [32]byte  // reserved, 0: the slots start on the next cache line
	slots  [rwSlots]rwSlot
}

// rwSlot is one reader slot: its word, alone on a 64-byte line.
type rwSlot struct {
	v uint64
	_ [56]byte // reserved, 0
}

// rstate bits.
const (
	rwWriter       = 1 << iota // a writer holds w and bars new readers
	rwWriterSleeps             // that writer sleeps on rstate until readers leave
	rwDirty                    // a holder died; cleared by MarkConsistent
)

// The reader-slot state machine. A slot word is (token, holds): the token
// of a process in the low 32 bits, the number of its read holds counted in
// the slot in the high 32. S is this process's token, T another process's,
// n ≥ 1; every change is one compare-and-swap against the word just read.
//
//	from       to          by                          when
//	(0, 0)     (S, 1)      takeSlot of S: claim        it found no slot of S with room
//	(S, n)     (S, n+1)    takeSlot of S: one more     n < 2^32-1
//	(S, n+1)   (S, n)      dropSlot of S               RUnlock, or backing out
//	(S, 1)     (0, 0)      dropSlot of S: last hold    RUnlock, or backing out
//	(T, n)     (0, 0)      reapSlots of S              the kernel says T is gone; sets rwDirty
//
// A process changes only slots that carry its own token, and the slots of
// processes the kernel says are gone (reapSlots: a writer waiting for
// readers, or a reader that found no free slot). The read lock belongs to
// the process, not to a goroutine or a slot: its holds are
// interchangeable. A goroutine adds its hold to the home slot of its
// stripe (rwStripes), or to another slot of its process; goroutines of one
// process reading at once on different CPUs, and goroutines that claim at
// the same time (each saw none), give a process several slots at once; and
// a goroutine may run on another CPU at RUnlock than at RLock. So dropSlot
// takes a hold from any slot that carries S with at least one, never from
// one that does not, and never below zero. (A dropSlot that took its hold
// from the very slot enterRead had just filled, as one did, found it
// emptied by another goroutine's RUnlock and left (0, 2^32-1) there, which
// no writer ever got past.) Words (0, n) and (T, 0) are never written; the
// slot of token 0 is never reaped, since internal/live vouches for no
// process without a token.

// Slot words.
const (
	slotHold = 1 << 32           // one read hold
	slotFull = (1<<32 - 1) << 32 // the holds at their largest: take another slot
)

// slotOurs reports whether slot word s carries this process's token and
// at least one of its holds.
func slotOurs(s uint64) bool { return uint32(s) == self() && s >= slotHold }

// RLock locks rw for reading, waiting as long as it takes. If rw is
// inconsistent (a holder died, see RWMutex), it gives the read lock back
// and panics with an error matching ErrOwnerDead, nothing held.
func (rw *RWMutex) RLock() {
	if rw.enterReadFast() {
		return
	}
	if err := rw.rlockRefusing(nil); err != nil {
		panic(fmt.Errorf("memfile: RWMutex.RLock: %w", err))
	}
}

// RLockContext locks rw for reading, waiting until it can or until ctx is
// done; then it returns ctx.Err() and leaves rw unchanged. While rw is
// inconsistent because a holder died (see RWMutex) it returns an error
// matching ErrOwnerDead, without a hold.
func (rw *RWMutex) RLockContext(ctx context.Context) error {
	if rw.enterReadFast() {
		return nil
	}
	return rw.rlockRefusing(cancellable(ctx))
}

// errRWMutexInconsistent is what the lock calls of an inconsistent
// RWMutex return (preallocated).
var errRWMutexInconsistent = fmt.Errorf("memfile: RWMutex is inconsistent, a holder died (repair with LockRecover): %w", ErrOwnerDead)

// rlockRefusing is rlock with the hold of an inconsistent rw given back.
func (rw *RWMutex) rlockRefusing(ctx context.Context) error {
	err := rw.rlock(ctx)
	if err == errDirty {
		rw.RUnlock()
		return errRWMutexInconsistent
	}
	return err
}

// TryRLock tries to lock rw for reading without waiting and reports
// whether it did. It fails while a writer holds or waits for rw, while all
// reader slots are taken by other processes, and while rw is
// inconsistent.
func (rw *RWMutex) TryRLock() bool {
	if rw.enterReadFast() {
		return true
	}
	if sw.LoadUint32(&rw.rstate)&(rwWriter|rwDirty) != 0 {
		return false
	}
	return rw.enterRead()
}

// enterReadFast is the read lock's fast path, in one function (the slow
// path's chain of calls cost a quarter of an uncontended RLock/RUnlock):
// no writer and no death in rstate, one hold added with one CAS to the
// home slot of the caller's stripe, which is this process's with room or
// free while no slot of this process strays, and no writer come
// meanwhile. Otherwise it reports false with nothing held, and the caller
// takes the slow path, which looks at everything again.
func (rw *RWMutex) enterReadFast() bool {
	if sw.LoadUint32(&rw.rstate)&(rwWriter|rwDirty) != 0 {
		return false
	}
	i := selfSlot()
	p := &rw.slots[i].v
	s := sw.LoadUint64(p)
	if nw, ok := homeHold(s); !ok || !sw.CompareAndSwapUint64(p, s, nw) {
		return false
	}
	if sw.LoadUint32(&rw.rstate)&rwWriter != 0 {
		rw.dropSlot(i) // backing out: any hold of ours will do
		return false
	}
	return true
}

// RUnlock undoes one RLock of this process: any goroutine of the process
// may call it, as with sync.RWMutex. It panics if this process holds no
// read lock on rw.
//
// Its fast path is dropSlot's first try, in one function: a hold taken
// from the home slot of the caller's stripe (so strays stays as it is).
func (rw *RWMutex) RUnlock() {
	i := selfSlot()
	p := &rw.slots[i].v
	if s := sw.LoadUint64(p); slotOurs(s) {
		if nw := slotLess(s); sw.CompareAndSwapUint64(p, s, nw) {
			if rw.leaveWakes(nw == 0) {
				rw.afterReadLeave(nw == 0)
			}
			return
		}
	}
	if !rw.dropSlotSlow(i) && !closedAt(unsafe.Pointer(rw)) {
		panic("memfile: RUnlock of unlocked RWMutex")
	}
}

// leaveWakes reports whether a reader that has just left (and freed its
// slot, if freed) has anybody to wake: a writer asleep on rstate, or, if
// a slot freed, readers on the gate. It inlines, so that a leave wakes
// nobody without a call.
func (rw *RWMutex) leaveWakes(freed bool) bool {
	return sw.LoadUint32(&rw.rstate)&rwWriterSleeps != 0 || freed && rw.rwait.n() != 0
}

// afterReadLeave wakes a writer that waits for readers to leave, and
// readers that wait for a free slot.
func (rw *RWMutex) afterReadLeave(freed bool) {
	rw.wakeWriter()
	if freed && rw.rwait.n() != 0 {
		rw.openGate()
	}
}

// wakeWriter wakes the writer sleeping on rstate, if any, after a slot
// changed. It clears rwWriterSleeps before the wake-up: the writer checks
// the slots and then sleeps on rstate, and a reader that leaves between
// the two changes only its slot, so without this change of rstate the
// writer's futex wait would still find the value it expects and sleep
// through the wake-up (until its slice ran out: 50 ms stalls, measured).
func (rw *RWMutex) wakeWriter() {
	for {
		r := sw.LoadUint32(&rw.rstate)
		if r&rwWriterSleeps == 0 {
			return
		}
		if sw.CompareAndSwapUint32(&rw.rstate, r, r&^rwWriterSleeps) {
			wake(&rw.rstate, 1)
			return
		}
	}
}

// openGate wakes every reader sleeping on the gate. A wake-up that finds
// nobody although readers are registered drops their count (they died,
// or are awake and register again: see waitCount), so that a reader
// killed at the gate costs one needless wake-up, once.
func (rw *RWMutex) openGate() {
	sw.AddUint32(&rw.gate, 1)
	if n := rw.rwait.n(); n > 0 {
		woke, err := sw.Wake(&rw.gate, int(n))
		rw.rwait.woke(woke, err, &rw.gate, 1)
	}
}

// slotStart is where a process's slots start, so that processes mostly
// use different slots at once. The token is random already; the Fibonacci
// hash keeps that true of tokens that are not (a test's, or a broken
// peer's).
func slotStart(token uint32) int { return int(token * 0x9E3779B1 >> 28 % rwSlots) }

// rwStripes is how many home slots a process has: slotStart of its token
// and the rwStripes-1 slots after it. A goroutine's holds go first to the
// home slot of its stripe (the runtime processor it runs on, see
// sw.Stripe), so that the goroutines of a process that read at once on
// different CPUs change words on different cache lines instead of
// contending for one: with a single slot per process, 2 goroutines took
// 45-50 ns per RLock/RUnlock pair between them, against 17 ns for one
// goroutine alone; with a slot per stripe, 7.4 ns
// (BenchmarkRWMutexRLockParallel and BenchmarkRWMutexRLockUncontended, 5
// interleaved runs; BenchmarkRWMutexReadMostly, 1% writes: 9.2-10.0 ns
// against sync.RWMutex's 10.6-11.7, was 45-51). A process uses a home slot
// only while one of its goroutines reads there, so it takes as many slots
// as it has goroutines reading at the same time, at most rwStripes of them
// unless they found their home slots taken by other processes (see
// strays).
const rwStripes = 4

// selfSlot is the home slot of the caller's stripe (under the explorer
// each simulated process has its own token and each goroutine its own
// stripe).
func selfSlot() int {
	return (slotStart(self()) + sw.Stripe()&(rwStripes-1)) & (rwSlots - 1)
}

// homeSlot reports whether slot i is one of this process's home slots.
func homeSlot(i int) bool {
	return (i-slotStart(self()))&(rwSlots-1) < rwStripes
}

// enterRead takes one read hold in a slot of this process, then checks
// for a writer that came meanwhile (who will see the hold: both sides
// change their word before reading the other's). It reports false, with
// no hold taken, if a writer is there or no slot is free.
func (rw *RWMutex) enterRead() bool {
	i, ok := rw.takeSlot()
	if !ok {
		return false
	}
	if sw.LoadUint32(&rw.rstate)&rwWriter != 0 {
		rw.dropSlot(i) // backing out: any hold of ours will do
		return false
	}
	return true
}

// takeSlot adds a read hold of this process to a slot and returns its
// index: to its stripe's home slot (selfSlot) if that carries this
// process's token or is free and no slot of this process is a stray,
// else to a slot that carries this process's token if any does, else to
// a free slot it claims, a home slot if it can. It reports
// false if no slot carries the token and none is free.
func (rw *RWMutex) takeSlot() (int, bool) {
	home := selfSlot()
	p := &rw.slots[home].v
	s := sw.LoadUint64(p)
	if nw, ok := homeHold(s); ok && sw.CompareAndSwapUint64(p, s, nw) {
		return home, true
	}
	return rw.takeSlotSlow(home)
}

// homeHold returns the word that one more hold of this process turns home
// slot word s into, and whether the hold may go there: a slot of this
// process with room, or a free one while no slot of this process is away
// from its home slots (in any RWMutex: see strays), since then this is
// where this goroutine's holds go.
func homeHold(s uint64) (uint64, bool) {
	if s == 0 {
		return uint64(self()) | slotHold, strays.Load() <= 0
	}
	return s + slotHold, slotOurs(s) && s < slotFull
}

// slotLess returns slot word s, of this process with at least one hold,
// with one hold fewer: the last one frees the slot.
func slotLess(s uint64) uint64 {
	if s < 2*slotHold {
		return 0
	}
	return s - slotHold
}

// strays counts the slots away from the home slots (homeSlot) that carry
// this process's token, in all its RWMutexes: a claim of one adds one,
// the removal of its last hold takes one away. While there are none,
// takeSlot claims a free home slot at once; otherwise it looks at every
// slot for one of this process first, so that holds taken while one of
// them sits elsewhere join it rather than spread a process over ever more
// slots. It is only a hint: the holds of a process may be in any of its
// slots, and every removal looks at all of them (dropSlot). Claims and
// removals of home slots leave it alone, so that goroutines reading on
// different CPUs do not meet on its cache line.
var strays sw.Int32

// takeSlotSlow is takeSlot when the first slot it looked at is neither
// this process's nor free for it, or changed under it.
func (rw *RWMutex) takeSlotSlow(home int) (int, bool) {
	tok := self()
	for {
		free := -1
		for k := 0; k < rwSlots; k++ {
			i := (home + k) & (rwSlots - 1)
			s := sw.LoadUint64(&rw.slots[i].v)
			if slotOurs(s) && s < slotFull {
				if sw.CompareAndSwapUint64(&rw.slots[i].v, s, s+slotHold) {
					return i, true
				}
				k-- // changed: look at this slot again
				continue
			}
			if s == 0 && (free < 0 || homeSlot(i) && !homeSlot(free)) {
				free = i // the first free slot, a home one if any
			}
		}
		if free < 0 {
			return 0, false
		}
		stray := !homeSlot(free)
		if stray {
			strays.Add(1) // before the claim, so that no takeSlot misses it
		}
		if sw.CompareAndSwapUint64(&rw.slots[free].v, 0, uint64(tok)|slotHold) {
			return free, true
		}
		if stray {
			strays.Add(-1)
		}
		// Somebody claimed it first (maybe a goroutine of this process,
		// whose slot this one should share): look at all of them again.
	}
}

// dropSlot removes one read hold of this process from a slot that carries
// its token with at least one hold, looking at slot first before the
// others, and reports whether it did. Holds of one process are
// interchangeable (see the slot state machine), so any such slot will do.
// It reports false only when this process clearly holds nothing in rw.
func (rw *RWMutex) dropSlot(first int) bool {
	first &= rwSlots - 1
	if s := sw.LoadUint64(&rw.slots[first].v); slotOurs(s) && rw.dropAt(first, s) {
		return true
	}
	return rw.dropSlotSlow(first)
}

// dropAt takes one hold from slot i, which held s, a word of this
// process's with at least one hold, unless the slot changed meanwhile; it
// reports whether it did. The last hold frees the slot.
func (rw *RWMutex) dropAt(i int, s uint64) bool {
	nw := slotLess(s)
	if !sw.CompareAndSwapUint64(&rw.slots[i].v, s, nw) {
		return false
	}
	if nw == 0 && !homeSlot(i) {
		strays.Add(-1)
	}
	if rw.leaveWakes(nw == 0) {
		rw.afterReadLeave(nw == 0)
	}
	return true
}

// dropPasses bounds the passes over the slots of a dropSlot that finds no
// hold of this process in them (see dropSlotSlow).
const dropPasses = 100

// dropSlotSlow is dropSlot after the first slot it looked at had no hold
// of ours. One pass over the slots is not a snapshot: while it runs,
// other goroutines of this process may claim a slot it has passed and
// empty one it has yet to see, so a process that holds a read lock can
// look as if it held none. A pass that finds nothing is therefore
// repeated, and the process is taken to hold nothing only when two passes
// in a row saw the very same words (no slot changed in between, as far as
// a look can tell) or after dropPasses passes found nothing: either means
// RUnlock without RLock, a bug of the caller.
func (rw *RWMutex) dropSlotSlow(first int) bool {
	var prev [rwSlots]uint64
	for pass := 0; pass < dropPasses; pass++ {
		var seen [rwSlots]uint64
		for k := 0; k < rwSlots; k++ {
			i := (first + k) & (rwSlots - 1)
			s := sw.LoadUint64(&rw.slots[i].v)
			seen[i] = s
			if !slotOurs(s) {
				continue
			}
			if rw.dropAt(i, s) {
				return true
			}
			k-- // changed: look at this slot again
		}
		if pass > 0 && seen == prev {
			return false
		}
		prev = seen
		runtime.Gosched() // let a goroutine that is moving holds finish
	}
	return false
}

// rlock is RLockContext; ctx nil waits forever.
func (rw *RWMutex) rlock(ctx context.Context) error {
	if sw.LoadUint32(&rw.rstate)&(rwWriter|rwDirty) == 0 && rw.enterRead() {
		return nil
	}
	// A writer holds rw for a few hundred nanoseconds at most, usually:
	// retry the fast path for a while before sleeping on the gate, which
	// costs this reader and the writer that opens it a system call each.
	sp := sw.NewSpinner(spinBudget)
	for sp.Spin() {
		r := sw.LoadUint32(&rw.rstate)
		if r&rwDirty != 0 {
			break // the slow path reports it
		}
		if r&rwWriter == 0 && rw.enterRead() {
			return rw.openAfterWait()
		}
	}
	registered, epoch := false, uint32(0)
	defer func() {
		if registered {
			rw.rwait.unregister(epoch)
		}
	}()
	for {
		g := sw.LoadUint32(&rw.gate)
		r := sw.LoadUint32(&rw.rstate)
		if r&rwWriter == 0 && rw.enterRead() {
			if sw.LoadUint32(&rw.rstate)&rwDirty != 0 {
				return errDirty // held: the caller gives it back
			}
			return rw.openAfterWait()
		}
		if !registered || epoch != 0 && !rw.rwait.counted(epoch) {
			// Not counted yet, or a recount dropped us: register (the
			// count is read after g, see waitCount).
			epoch, registered = rw.rwait.register(), true
			continue // re-check before sleeping
		}
		slice := sliceWait
		if epoch == 0 {
			slice = shortWait // uncounted: nobody wakes us
		}
		if err := sleep(ctx, &rw.gate, g, slice); err != nil {
			return err
		}
		if r&rwWriter != 0 {
			rw.releaseDeadWriter()
		} else {
			rw.reapSlots() // no slot free: some may be dead processes'
		}
	}
}

// openAfterWait checks a read hold taken after waiting: if MemFile.Close
// replaced rw's memory by zeros meanwhile (a spinning reader then gets
// in), the hold is given back and the wait fails with errClosed, as a
// sleeping one does.
func (rw *RWMutex) openAfterWait() error {
	if closedAt(unsafe.Pointer(rw)) {
		rw.RUnlock()
		return errClosed
	}
	return nil
}

// closedWhileWriting is openAfterWait for a writer that waited for
// readers: the write lock taken (*err nil or errDirty) in memory that
// Close replaced is given back and *err becomes errClosed.
func (rw *RWMutex) closedWhileWriting(err *error) {
	if (*err == nil || *err == errDirty) && closedAt(unsafe.Pointer(rw)) {
		rw.endWrite()
		*err = errClosed
	}
}

// releaseDeadWriter, run by a waiting reader, releases the write side of
// a writer the kernel says is gone: it takes w over with a CAS against the
// word that named the dead token (leaving w dirty, so that the next writer
// is told), marks rw inconsistent, lets readers in and unlocks w.
func (rw *RWMutex) releaseDeadWriter() {
	old := rw.w.load()
	if !rw.w.ownerGone(old) || !rw.w.seize(old) {
		return
	}
	rw.orState(rwDirty)
	rw.endWrite()
}

// reapSlots empties the slots of reader processes the kernel says are
// gone, each with a CAS against the word that named the dead token, and
// marks rw inconsistent if it emptied any.
func (rw *RWMutex) reapSlots() {
	reaped := false
	for i := range rw.slots {
		s := sw.LoadUint64(&rw.slots[i].v)
		if s != 0 && gone(unsafe.Pointer(&rw.slots[i].v), uint32(s)) &&
			sw.CompareAndSwapUint64(&rw.slots[i].v, s, 0) {
			rw.orState(rwDirty)
			reaped = true
		}
	}
	if reaped {
		rw.wakeWriter()
		if rw.rwait.n() != 0 {
			rw.openGate()
		}
	}
}

// orState sets bits in rstate.
func (rw *RWMutex) orState(bits uint32) {
	for {
		r := sw.LoadUint32(&rw.rstate)
		if r&bits == bits || sw.CompareAndSwapUint32(&rw.rstate, r, r|bits) {
			return
		}
	}
}

// Lock locks rw for writing, waiting as long as it takes. If rw is
// inconsistent it gives the lock back and panics with an error matching
// ErrOwnerDead, nothing held; use LockRecover to repair.
func (rw *RWMutex) Lock() {
	if err := rw.lockRefusing(nil); err != nil {
		panic(fmt.Errorf("memfile: RWMutex.Lock: %w", err))
	}
}

// LockContext locks rw for writing, waiting until it can or until ctx is
// done; then it returns ctx.Err() and leaves rw unchanged. If a writer or
// reader died holding rw, it returns an error matching ErrOwnerDead,
// without the lock: use LockRecover to repair.
func (rw *RWMutex) LockContext(ctx context.Context) error {
	return rw.lockRefusing(cancellable(ctx))
}

// LockRecover locks rw for writing like LockContext, but also while rw is
// inconsistent (a holder died): then it returns inconsistent = true and a
// nil error, with the write lock held. The caller repairs the data, calls
// MarkConsistent and unlocks. With an error (ctx done), nothing is held.
func (rw *RWMutex) LockRecover(ctx context.Context) (inconsistent bool, err error) {
	err = rw.lock(cancellable(ctx))
	if err == errDirty {
		return true, nil
	}
	return false, err
}

// lockRefusing is lock with the write lock of an inconsistent rw given
// back.
func (rw *RWMutex) lockRefusing(ctx context.Context) error {
	err := rw.lock(ctx)
	if err == errDirty {
		rw.Unlock()
		return errRWMutexInconsistent
	}
	return err
}

// TryLock tries to lock rw for writing without waiting and reports
// whether it did. It fails while rw is inconsistent.
func (rw *RWMutex) TryLock() bool {
	if !rw.w.TryLock() {
		return false
	}
	r := sw.LoadUint32(&rw.rstate)
	if r&rwDirty != 0 || !sw.CompareAndSwapUint32(&rw.rstate, r, r|rwWriter) {
		rw.w.Unlock()
		return false
	}
	if !rw.slotsEmpty() {
		rw.endWrite()
		return false
	}
	return true
}

// slotsEmpty reports whether no process holds a read lock.
func (rw *RWMutex) slotsEmpty() bool {
	for i := range rw.slots {
		if sw.LoadUint64(&rw.slots[i].v) != 0 {
			return false
		}
	}
	return true
}

// lock is LockRecover's wait; ctx nil waits forever. It returns errDirty
// with the write lock held when rw is inconsistent.
func (rw *RWMutex) lock(ctx context.Context) (err error) {
	dirty, err := rw.w.lockRecover(ctx)
	if err != nil {
		return err
	}
	if dirty {
		rw.orState(rwDirty) // a writer died holding rw
	}
	rw.orState(rwWriter) // may be set already by a writer that died
	// New readers are barred now; those inside leave within their (short)
	// critical sections: spin for that before sleeping.
	if !rw.slotsEmpty() {
		defer rw.closedWhileWriting(&err)
		sp := sw.NewSpinner(spinBudget)
		for sp.Spin() && !rw.slotsEmpty() {
		}
	}
	for !rw.slotsEmpty() {
		r := sw.LoadUint32(&rw.rstate)
		if r&rwWriterSleeps == 0 {
			sw.CompareAndSwapUint32(&rw.rstate, r, r|rwWriterSleeps)
			continue // re-check the slots before sleeping
		}
		// A reader that left since the check cleared rwWriterSleeps
		// (wakeWriter), so this wait on r returns at once.
		if err := sleep(ctx, &rw.rstate, r, sliceWait); err != nil {
			rw.abandonWrite()
			return err
		}
		rw.reapSlots() // a reader that does not leave may be gone
	}
	if sw.LoadUint32(&rw.rstate)&rwDirty != 0 {
		return errDirty
	}
	return nil
}

// abandonWrite undoes lock's changes when its wait is cancelled: it lets
// readers in and unlocks w, so that rw is byte for byte as before (unless
// a holder died meanwhile).
func (rw *RWMutex) abandonWrite() {
	rw.endWrite()
}

// Unlock unlocks rw for writing. It panics if rw is not locked for
// writing.
func (rw *RWMutex) Unlock() {
	if sw.LoadUint32(&rw.rstate)&rwWriter == 0 {
		if closedAt(unsafe.Pointer(rw)) {
			return // the memory is Close's zeros now: the lock went with it
		}
		panic("memfile: Unlock of unlocked RWMutex")
	}
	rw.endWrite()
}

// endWrite clears the writer bits, lets waiting readers in and unlocks w.
func (rw *RWMutex) endWrite() {
	for {
		r := sw.LoadUint32(&rw.rstate)
		if sw.CompareAndSwapUint32(&rw.rstate, r, r&^(rwWriter|rwWriterSleeps)) {
			break
		}
	}
	if rw.rwait.n() != 0 {
		rw.openGate()
	}
	rw.w.Unlock()
}

// RLocker returns a sync.Locker whose Lock and Unlock are rw.RLock and
// rw.RUnlock, as sync.RWMutex.RLocker does.
func (rw *RWMutex) RLocker() sync.Locker { return (*rlocker)(rw) }

type rlocker RWMutex

func (r *rlocker) Lock()   { (*RWMutex)(r).RLock() }
func (r *rlocker) Unlock() { (*RWMutex)(r).RUnlock() }

// MarkConsistent declares that the data rw protects is consistent again
// after a holder died (see RWMutex). The caller must hold rw for writing.
func (rw *RWMutex) MarkConsistent() {
	if sw.LoadUint32(&rw.rstate)&rwWriter == 0 {
		if closedAt(unsafe.Pointer(rw)) {
			return // the memory is Close's zeros now
		}
		panic("memfile: MarkConsistent of RWMutex not locked for writing")
	}
	for {
		r := sw.LoadUint32(&rw.rstate)
		if r&rwDirty == 0 || sw.CompareAndSwapUint32(&rw.rstate, r, r&^rwDirty) {
			break
		}
	}
	rw.w.MarkConsistent()
}
