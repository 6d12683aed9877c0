package futex

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/live"
)

// This file lets the external tests (queue_windows_test.go) look into the
// waiter queues and drive a Wait step by step.

// tableOf returns the table of the word at addr and its key there, with a
// release function.
func tableOf(addr *uint32) (*queue, uint64, func()) {
	name, off, ok := lookup(addr)
	if !ok {
		return localQueue, uint64(uintptr(unsafe.Pointer(addr))), func() {}
	}
	q, err := acquireQueue(name)
	if err != nil {
		panic(err)
	}
	return q, uint64(off), q.release
}

// QueuedPids returns the pids of the processes with a waiter queued
// (waiting, not yet woken) on the word at addr, oldest first.
func QueuedPids(addr *uint32) []uint32 {
	q, key, done := tableOf(addr)
	defer done()
	type w struct {
		seq uint64
		pid uint32
	}
	var ws []w
	for i := range q.hiwater() {
		s := &q.slots[i]
		c := atomic.LoadUint64(&s.ctl)
		if c&stMask == stWaiting && atomic.LoadUint64(&s.key) == key {
			ws = append(ws, w{c >> 2, uint32(atomic.LoadUint64(&s.owner) >> 32)})
		}
	}
	for i := 1; i < len(ws); i++ {
		for j := i; j > 0 && ws[j].seq < ws[j-1].seq; j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
	pids := make([]uint32, len(ws))
	for i, x := range ws {
		pids[i] = x.pid
	}
	return pids
}

// Queued returns how many waiters are queued on the word at addr.
func Queued(addr *uint32) int { return len(QueuedPids(addr)) }

// ClaimedSlots returns how many slots of addr's table are claimed at all
// (by any word, in any state).
func ClaimedSlots(addr *uint32) int {
	q, _, done := tableOf(addr)
	defer done()
	n := 0
	for i := range q.hiwater() {
		if atomic.LoadUint64(&q.slots[i].owner) != 0 {
			n++
		}
	}
	return n
}

// Overflow returns the overflow count of addr's table.
func Overflow(addr *uint32) uint32 {
	q, _, done := tableOf(addr)
	defer done()
	return atomic.LoadUint32(&q.hdr.overflow)
}

// FillTable claims every free slot of addr's table for this process, as
// waiters of no word (being filled), so that the next waiter finds no
// room; the returned function frees them.
func FillTable(addr *uint32) (free func()) { return fillTable(addr, 0) }

// FillTableDead is FillTable with every slot claimed in the name of a
// process that is gone: this process's pid with another creation time
// (what a reused pid looks like).
func FillTableDead(addr *uint32) (free func()) { return fillTable(addr, live.ProcessWord()^0x5a5a) }

func fillTable(addr *uint32, owner uint64) (free func()) {
	q, _, done := tableOf(addr)
	if owner == 0 {
		owner = q.me
	}
	var mine []int
	for i := range q.slots {
		if atomic.CompareAndSwapUint64(&q.slots[i].owner, 0, owner) {
			mine = append(mine, i)
		}
	}
	q.raiseHiwater(uint32(len(q.slots)))
	return func() {
		for _, i := range mine {
			atomic.CompareAndSwapUint64(&q.slots[i].owner, owner, 0)
		}
		done()
	}
}

// Claim is a waiter driven step by step: Enqueue is a Wait up to its
// re-check of the word, Sleep the rest.
type Claim struct {
	q    *queue
	i    int
	c    uint64
	done func()
}

// Enqueue does the first half of a Wait on addr: it queues a waiter. The
// caller has checked the word; the waiter is then exactly where the old
// semaphore path lost its wake-up to others (checked, not yet asleep).
func Enqueue(addr *uint32) *Claim {
	q, key, done := tableOf(addr)
	i, c, ok := q.enqueue(key)
	if !ok {
		done()
		return nil
	}
	return &Claim{q, i, c, done}
}

// Woken reports whether a Wake has marked the claim woken.
func (cl *Claim) Woken() bool { return cl.q.woken(cl.i, cl.c) }

// Sleep does the second half of the Wait: sleep until woken, the word
// changes or the timeout passes.
func (cl *Claim) Sleep(addr *uint32, val uint32, timeout time.Duration) error {
	defer cl.done()
	return cl.q.sleep(cl.i, cl.c, addr, val, timeout)
}

// SetQueueSlice sets how long a queued waiter sleeps before it re-checks
// its word, and returns the previous value. Call it before any waiter
// starts.
func SetQueueSlice(d time.Duration) time.Duration {
	old := queueSlice
	queueSlice = d
	return old
}
