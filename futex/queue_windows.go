package futex

import (
	"math"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/live"
	"golang.org/x/sys/windows"
)

// A waiter queue makes Windows waits exact: every waiter that sleeps is
// in a table, and a Wake marks and signals the waiters it wakes, one by
// one, oldest first, and counts them. This is how futexes are emulated
// where the kernel has none; see futex_windows.go for where queues are
// used.
//
// A table is a header and a fixed array of slots. It lives in a named
// pagefile-backed mapping for the words of one registered object (every
// process derives the same name, see queueName), or in this process's
// memory for all process-local words (localQueue). Each slot is 32 bytes:
//
//	owner  uint64  0: free; else the owner word of the process that
//	               claimed it (see owner_windows.go)
//	ctl    uint64  seq<<2 | state: the claim's ticket and its state
//	key    uint64  the word waited on: offset in the object, or address
//
// seq is drawn from the header's counter when the claim is published, so
// it is unique for the life of the table and orders waiters by arrival;
// a compare-and-swap on ctl therefore never mistakes a later claim of the
// same slot for the one it read (no ABA). The states:
//
//	owner  ctl              meaning                     who moves it on
//	0      0                free                        a claimer: owner CAS 0→me
//	me     0                claimed, being filled       the owner: key, then ctl
//	me     seq|waiting      asleep on key (or about to) a waker: CAS to woken;
//	                                                    the owner: CAS to 0 (leave)
//	me     seq|woken        woken, not yet gone         the owner: ctl 0, owner 0
//	dead   anything         owner killed                anyone: ctl CAS to 0, owner CAS to 0
//
// Nothing locks the table: each transition is one compare-and-swap by
// the one party entitled to it, so a process killed at any point leaves
// a slot in one of these states, naming its owner, and the slot is taken
// back once the kernel says that owner is dead (a Wake that finds it
// waiting, or a claimer that finds the table full). A live owner's slot
// is never taken.
//
// Wait: claim a free slot, write key, draw seq and publish seq|waiting,
// re-check *addr == val (leave if not), then sleep on the slot's wake-up
// object until ctl says woken, *addr changes (re-checked every
// waitSlice in a shared table, as a safety net for a waker killed
// between marking and signalling), or the deadline passes (then leave: a waiter whose leave
// finds it woken returns nil, since a Wake counted it). The slot's
// wake-up object is a named auto-reset event per slot of a shared table
// (queueEventName), or the ctl word itself for the local table, slept on
// with WaitOnAddress. Either may be signalled for an earlier claim of
// the slot (a waker signals after its CAS, and the woken waiter may have
// left already): ctl is the truth, so such a stale signal costs one more
// round of the loop, never a spurious return.
//
// Wake(key, n): read the ticket counter, then find up to n slots waiting
// on key with seq no later than it, oldest first, and for each one check
// that its owner is alive (free it if dead), CAS it woken and signal it;
// return how many it woke. Waiters that publish a later seq are not
// candidates: they publish after the waker's caller changed the word, so
// their re-check sees the change (every step is a sequentially
// consistent atomic). So a Wake(1) meant for a waiter that is already in
// the table is never taken by a waiter that arrived after it, the waker
// itself included.
//
// A table has room for queueSlots (shared) or localSlots waiters at
// once. A waiter that finds no free slot, even after freeing the slots of
// dead processes, waits the way all waits did before the queues: on the
// word's named semaphore (shared) or on the word with WaitOnAddress
// (local), and counts itself in the header's overflow count while it
// does; a Wake that woke fewer than n from the table then also releases
// the semaphore, or wakes by address, for the rest (up to the overflow
// count) and counts those as woken: its count is exact while nobody
// overflows, and an upper bound otherwise. A process killed on that path
// leaves the overflow count raised, which costs later Wakes of the
// object that extra release, never a lost wake-up.

// Table geometry: one 64 KiB mapping per registered object (the
// allocation granularity of views; pages never touched stay unbacked).
const (
	queueBytes  = 64 << 10
	headerBytes = 64
	slotBytes   = 32
	queueSlots  = (queueBytes - headerBytes) / slotBytes
	localSlots  = 1024
)

// queueSlice bounds one sleep of a queued waiter, after which it
// re-checks its word: waitSlice, the safety net for a wake-up that was
// marked but never signalled (a waker killed in between). Tests lengthen
// it to show that queued waiters need no slice to be woken.
var queueSlice = waitSlice

// ctl states.
const (
	stFilling = 0
	stWaiting = 1
	stWoken   = 2
	stMask    = 3
)

// wakeBatch is how many candidates one pass of a Wake collects, oldest
// first; a Wake of more passes again.
const wakeBatch = 16

type qheader struct {
	seq      uint64 // the last ticket drawn
	hiwater  uint32 // slots [0, hiwater) have been claimed at some time
	overflow uint32 // waiters on the fallback path now
	_        [headerBytes - 16]byte
}

type qslot struct {
	owner uint64
	ctl   uint64
	key   uint64
	_     uint64
}

var (
	_ [headerBytes - unsafe.Sizeof(qheader{})]byte
	_ [unsafe.Sizeof(qheader{}) - headerBytes]byte
	_ [slotBytes - unsafe.Sizeof(qslot{})]byte
	_ [unsafe.Sizeof(qslot{}) - slotBytes]byte
)

// queue is this process's handle on one table.
type queue struct {
	hdr   *qheader
	slots []qslot
	local bool
	me    uint64 // the owner word this process claims slots with

	// Shared tables only.
	name    string           // the registered object's name
	mapping windows.Handle   // the named file mapping
	view    uintptr          // its view
	events  []atomic.Uintptr // per slot: its event handle, 0 until opened
	evMu    sync.Mutex       // serialises opening events
	refs    atomic.Int32     // the cache's reference + one per user
}

// localTable backs localQueue: process-local words of every address.
var localTable struct {
	hdr   qheader
	slots [localSlots]qslot
}

// localQueue is the table of process-local words, keyed by address. Its
// slots are claimed with owner word 1: no other process sees them.
var localQueue = &queue{hdr: &localTable.hdr, slots: localTable.slots[:], local: true, me: 1}

// queues caches the shared tables this process opened, by object name.
var (
	queueMu sync.RWMutex
	queues  = map[string]*queue{}
)

// errNoQueue says a table cannot be used by this process (its owner word
// could not be built): waits then take the fallback path.
var errNoQueue = os.NewSyscallError("GetProcessTimes", windows.ERROR_INVALID_HANDLE)

// acquireQueue returns the shared table of object name with a reference
// the caller must release, creating or opening its mapping on first use.
// After that it takes a read lock and one map lookup: no allocation.
func acquireQueue(name string) (*queue, error) {
	queueMu.RLock()
	q := queues[name]
	if q != nil {
		q.refs.Add(1)
	}
	queueMu.RUnlock()
	if q != nil {
		return q, nil
	}
	return openQueue(name)
}

// openQueue creates or opens the table mapping of name and caches it.
func openQueue(name string) (*queue, error) {
	if live.ProcessWord() == 0 {
		return nil, errNoQueue
	}
	queueMu.Lock()
	defer queueMu.Unlock()
	if q := queues[name]; q != nil {
		q.refs.Add(1)
		return q, nil
	}
	p, err := windows.UTF16PtrFromString(queueName(name))
	if err != nil {
		return nil, err
	}
	// Creates the mapping zero-filled (an empty table: zero is every
	// slot's free state) or opens the one another process created.
	h, err := windows.CreateFileMapping(windows.InvalidHandle, nil, windows.PAGE_READWRITE, 0, queueBytes, p)
	if h == 0 {
		return nil, os.NewSyscallError("CreateFileMapping", err)
	}
	v, err := windows.MapViewOfFile(h, windows.FILE_MAP_READ|windows.FILE_MAP_WRITE, 0, 0, queueBytes)
	if err != nil {
		windows.CloseHandle(h)
		return nil, os.NewSyscallError("MapViewOfFile", err)
	}
	// v is the start of a mapped view, memory the Go heap does not
	// manage; converting through a pointer-typed copy keeps vet's
	// unsafeptr check honest about where the pointer came from.
	base := *(*unsafe.Pointer)(unsafe.Pointer(&v))
	q := &queue{
		hdr:     (*qheader)(base),
		slots:   unsafe.Slice((*qslot)(unsafe.Add(base, headerBytes)), queueSlots),
		me:      live.ProcessWord(),
		name:    name,
		mapping: h,
		view:    v,
		events:  make([]atomic.Uintptr, queueSlots),
	}
	q.refs.Store(2) // the cache's and the caller's
	queues[name] = q
	return q, nil
}

// release drops one reference to a shared table; the last one closes its
// events and unmaps it.
func (q *queue) release() {
	if q.local || q.refs.Add(-1) != 0 {
		return
	}
	for i := range q.events {
		if h := q.events[i].Load(); h != 0 {
			windows.CloseHandle(windows.Handle(h))
		}
	}
	windows.UnmapViewOfFile(q.view)
	windows.CloseHandle(q.mapping)
}

// dropQueue removes the cached table of object name and drops the
// cache's reference to it.
func dropQueue(name string) {
	queueMu.Lock()
	q := queues[name]
	delete(queues, name)
	queueMu.Unlock()
	if q != nil {
		q.release()
	}
}

// event returns the handle of slot i's event, creating or opening it on
// first use.
func (q *queue) event(i int) (windows.Handle, error) {
	if h := q.events[i].Load(); h != 0 {
		return windows.Handle(h), nil
	}
	q.evMu.Lock()
	defer q.evMu.Unlock()
	if h := q.events[i].Load(); h != 0 {
		return windows.Handle(h), nil
	}
	p, err := windows.UTF16PtrFromString(queueEventName(q.name, i))
	if err != nil {
		return 0, err
	}
	// Auto-reset, not signalled; ERROR_ALREADY_EXISTS comes with a valid
	// handle to the event another process created.
	h, err := windows.CreateEvent(nil, 0, 0, p)
	if h == 0 {
		return 0, os.NewSyscallError("CreateEvent", err)
	}
	q.events[i].Store(uintptr(h))
	return h, nil
}

// queueName is the name of object name's table mapping; see objName.
func queueName(name string) string { return objName("futexq1", name) }

// queueEventName is the name of the event of slot i of object name's
// table.
func queueEventName(name string, i int) string {
	return objName("futexe1", name) + "-" + strconv.FormatUint(uint64(i), 16)
}

// wait is a Wait through the table: enqueue, re-check, sleep. A waiter
// that finds no room takes the fallback path.
func (q *queue) wait(addr *uint32, val uint32, key uint64, timeout time.Duration, off uintptr) error {
	i, c, ok := q.enqueue(key)
	if !ok {
		return q.waitOverflow(addr, val, timeout, off)
	}
	if atomic.LoadUint32(addr) != val {
		q.leave(i, c)
		return nil
	}
	return q.sleep(i, c, addr, val, timeout)
}

// enqueue claims a slot, writes key and publishes the claim as waiting.
// It returns the slot and its ctl word, or false when the table has no
// room (or the slot's event cannot be had).
func (q *queue) enqueue(key uint64) (int, uint64, bool) {
	i := q.claim()
	if i < 0 {
		return 0, 0, false
	}
	s := &q.slots[i]
	if !q.local {
		if _, err := q.event(i); err != nil {
			atomic.StoreUint64(&s.owner, 0)
			return 0, 0, false
		}
	}
	atomic.StoreUint64(&s.key, key)
	c := atomic.AddUint64(&q.hdr.seq, 1)<<2 | stWaiting
	atomic.StoreUint64(&s.ctl, c)
	return i, c, true
}

// claim takes the lowest free slot, freeing the slots of dead processes
// when there is none. It returns -1 when the table is full.
func (q *queue) claim() int {
	for pass := 0; pass < 2; pass++ {
		for i := range q.slots {
			s := &q.slots[i]
			if atomic.LoadUint64(&s.owner) == 0 && atomic.CompareAndSwapUint64(&s.owner, 0, q.me) {
				q.raiseHiwater(uint32(i + 1))
				return i
			}
		}
		if q.local || !q.reclaimDead() {
			break
		}
	}
	return -1
}

// raiseHiwater makes sure wakers scan slots [0, n). A claimer raises it
// before it publishes its claim, so a waker that missed the raise also
// comes before that claim's re-check of the word.
func (q *queue) raiseHiwater(n uint32) {
	for {
		h := atomic.LoadUint32(&q.hdr.hiwater)
		if h >= n || atomic.CompareAndSwapUint32(&q.hdr.hiwater, h, n) {
			return
		}
	}
}

// reclaimDead frees every slot whose owner the kernel says is dead, and
// reports whether it freed any.
func (q *queue) reclaimDead() bool {
	freed := false
	var dead uint64 // the last owner found dead: a dead process's slots come in runs
	hw := q.hiwater()
	for i := range hw {
		s := &q.slots[i]
		c := atomic.LoadUint64(&s.ctl)
		o := atomic.LoadUint64(&s.owner)
		if o == 0 || o == q.me || atomic.LoadUint64(&s.ctl) != c {
			continue
		}
		if o != dead && live.ProcessWordAlive(o) {
			continue
		}
		dead = o
		if q.reclaim(i, c, o) {
			freed = true
		}
	}
	return freed
}

// reclaim frees slot i, whose claim c (read before and after its owner
// o) belongs to a dead process. A claim c that is not 0 is unique, so
// the CAS on ctl succeeds only while that claim lasts, and owner is then
// still o; while ctl is 0 (being filled) only the CAS on owner decides.
func (q *queue) reclaim(i int, c, o uint64) bool {
	s := &q.slots[i]
	if c != 0 && !atomic.CompareAndSwapUint64(&s.ctl, c, 0) {
		return false
	}
	return atomic.CompareAndSwapUint64(&s.owner, o, 0)
}

// hiwater is how many slots a scan looks at.
func (q *queue) hiwater() int {
	return min(int(atomic.LoadUint32(&q.hdr.hiwater)), len(q.slots))
}

// woken reports whether claim c of slot i has been woken.
func (q *queue) woken(i int, c uint64) bool {
	return atomic.LoadUint64(&q.slots[i].ctl) == c&^stMask|stWoken
}

// leave ends claim c of slot i and frees the slot. It reports whether the
// claim had been woken (then its waker counted it).
func (q *queue) leave(i int, c uint64) bool {
	s := &q.slots[i]
	woken := !atomic.CompareAndSwapUint64(&s.ctl, c, 0)
	if woken {
		// Only a waker moves a live claim, and only to woken.
		atomic.StoreUint64(&s.ctl, 0)
	}
	atomic.StoreUint64(&s.owner, 0)
	return woken
}

// sleep waits until claim c of slot i is woken, *addr differs from val
// (re-checked at least every queueSlice in a shared table), or the
// timeout passes, and leaves the slot.
func (q *queue) sleep(i int, c uint64, addr *uint32, val uint32, timeout time.Duration) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	var h windows.Handle
	if !q.local {
		h = windows.Handle(q.events[i].Load()) // opened by enqueue
	}
	slice0 := queueSlice
	if q.local {
		// A local waker marks and signals in this process: nothing can
		// end between the two, so local waiters need no safety net.
		slice0 = math.MaxInt64
	}
	for {
		slice := slice0
		if timeout > 0 {
			rem := time.Until(deadline)
			if rem <= 0 {
				if q.leave(i, c) {
					return nil
				}
				return errTimeout
			}
			slice = min(slice, rem)
		}
		var err error
		if q.local {
			err = waitAddr64(&q.slots[i].ctl, c, millis(slice))
		} else {
			err = waitEvent(h, millis(slice))
		}
		if q.woken(i, c) {
			q.leave(i, c)
			return nil
		}
		if err != nil {
			q.leave(i, c)
			return err
		}
		if atomic.LoadUint32(addr) != val {
			q.leave(i, c)
			return nil
		}
	}
}

// waitEvent waits on h for up to ms milliseconds; a timeout is no error.
func waitEvent(h windows.Handle, ms uint32) error {
	r, err := windows.WaitForSingleObject(h, ms)
	if r == windows.WAIT_OBJECT_0 || r == uint32(windows.WAIT_TIMEOUT) {
		return nil
	}
	return os.NewSyscallError("WaitForSingleObject", err)
}

// waitAddr64 sleeps with WaitOnAddress while the 8-byte word at p holds
// v, for up to ms milliseconds; a timeout or a spurious return is no
// error.
func waitAddr64(p *uint64, v uint64, ms uint32) error {
	// SyscallN, not LazyProc.Call: Call's uintptrescapes would move v to
	// the heap on every wait.
	r, _, e := syscall.SyscallN(procWaitOnAddress.Addr(), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&v)), 8, uintptr(ms))
	if r == 0 && e != windows.ERROR_TIMEOUT {
		return os.NewSyscallError("WaitOnAddress", e)
	}
	return nil
}

// waitOverflow is the fallback wait of a waiter that found the table
// full, counted in the header's overflow count while it waits.
func (q *queue) waitOverflow(addr *uint32, val uint32, timeout time.Duration, off uintptr) error {
	atomic.AddUint32(&q.hdr.overflow, 1)
	defer atomic.AddUint32(&q.hdr.overflow, ^uint32(0))
	if q.local {
		return waitLocal(addr, val, timeout)
	}
	return waitNamedSem(q.name, off, addr, val, timeout)
}

// wake wakes up to n waiters of key, oldest first, and returns how many
// it woke; see the top of this file. addr and off name the word for the
// fallback path.
func (q *queue) wake(key uint64, n int, addr *uint32, off uintptr) (int, error) {
	woken := q.wakeTable(key, n)
	if woken == n {
		return woken, nil
	}
	ov := int(atomic.LoadUint32(&q.hdr.overflow))
	if ov == 0 {
		return woken, nil
	}
	extra := min(n-woken, ov)
	var err error
	if q.local {
		err = wakeLocal(addr, extra)
	} else {
		err = wakeNamedSem(q.name, off, extra)
	}
	return woken + extra, err
}

// cand is a waiting slot a Wake may wake.
type cand struct {
	c uint64
	i int
}

// wakeTable wakes up to n waiters of key from the table.
func (q *queue) wakeTable(key uint64, n int) int {
	seq0 := atomic.LoadUint64(&q.hdr.seq)
	hw := q.hiwater()
	woken := 0
	for woken < n {
		var batch [wakeBatch]cand
		k, more := 0, false
		want := min(n-woken, wakeBatch)
		for i := range hw {
			s := &q.slots[i]
			c := atomic.LoadUint64(&s.ctl)
			if c&stMask != stWaiting || c>>2 > seq0 {
				continue
			}
			// key belongs to claim c if ctl still holds c after it: it
			// was written before c was published, and is written again
			// only by a later claim, which publishes another ctl.
			if atomic.LoadUint64(&s.key) != key || atomic.LoadUint64(&s.ctl) != c {
				continue
			}
			if k == want {
				more = true
				if c >= batch[k-1].c {
					continue
				}
				k-- // drop the youngest for this older one
			}
			j := k
			for ; j > 0 && batch[j-1].c > c; j-- {
				batch[j] = batch[j-1]
			}
			batch[j] = cand{c, i}
			k++
		}
		for _, b := range batch[:k] {
			s := &q.slots[b.i]
			o := atomic.LoadUint64(&s.owner)
			if atomic.LoadUint64(&s.ctl) != b.c {
				continue // gone meanwhile: o may belong to another claim
			}
			if !q.local && !live.ProcessWordAlive(o) {
				q.reclaim(b.i, b.c, o)
				continue
			}
			if atomic.CompareAndSwapUint64(&s.ctl, b.c, b.c&^stMask|stWoken) {
				q.signal(b.i)
				woken++
			}
		}
		// Every candidate of this pass has left the set of claims that
		// were waiting when the Wake began (woken, freed, or gone by
		// itself), and no claim joins that set: passes end.
		if !more {
			break
		}
	}
	return woken
}

// signal wakes whoever sleeps on slot i's wake-up object. A signal that
// cannot be sent leaves the woken waiter to notice within its slice.
func (q *queue) signal(i int) {
	if q.local {
		syscall.SyscallN(procWakeByAddressSingle.Addr(), uintptr(unsafe.Pointer(&q.slots[i].ctl)))
		return
	}
	if h, err := q.event(i); err == nil {
		windows.SetEvent(h)
	}
}
