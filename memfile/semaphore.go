package memfile

import (
	"context"
	"fmt"
	"math"
	"unsafe"

	sw "github.com/shmx/shmx/internal/word"
)

// Semaphore is a weighted counting semaphore that lives in memory shared
// between processes, with the semantics of golang.org/x/sync/semaphore's
// Weighted: Acquire(n) waits until n units are available and takes them,
// Release(n) gives n back, and waiters are served in the order they came.
// Place one with SemaphoreAt (all-zero bytes are a semaphore with count 0
// and no capacity limit) or InitSemaphore.
//
// Order. A waiter that cannot be satisfied at the head of the queue
// blocks the ones behind it, so a large Acquire is not starved by a
// stream of small ones (x/sync's reader/writer argument); TryAcquire
// fails while anybody waits; a waiter at the head that gives up (its
// context is done) lets the next ones through; units granted to a waiter
// whose context was done meanwhile are given back. Release hands units
// directly to the head waiters (they are theirs before they wake), so a
// newcomer never barges past a woken waiter.
//
// Dead processes. With a capacity (InitSemaphore with capacity > 0) the
// units are a pool that processes borrow: each process's units are
// recorded in a holder table under its token (internal/live, never a
// pid), and the units of a process the kernel says is gone go back to
// the count, as the Mutex takes over a dead owner's lock. They are
// recovered by the waiters: an Acquire that waits looks for dead holders
// and dead waiters after every 50 ms slice of its wait (not before it
// queues: that would put a system call per process in the tables on
// every contended Acquire), so units of a process killed while holding
// them serve the waiters within about 50 ms of its death or of the wait's
// start, whichever is later, as for the Mutex. Units are recovered only in a
// MemFile's mapping (memory no MemFile maps never has a dead process, as
// for every primitive of this package). A waiter killed while queued is
// dropped from the queue by the same look (until then it blocks those
// behind it as a live one would, or is granted its units and then counts
// as a dead holder), so a SIGKILL wedges neither the queue nor the units.
// TryAcquire and Release make no system call and so never look: a
// program that only uses TryAcquire calls Recover when it keeps failing.
//
// Units belong to the process that acquired them, not to a goroutine:
// any goroutine of that process may release them. A Release of more
// than its process holds panics ("released more than held"), unless
// units nobody is recorded to hold cover the rest: those are the units
// Init left out (capacity - count) and the units of processes that found
// the holder table full (more than 16 processes holding at once), which
// are not recovered if their process dies. So a bounded semaphore whose
// units are acquired by one process and released by another works only
// within that unrecorded allowance; a semaphore used to count produced
// items (Release by producers, Acquire by consumers) has no capacity.
// Without a capacity nothing is recorded and nothing recovered: units
// acquired there are consumed, and a consumer's exit must not bring
// them back.
//
// The capacity also turns "released more than acquired" into a
// detectable bug, as in x/sync/semaphore. Without a capacity only
// overflow of the 32-bit count is caught.
//
// All state is guarded by an embedded Mutex (robust: a process killed
// inside a critical section is noticed by the next caller within about
// 50 ms, who takes the lock over). Every critical section that changes
// more than one word writes the new values of those words to a journal
// first, then a valid mark, then applies them and clears the mark; the
// caller that takes over a dead process's lock redoes a marked journal
// (the values are absolute, so redoing is idempotent) and ignores an
// unmarked one (nothing was applied yet), then checks the state and
// grants what it can. Uncontended Acquire and Release are one Mutex CAS
// each way plus a two-word journal (count and the holder entry; without
// a capacity a single store of the count): no system call, no
// allocation. That costs about 3-4x x/sync's Weighted, which needs no
// journal (BenchmarkSemaphoreUncontended).
//
// Why a lock and a journal rather than lock-free words: FIFO order, a
// holder table and a queue are state that spans many words, and each
// change must survive a SIGKILL between any two of its stores. A robust
// Mutex already detects a death inside a section (its owner's token is
// in the lock word), and the journal turns "died anywhere" into "died
// before or after the commit point", which the next locker can settle
// without knowing what the dead one was doing.
//
// Layout (SemaphoreSize = 512 bytes, 8-byte aligned, the same for every
// GOARCH and for 32- and 64-bit processes):
//
//	offset size meaning
//	0      4    count: units available now
//	4      4    capacity: the most units there can be (0: no limit)
//	8      4    waiters: queue slots in state queued
//	12     4    layout version: 3, or 0 for all-zero bytes (below)
//	16     16   mu: the Mutex that guards everything else
//	32     4    unowned: units out that no holder entry records
//	36     4    ticket: the next waiter's ticket (queue order)
//	40     4    journal length: entries to redo, 0 when none
//	44     4    reserved, 0
//	48     64   journal: 8 entries of 8 bytes, (offset << 32) | value, the
//	            new value of the 32-bit word at that offset of the semaphore
//	112    16   reserved, 0
//	128    128  holders: 16 entries {token, units} of 4 + 4 bytes
//	256    256  queue: 16 slots {token, n, ticket, state} of 4 bytes each
//
// Count and capacity are where the 16-byte layout of earlier shmx had
// them, and its reserved word is now the version: a 16-byte semaphore
// with a count or capacity reads as version 0 with non-zero fields and is
// refused with an error matching ErrVersion, never misread. All-zero
// bytes (which the old layout read the same way) are a valid empty
// semaphore without capacity; its first operation stores version 3 before
// it changes anything else, so version 0 always means "every other word
// is 0" (the Mutex aside). Version 2 had the same words but an older
// Mutex state (a waiter count without an epoch, see Mutex): it is
// refused with ErrVersion, since a process of that build and one of this
// one would misread each other's waiter counts.
//
// Invariants at every unlock: with a capacity, count + Σ holder units +
// unowned = capacity, and holders and unowned are 0 without one; a
// holder entry with token 0 has 0 units (an entry with a token and 0
// units is a process that held before and may take units again without
// writing its token); waiters is the number of slots in state queued,
// and the oldest of them waits for more units than count (else it would
// have been granted).
// SemaphoreAt checks them all when the lock is free (a semaphore in use
// was checked by whoever placed it first); operations index only the
// fixed tables, whatever their bytes say.
//
// The queue slot state machine (S this process's token, t a ticket, n
// units; every change happens under mu, through the journal):
//
//	from                to                  by                          when
//	free {0,0,0,0}      {S,n,t,queued}      Acquire of S: enqueue       no units for it now, or others queued
//	{S,n,t,queued}      {S,n,t,granted}     grant (any process)         it is the oldest queued and n <= count;
//	                                                                    its n units move from count to S's holder
//	{S,n,t,granted}     free                Acquire of S: collect       it woke (units given back if ctx is done)
//	{S,n,t,queued}      free                Acquire of S: give up       ctx done; grant runs if it was oldest
//	{T,..,queued|granted} free              reap (a waiting process)    the kernel says T is gone
//
// and the holder entries:
//
//	{0,0}               {S,n}               take of S                   no entry of S; first free one
//	{S,u}               {S,u+n}             take of S, grant to S
//	{S,u}               {S,u-d}             Release of S                d = min(u, released); the rest from unowned
//	{T,0}               {S,n}               take of S                   no free entry: reuse an idle one
//	{T,u}               {0,0}               reap                        the kernel says T is gone; count += u
//
// A grant wakes the slot's state word (each waiter sleeps on its own
// slot), after the lock is given back. A process killed after its grant
// but before its wake-up leaves the waiter to notice at the end of its
// slice; a waiter killed asleep costs the wake-up call of its grant,
// once. If the queue is full (16 waiters), a further waiter polls every
// 10 ms for a free slot, outside the order; if the holder table is full,
// units go to unowned and are not recovered (both degrade, neither is
// unsafe).
type Semaphore struct {
	_        [0]sw.Uint64 // 8-byte alignment on 32-bit platforms too
	count    uint32
	capacity uint32
	waiters  uint32
	version  uint32
	mu       Mutex
	unowned  uint32
	ticket   uint32
	jlen     uint32
	_        uint32
	journal  [semJournal]uint64
	_        [2]uint64
	holders  [semHolders]semHolder
	slots    [semSlots]semSlot
}

// semHolder is a holder table entry: a process and the units it holds.
type semHolder struct{ token, units uint32 }

// semSlot is a queue slot; state is the futex word its waiter sleeps on.
type semSlot struct{ token, n, ticket, state uint32 }

// Semaphore geometry and layout version.
const (
	semHolders = 16
	semSlots   = 16
	semJournal = 8
	semVersion = 3
)

// Queue slot states.
const (
	semFree    = 0
	semQueued  = 1
	semGranted = 2
)

// Offsets checked against the documented layout at compile time.
var (
	_ [unsafe.Offsetof(Semaphore{}.mu) - 16]byte
	_ [16 - unsafe.Offsetof(Semaphore{}.mu)]byte
	_ [unsafe.Offsetof(Semaphore{}.journal) - 48]byte
	_ [48 - unsafe.Offsetof(Semaphore{}.journal)]byte
	_ [unsafe.Offsetof(Semaphore{}.holders) - 128]byte
	_ [128 - unsafe.Offsetof(Semaphore{}.holders)]byte
	_ [unsafe.Offsetof(Semaphore{}.slots) - 256]byte
	_ [256 - unsafe.Offsetof(Semaphore{}.slots)]byte
)

// InitSemaphore places a Semaphore over b like SemaphoreAt and initialises
// it with capacity (0: no limit) and count units available. Only the
// process that creates the shared memory calls it, before any other
// process uses the semaphore. It panics if count > capacity > 0.
func InitSemaphore(b []byte, capacity, count uint32) (*Semaphore, error) {
	p, err := objectAt(b, SemaphoreSize, "Semaphore")
	if err != nil {
		return nil, err
	}
	s := (*Semaphore)(p)
	s.Init(capacity, count)
	return s, nil
}

// Init sets capacity (0: no limit) and the available count of s, with no
// holder and no waiter; with a capacity, the capacity - count units not
// available are unowned (any process may release them). It must not run
// while any process uses s. It panics if count > capacity > 0.
func (s *Semaphore) Init(capacity, count uint32) {
	if capacity > 0 && count > capacity {
		panic("memfile: Semaphore.Init count exceeds capacity")
	}
	// Legal: s is SemaphoreSize bytes of writable memory, and nobody uses
	// it (the caller's promise).
	clear(unsafe.Slice((*byte)(unsafe.Pointer(s)), SemaphoreSize))
	if capacity > 0 {
		sw.StoreUint32(&s.unowned, capacity-count)
	}
	sw.StoreUint32(&s.capacity, capacity)
	sw.StoreUint32(&s.count, count)
	sw.StoreUint32(&s.version, semVersion)
}

// Count returns the units available now (racy by nature: for monitoring).
func (s *Semaphore) Count() uint32 { return sw.LoadUint32(&s.count) }

// Capacity returns the capacity set by Init, 0 for none.
func (s *Semaphore) Capacity() uint32 { return sw.LoadUint32(&s.capacity) }

// Waiters returns the number of Acquire calls queued now (racy by
// nature: for monitoring).
func (s *Semaphore) Waiters() uint32 { return sw.LoadUint32(&s.waiters) }

// units checks n, as x/sync/semaphore's callers know it, against the
// 32-bit count.
func units(n int64) uint32 {
	if n < 0 || n > math.MaxUint32 {
		panic("memfile: semaphore: n out of range [0, 2^32)")
	}
	return uint32(n)
}

// errSemCorrupt and errSemLost are what Acquire returns for a semaphore
// whose bytes no correct process wrote (preallocated).
var (
	errSemCorrupt = fmt.Errorf("%w: Semaphore state is inconsistent", ErrCorrupt)
	errSemLost    = fmt.Errorf("%w: Semaphore queue slot of a waiting Acquire was overwritten", ErrCorrupt)
)

// TryAcquire takes n units if they are available now and nobody waits,
// without waiting for them, and reports whether it did. It also fails if
// the semaphore's lock, held by others for a few memory operations at a
// time, stays busy for longer than a spin (20 µs: its holder was
// descheduled, stopped, or died inside; bytes no correct process wrote
// can hold it for good, and TryAcquire must not wait for them). It never
// looks for dead holders (see Recover).
func (s *Semaphore) TryAcquire(n int64) bool {
	u := units(n)
	if !s.tryLock() {
		return false
	}
	ok := s.takeNow(u)
	s.mu.Unlock()
	return ok
}

// Acquire takes n units, waiting until they are available and every
// earlier waiter was served, or until ctx is done; then it returns
// ctx.Err() and leaves s as it would be had it not come (units granted
// meanwhile are given back). If n exceeds a non-zero capacity, Acquire
// waits for ctx without hope and without queueing, as x/sync/semaphore
// does. Cancellation is noticed at once (nil ctx means
// context.Background()). Like Event.Wait, Acquire waits as ctx's
// WaitStrategy says: by default it spins for up to 10 µs before it
// queues; with BusySpin it queues and polls its queue slot instead of
// sleeping. An error matching ErrCorrupt reports bytes no correct process
// wrote.
func (s *Semaphore) Acquire(ctx context.Context, n int64) error {
	u := units(n)
	orig := ctx // its WaitStrategy is read only if Acquire must wait
	ctx = cancellable(ctx)
	if ctx != nil && ctx.Err() != nil {
		return ctx.Err() // done before the call: fail, as x/sync does
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	ok := s.takeNow(u)
	s.mu.Unlock()
	if ok {
		return nil
	}
	return s.acquireSlow(ctx, WaitStrategyOf(orig), u)
}

// acquireSlow is Acquire when the units were not there at once: spin,
// look for dead processes, queue, wait.
func (s *Semaphore) acquireSlow(ctx context.Context, strat WaitStrategy, u uint32) error {
	if strat.spinPhase(func() bool { return s.mayTake(u) && s.TryAcquire(int64(u)) }) {
		return nil
	}
	for {
		if err := s.lock(ctx); err != nil {
			return err
		}
		var w semWakes
		if s.takeNow(u) {
			s.mu.Unlock()
			return nil
		}
		if c := sw.LoadUint32(&s.capacity); c > 0 && u > c {
			s.mu.Unlock()
			return s.waitHopeless(ctx)
		}
		i, t := s.enqueue(u)
		if i < 0 {
			// The queue is full: of dead waiters, maybe, whom no live
			// one would drop.
			s.recoverLocked(&w)
			if s.takeNow(u) {
				s.unlock(&w)
				return nil
			}
			i, t = s.enqueue(u)
		}
		s.unlock(&w)
		if i >= 0 {
			return s.await(ctx, strat, i, t, u)
		}
		// Still full: poll for room (nobody wakes this word).
		if err := sleep(ctx, &s.jlen, sw.LoadUint32(&s.jlen), shortWait); err != nil {
			return err
		}
	}
}

// mayTake is takeNow's condition read without the lock, for spinning.
func (s *Semaphore) mayTake(u uint32) bool {
	return sw.LoadUint32(&s.waiters) == 0 && sw.LoadUint32(&s.count) >= u
}

// waitHopeless waits for ctx: an Acquire of more than the capacity.
func (s *Semaphore) waitHopeless(ctx context.Context) error {
	if ctx != nil {
		<-ctx.Done()
		return ctx.Err()
	}
	for {
		sw.Sleep(sliceWait)
	}
}

// lost is the error of an await whose queue slot is not its own any
// more: errClosed if Close replaced the memory by zeros meanwhile (a
// waiter between two sleeps does not see the wake-up), else errSemLost.
func (s *Semaphore) lost() error {
	if closedAt(unsafe.Pointer(s)) {
		return errClosed
	}
	return errSemLost
}

// await waits in queue slot i (ticket t) until it is granted u units or
// ctx is done, looking for dead processes after every slice.
func (s *Semaphore) await(ctx context.Context, strat WaitStrategy, i int, t, u uint32) error {
	sl := &s.slots[i]
	for {
		err := strat.waitOn(ctx, &sl.state, semQueued, sliceWait)
		if err == nil && sw.LoadUint32(&sl.state) == semQueued {
			// Woken without a grant, or a slice ended: look for dead
			// holders and waiters.
			if lerr := s.lock(nil); lerr != nil {
				return lerr
			}
			var w semWakes
			s.recoverLocked(&w)
			s.unlock(&w)
			continue
		}
		// Granted, or ctx done: settle under the lock.
		if lerr := s.lock(nil); lerr != nil {
			return lerr
		}
		var w semWakes
		if sw.LoadUint32(&sl.token) != self() || sw.LoadUint32(&sl.ticket) != t {
			s.unlock(&w)
			return s.lost()
		}
		switch sw.LoadUint32(&sl.state) {
		case semGranted:
			s.dequeue(i)
			if err != nil {
				// Granted after ctx was done: give the units back.
				var tx semTx
				if s.giveBack(&tx, self(), u) {
					s.commit(&tx)
				}
				s.grant(&w)
			}
			s.unlock(&w)
			return err
		case semQueued:
			if err == nil {
				s.unlock(&w)
				continue // a stray wake-up
			}
			oldest := s.oldest() == i
			s.dequeue(i)
			if oldest {
				s.grant(&w) // the ones behind may fit now
			}
			s.unlock(&w)
			return err
		default:
			s.unlock(&w)
			return s.lost()
		}
	}
}

// Release gives back n units and hands them to the waiters in order. It
// panics if this process releases more than it holds (see Semaphore), if
// the count would exceed the capacity or 2^32-1, or with an error
// matching ErrCorrupt if the semaphore's bytes are inconsistent.
func (s *Semaphore) Release(n int64) {
	u := units(n)
	if err := s.lock(nil); err != nil {
		panic(fmt.Errorf("memfile: Semaphore.Release: %w", err))
	}
	var tx semTx
	if !s.giveBack(&tx, self(), u) {
		s.mu.Unlock()
		panic("memfile: semaphore: released more than held")
	}
	s.commit(&tx)
	var w semWakes
	s.grant(&w)
	s.unlock(&w)
}

// Recover gives back the units of processes the kernel says are gone,
// drops their queued Acquires and serves the queue with what came back;
// it returns how many units it recovered. Acquire does this itself while
// it waits; a program that only calls TryAcquire calls Recover when
// TryAcquire keeps failing. It asks the kernel about every process in the
// tables (a system call each). It waits for the semaphore's lock until
// ctx is done (nil: as long as it takes), returning ctx.Err(), and
// returns an error matching ErrCorrupt for bytes no correct process
// wrote.
func (s *Semaphore) Recover(ctx context.Context) (uint32, error) {
	if err := s.lock(cancellable(ctx)); err != nil {
		return 0, err
	}
	var w semWakes
	n := s.recoverLocked(&w)
	s.unlock(&w)
	return n, nil
}

// lock takes mu for a critical section (ctx nil: as long as it takes).
// Taking over the lock of a process that died inside a section repairs
// the state first (see repair); a state that is not repairable is
// refused with errSemCorrupt (mu not held).
func (s *Semaphore) lock(ctx context.Context) error {
	dirty, err := s.mu.lockRecover(ctx)
	if err != nil {
		return err
	}
	return s.locked(dirty)
}

// tryLock takes mu like lock if it is free or frees within a spin, and
// reports whether it did.
func (s *Semaphore) tryLock() bool {
	if ok, dirty := s.mu.tryLockRecover(true); ok {
		return s.locked(dirty) == nil
	}
	sp := sw.NewSpinner(spinBudget) // reads the clock: only when contended
	for {
		if ok, dirty := s.mu.tryLockRecover(true); ok {
			return s.locked(dirty) == nil
		}
		if !sp.Spin() {
			return false
		}
	}
}

// locked completes lock and tryLock once mu is held: repair if it was
// inconsistent (giving it back if that fails), version 3 if all-zero.
func (s *Semaphore) locked(dirty bool) error {
	if dirty {
		var w semWakes
		if err := s.repair(&w); err != nil {
			s.mu.Unlock()
			return errSemCorrupt
		}
		s.mu.MarkConsistent()
		s.wakeAll(&w) // before our own section: harmless, and nothing to remember
	}
	if sw.LoadUint32(&s.version) == 0 {
		// All-zero bytes: say so before any other word changes (see
		// Semaphore: version 0 means every other word is 0).
		sw.StoreUint32(&s.version, semVersion)
	}
	return nil
}

// unlock gives mu back and then wakes the waiters granted in w.
func (s *Semaphore) unlock(w *semWakes) {
	s.mu.Unlock()
	s.wakeAll(w)
}

// repair makes the state consistent after a process died holding mu:
// redo a marked journal, check every invariant, serve the queue (the
// dead one may have released units without granting them).
func (s *Semaphore) repair(w *semWakes) error {
	if n := sw.LoadUint32(&s.jlen); n != 0 {
		if n > semJournal {
			return errSemCorrupt
		}
		for i := range n {
			e := sw.LoadUint64(&s.journal[i])
			p := s.journalWord(uint32(e >> 32))
			if p == nil {
				return errSemCorrupt
			}
			sw.StoreUint32(p, uint32(e))
		}
		sw.StoreUint32(&s.jlen, 0)
	}
	// The dead process may have freed units and died before it served
	// the queue: check all but that, then serve it.
	if err := s.validateTables(); err != nil {
		return err
	}
	s.grant(w)
	return nil
}

// journalWord returns the word at offset off of s that a journal entry
// may name, nil for any other offset (bytes from another process:
// checked before they are used as an address).
func (s *Semaphore) journalWord(off uint32) *uint32 {
	switch {
	case off%4 != 0:
		return nil
	case off == 0 || off == 8 || off == 32 || off == 36,
		off >= 128 && off < SemaphoreSize:
		// Legal: off is a 4-aligned offset inside the SemaphoreSize
		// bytes of s, outside mu and the journal.
		return (*uint32)(unsafe.Add(unsafe.Pointer(s), off))
	}
	return nil
}

// semTx is a critical section's journal being built: the words it
// changes and their new values.
type semTx struct {
	n   int
	ptr [semJournal]*uint32
	val [semJournal]uint32
}

// set records that p (a word of s) becomes v.
func (tx *semTx) set(p *uint32, v uint32) {
	tx.ptr[tx.n], tx.val[tx.n] = p, v
	tx.n++
}

// commit applies tx so that a death at any point leaves either none of
// it or a journal that redoes all of it: one word is a single store;
// more are journalled, marked valid, applied, and unmarked.
func (s *Semaphore) commit(tx *semTx) {
	switch tx.n {
	case 0:
		return
	case 1:
		sw.StoreUint32(tx.ptr[0], tx.val[0])
		return
	}
	base := uintptr(unsafe.Pointer(s))
	for i := range tx.n {
		off := uint64(uintptr(unsafe.Pointer(tx.ptr[i])) - base)
		sw.StoreUint64(&s.journal[i], off<<32|uint64(tx.val[i]))
	}
	sw.StoreUint32(&s.jlen, uint32(tx.n))
	for i := range tx.n {
		sw.StoreUint32(tx.ptr[i], tx.val[i])
	}
	sw.StoreUint32(&s.jlen, 0)
}

// semWakes lists the queue slots granted in a critical section, to wake
// once the lock is given back.
type semWakes struct {
	n    int
	slot [semSlots]uint8
}

// wakeAll wakes the waiter of every slot in w.
func (s *Semaphore) wakeAll(w *semWakes) {
	for _, i := range w.slot[:w.n] {
		wake(&s.slots[i].state, 1)
	}
	w.n = 0
}

// takeNow takes u units for this process if nobody waits and they are
// there (x/sync's fast path), under mu.
func (s *Semaphore) takeNow(u uint32) bool {
	c := sw.LoadUint32(&s.count)
	if sw.LoadUint32(&s.waiters) != 0 || c < u {
		return false
	}
	var tx semTx
	tx.set(&s.count, c-u)
	s.record(&tx, self(), u)
	s.commit(&tx)
	return true
}

// record adds to tx the recording of u units taken by the process of
// token: in its holder entry, a free one, an idle one (0 units) of
// another process, or else in unowned. Nothing is recorded without a
// capacity.
func (s *Semaphore) record(tx *semTx, token, u uint32) {
	if u == 0 || sw.LoadUint32(&s.capacity) == 0 {
		return
	}
	free, idle := -1, -1
	for i := range s.holders {
		h := &s.holders[i]
		t := sw.LoadUint32(&h.token)
		if t == token {
			tx.set(&h.units, sw.LoadUint32(&h.units)+u)
			return
		}
		if t == 0 && free < 0 {
			free = i
		} else if t != 0 && idle < 0 && sw.LoadUint32(&h.units) == 0 {
			idle = i
		}
	}
	if free < 0 {
		free = idle
	}
	if free < 0 {
		tx.set(&s.unowned, sw.LoadUint32(&s.unowned)+u)
		return
	}
	h := &s.holders[free]
	tx.set(&h.token, token)
	tx.set(&h.units, u)
}

// giveBack adds to tx the return of u units by the process of token: from
// its holder entry, the rest from unowned; it reports false (tx
// unusable) when they do not cover u or the count would overflow its
// capacity or 32 bits.
func (s *Semaphore) giveBack(tx *semTx, token, u uint32) bool {
	c := sw.LoadUint32(&s.count)
	capacity := sw.LoadUint32(&s.capacity)
	if c+u < c || capacity > 0 && c+u > capacity {
		return false
	}
	if capacity > 0 && u > 0 {
		rest := u
		for i := range s.holders {
			h := &s.holders[i]
			if sw.LoadUint32(&h.token) != token {
				continue
			}
			have := sw.LoadUint32(&h.units)
			d := min(have, rest)
			if d > 0 {
				tx.set(&h.units, have-d)
				rest -= d
			}
			break
		}
		if rest > 0 {
			un := sw.LoadUint32(&s.unowned)
			if rest > un {
				return false
			}
			tx.set(&s.unowned, un-rest)
		}
	}
	tx.set(&s.count, c+u)
	return true
}

// enqueue puts this process's Acquire of u units at the end of the queue
// and returns its slot and ticket, or -1 if the queue is full.
func (s *Semaphore) enqueue(u uint32) (int, uint32) {
	for i := range s.slots {
		sl := &s.slots[i]
		if sw.LoadUint32(&sl.state) != semFree {
			continue
		}
		t := sw.LoadUint32(&s.ticket)
		var tx semTx
		tx.set(&sl.token, self())
		tx.set(&sl.n, u)
		tx.set(&sl.ticket, t)
		tx.set(&sl.state, semQueued)
		tx.set(&s.ticket, t+1)
		tx.set(&s.waiters, sw.LoadUint32(&s.waiters)+1)
		s.commit(&tx)
		return i, t
	}
	return -1, 0
}

// dequeue frees queue slot i.
func (s *Semaphore) dequeue(i int) {
	sl := &s.slots[i]
	var tx semTx
	if sw.LoadUint32(&sl.state) == semQueued {
		tx.set(&s.waiters, sw.LoadUint32(&s.waiters)-1)
	}
	tx.set(&sl.token, 0)
	tx.set(&sl.n, 0)
	tx.set(&sl.ticket, 0)
	tx.set(&sl.state, semFree)
	s.commit(&tx)
}

// oldest returns the queued slot with the oldest ticket, -1 if none.
// Tickets are compared by age (the next ticket minus theirs), so they
// wrap safely.
func (s *Semaphore) oldest() int {
	next := sw.LoadUint32(&s.ticket)
	best, age := -1, uint32(0)
	for i := range s.slots {
		sl := &s.slots[i]
		if sw.LoadUint32(&sl.state) != semQueued {
			continue
		}
		if a := next - sw.LoadUint32(&sl.ticket); best < 0 || a > age {
			best, age = i, a
		}
	}
	return best
}

// grant serves the queue in order, as x/sync's notifyWaiters: while the
// oldest waiter's units are available, they become its own (recorded
// under its token) and its slot is marked granted, to be woken in w; the
// first waiter that does not fit stops the rest.
func (s *Semaphore) grant(w *semWakes) {
	for sw.LoadUint32(&s.waiters) != 0 {
		i := s.oldest()
		if i < 0 {
			return
		}
		sl := &s.slots[i]
		n, c := sw.LoadUint32(&sl.n), sw.LoadUint32(&s.count)
		if n > c {
			return
		}
		var tx semTx
		tx.set(&s.count, c-n)
		s.record(&tx, sw.LoadUint32(&sl.token), n)
		tx.set(&sl.state, semGranted)
		tx.set(&s.waiters, sw.LoadUint32(&s.waiters)-1)
		s.commit(&tx)
		if w.n < len(w.slot) {
			w.slot[w.n] = uint8(i)
			w.n++
		}
	}
}

// recoverLocked gives back the units of dead holders, drops dead
// waiters' slots and serves the queue; it returns the units recovered.
// Under mu; it asks the kernel about each other process in the tables.
func (s *Semaphore) recoverLocked(w *semWakes) uint32 {
	me := self()
	for i := range s.slots {
		sl := &s.slots[i]
		if t := sw.LoadUint32(&sl.token); sw.LoadUint32(&sl.state) != semFree && t != 0 && t != me && gone(unsafe.Pointer(s), t) {
			s.dequeue(i)
		}
	}
	got := uint32(0)
	for i := range s.holders {
		h := &s.holders[i]
		t := sw.LoadUint32(&h.token)
		if t == 0 || t == me || !gone(unsafe.Pointer(s), t) {
			continue
		}
		u, c := sw.LoadUint32(&h.units), sw.LoadUint32(&s.count)
		var tx semTx
		tx.set(&h.token, 0)
		tx.set(&h.units, 0)
		if c+u >= c {
			tx.set(&s.count, c+u)
			got += u
		}
		s.commit(&tx)
	}
	s.grant(w)
	return got
}

// check is SemaphoreAt's validation: every invariant under the lock when
// it is free (repairing a dead process's section first), the words that
// are each valid alone when it is in use.
func (s *Semaphore) check() error {
	// Unfair: a check of a few hundred loads once, against a queue of
	// lockers in fair mode, is worth its place in the line.
	if locked, dirty := s.mu.tryLockRecover(false); locked {
		var w semWakes
		var err error
		if dirty {
			if err = s.repair(&w); err == nil {
				s.mu.MarkConsistent()
			}
		} else {
			err = s.validate()
		}
		s.unlock(&w)
		return err
	}
	// In use: another process is inside a section. The first section
	// stores the version before anything else, so reading the other words
	// first and the version last, version 0 means they were 0.
	c, capacity, waiters := sw.LoadUint32(&s.count), sw.LoadUint32(&s.capacity), sw.LoadUint32(&s.waiters)
	switch v := sw.LoadUint32(&s.version); v {
	case 0:
		if c|capacity|waiters != 0 {
			return fmt.Errorf("%w: Semaphore of the 16-byte layout (count %d, capacity %d, version 0); this shmx needs layout %d, %d bytes", ErrVersion, c, capacity, semVersion, SemaphoreSize)
		}
	case semVersion:
		if capacity > 0 && c > capacity {
			return fmt.Errorf("%w: Semaphore count %d above its capacity %d", ErrCorrupt, c, capacity)
		}
	default:
		return fmt.Errorf("%w: Semaphore layout version %d, want %d", ErrVersion, v, semVersion)
	}
	return nil
}

// validate checks every invariant of the state (see Semaphore), under mu
// with no journal pending.
func (s *Semaphore) validate() error {
	if err := s.validateTables(); err != nil {
		return err
	}
	// Every section that frees units or removes the oldest waiter serves
	// the queue before it unlocks: an oldest waiter that fits was never
	// left by a correct process (and it would take units nobody gives
	// back).
	if i := s.oldest(); i >= 0 {
		if n, c := sw.LoadUint32(&s.slots[i].n), sw.LoadUint32(&s.count); n <= c {
			return fmt.Errorf("%w: Semaphore queue slot %d waits for %d units with %d available", ErrCorrupt, i, n, c)
		}
	}
	return nil
}

// validateTables is validate but for the queue being served.
func (s *Semaphore) validateTables() error {
	c, capacity, waiters := sw.LoadUint32(&s.count), sw.LoadUint32(&s.capacity), sw.LoadUint32(&s.waiters)
	unowned, jlen := sw.LoadUint32(&s.unowned), sw.LoadUint32(&s.jlen)
	switch v := sw.LoadUint32(&s.version); v {
	case semVersion:
	case 0:
		if c|capacity|waiters != 0 {
			return fmt.Errorf("%w: Semaphore of the 16-byte layout (count %d, capacity %d, version 0); this shmx needs layout %d, %d bytes", ErrVersion, c, capacity, semVersion, SemaphoreSize)
		}
		// Every other word must be 0 as well (the Mutex aside).
		b := unsafe.Slice((*byte)(unsafe.Pointer(s)), SemaphoreSize)
		for i, x := range b {
			if x != 0 && (i < 16 || i >= 32) {
				return fmt.Errorf("%w: Semaphore of layout version 0 with byte %d = %#x (only all-zero bytes have version 0)", ErrCorrupt, i, x)
			}
		}
		return nil
	default:
		return fmt.Errorf("%w: Semaphore layout version %d, want %d", ErrVersion, v, semVersion)
	}
	if jlen != 0 {
		return fmt.Errorf("%w: Semaphore journal of %d entries with its lock consistent", ErrCorrupt, jlen)
	}
	if capacity > 0 && c > capacity {
		return fmt.Errorf("%w: Semaphore count %d above its capacity %d", ErrCorrupt, c, capacity)
	}
	sum := uint64(c) + uint64(unowned)
	for i := range s.holders {
		h := &s.holders[i]
		t, u := sw.LoadUint32(&h.token), sw.LoadUint32(&h.units)
		switch {
		case t == 0 && u != 0:
			return fmt.Errorf("%w: Semaphore holder entry %d: %d units and no token", ErrCorrupt, i, u)
		case t != 0 && capacity == 0:
			return fmt.Errorf("%w: Semaphore holder entry %d without a capacity", ErrCorrupt, i)
		}
		for j := range i {
			if t != 0 && sw.LoadUint32(&s.holders[j].token) == t {
				return fmt.Errorf("%w: Semaphore holder entries %d and %d name the same process", ErrCorrupt, j, i)
			}
		}
		sum += uint64(u)
	}
	if capacity == 0 && unowned != 0 {
		return fmt.Errorf("%w: Semaphore without capacity has %d unowned units", ErrCorrupt, unowned)
	}
	if capacity > 0 && sum != uint64(capacity) {
		return fmt.Errorf("%w: Semaphore count %d, unowned and held units sum to %d, not its capacity %d", ErrCorrupt, c, sum, capacity)
	}
	next, queued := sw.LoadUint32(&s.ticket), uint32(0)
	for i := range s.slots {
		sl := &s.slots[i]
		t, n, tk, st := sw.LoadUint32(&sl.token), sw.LoadUint32(&sl.n), sw.LoadUint32(&sl.ticket), sw.LoadUint32(&sl.state)
		switch st {
		case semFree:
			if t|n|tk != 0 {
				return fmt.Errorf("%w: Semaphore free queue slot %d is not zero", ErrCorrupt, i)
			}
			continue
		case semQueued:
			queued++
			if capacity > 0 && n > capacity {
				return fmt.Errorf("%w: Semaphore queue slot %d waits for %d units of a capacity of %d", ErrCorrupt, i, n, capacity)
			}
		case semGranted:
		default:
			return fmt.Errorf("%w: Semaphore queue slot %d in state %d", ErrCorrupt, i, st)
		}
		if t == 0 {
			return fmt.Errorf("%w: Semaphore queue slot %d has no token", ErrCorrupt, i)
		}
		if a := next - tk; a == 0 || a > math.MaxInt32 {
			return fmt.Errorf("%w: Semaphore queue slot %d has ticket %d, next is %d", ErrCorrupt, i, tk, next)
		}
		for j := range i {
			if sw.LoadUint32(&s.slots[j].state) != semFree && sw.LoadUint32(&s.slots[j].ticket) == tk {
				return fmt.Errorf("%w: Semaphore queue slots %d and %d have the same ticket", ErrCorrupt, j, i)
			}
		}
	}
	if queued != waiters {
		return fmt.Errorf("%w: Semaphore waiter count %d, %d slots queued", ErrCorrupt, waiters, queued)
	}
	return nil
}
