package memfile

import sw "github.com/shmx/shmx/internal/word"

// waitCount counts the goroutines, of every process, registered to sleep
// on one futex word, so that a waker makes no system call while nobody
// sleeps. The RWMutex's readers at the gate, an Event's waiters and a
// Cond's waiters keep one. (The Mutex keeps its count inside its state
// word, for its one-CAS fast paths, with an epoch and a recount of the
// same kind, but an epoch that ends with the count, since its idle state
// must be 0, and so a different guard against the epoch coming back: see
// "Dead waiters: the recount" in mutex.go.)
//
// Layout (8 bytes, 4-byte aligned):
//
//	offset size meaning
//	0      4    registrations (low 24 bits) and their epoch (high 8 bits:
//	            0 until the first registration, then the epoch of the
//	            latest registrations, kept while the count is 0)
//	4      4    recounts: bumped by every recount (any value is valid; a
//	            count of dead waiters dropped, for inspection)
//
// Why an epoch. A waiter killed while registered leaves its count behind,
// and nothing tells which registration was its: every later wake-up would
// call the kernel for nobody. But the kernel says how many sleepers a
// wake-up woke (sw.WakeCounts), so a waker whose wake-up found nobody
// although the count says somebody waits drops the whole count (recount),
// and the live waiters register again. A live waiter knows its
// registration was dropped because each registration records the epoch
// of the count it joined, and the first registration into an empty count
// moves the epoch on by one. The states and changes (c registrations in
// epoch e, e in 1..255; (0, 0) is the word never used):
//
//	from       to           by                        when
//	(0, e)     (1, e%255+1) register                  e in 0..255
//	(c, e)     (c+1, e)     register                  1 <= c < 2^24-1
//	(c, e)     (c-1, e)     unregister of epoch e     c >= 2
//	(1, e)     (0, e)       unregister of epoch e     the last one
//	(c, e)     (0, e)       recount, by a waker       its wake-up found nobody asleep
//	(c, 0)     (1, 1)       register                  c >= 1: garbage, no registration has no epoch
//
// Every change is a CAS against the word just read, so the epoch and the
// count change together, and the epoch a registration picks is the one
// after the epoch in the very word its CAS replaces: an epoch comes back
// only after 255 more epochs began. A waiter counts itself registered
// while the word names its epoch with a count above 0 (counted), so a
// dropped waiter neither decrements somebody else's registration nor
// sleeps before registering again. (The epoch used to end with the count,
// (1, e) and recounts going to (0, 0), and a registration into an empty
// count picked its epoch from recounts: one that had read (0, 0) and
// recounts before other waiters registered in epoch e and a recount
// dropped them, found (0, 0) again at its CAS and registered in epoch e
// too, so a dropped waiter of e took its registration for its own and
// slept, not counted, until its slice ran out. The explorer found it:
// TestExploreRWMutexRegressions, seed 16057.) 255 epochs beginning while
// one waiter is descheduled could bring its epoch back: it would then
// take another waiter's registration for its own, and that waiter could
// sleep uncounted for one slice, 50 ms, before it notices; a delay, once,
// never a lost wake-up for good. A full count (only garbage gets there)
// registers nobody: register returns epoch 0 and the waiter polls in
// short slices (shortWait).
//
// The waiter's loop, for a futex word f:
//
//	epoch := c.register()
//	for {
//		v := load(f)                    // first the word...
//		if done(v) { break }
//		if !c.counted(epoch) {          // ...then the count
//			epoch = c.register()
//			continue                    // look again before sleeping
//		}
//		sleep(f, v)
//	}
//	c.unregister(epoch)
//
// A recount drops the count, then changes f (nudge) and wakes every
// sleeper of f. A waiter that saw its registration still counted had read
// v before the recount's CAS, so its sleep on v either fails at once (the
// nudge came first) or is queued before the wake-up: no waiter sleeps
// uncounted past a recount. The nudge is a change that f's waiters take
// for a spurious wake-up (a gate or sequence bumped; an Event's unused
// state bits).
type waitCount struct {
	word     uint32
	recounts uint32
}

const (
	waitCountMask   = 1<<24 - 1
	waitEpochShift  = 24
	waitCountFull   = waitCountMask
	waitCountEpochs = 255
)

// n returns how many goroutines are registered.
func (c *waitCount) n() uint32 { return sw.LoadUint32(&c.word) & waitCountMask }

// register counts one more waiter and returns the epoch it registered in,
// 0 if the count is full (the waiter is not counted: it polls).
func (c *waitCount) register() uint32 {
	for {
		old := sw.LoadUint32(&c.word)
		var nw uint32
		switch {
		case old&waitCountMask == 0 || old>>waitEpochShift == 0:
			// Empty: the next epoch begins. Or registrations without an
			// epoch, which only garbage holds: nobody could unregister
			// them, so they are dropped.
			nw = 1 | ((old>>waitEpochShift)%waitCountEpochs+1)<<waitEpochShift
		case old&waitCountMask == waitCountFull:
			return 0
		default:
			nw = old + 1
		}
		if sw.CompareAndSwapUint32(&c.word, old, nw) {
			return nw >> waitEpochShift
		}
	}
}

// counted reports whether a waiter that registered in epoch is still
// counted (an uncounted one, epoch 0, never is).
func (c *waitCount) counted(epoch uint32) bool {
	w := sw.LoadUint32(&c.word)
	return epoch != 0 && w>>waitEpochShift == epoch && w&waitCountMask != 0
}

// unregister takes a waiter of epoch out of the count, unless a recount
// dropped it, and returns how many registrations are left.
func (c *waitCount) unregister(epoch uint32) uint32 {
	for {
		old := sw.LoadUint32(&c.word)
		if epoch == 0 || old>>waitEpochShift != epoch || old&waitCountMask == 0 {
			return old & waitCountMask
		}
		nw := old - 1 // the last waiter leaves its epoch in the word
		if sw.CompareAndSwapUint32(&c.word, old, nw) {
			return nw & waitCountMask
		}
	}
}

// woke is what a waker calls with the result of its wake-up of f, which
// it made because the count was not 0: when the wake-up found nobody
// asleep, the count is dropped (see waitCount), f changed by adding nudge
// and every sleeper of f woken.
func (c *waitCount) woke(n int, err error, f *uint32, nudge uint32) {
	if n != 0 || err != nil || !sw.WakeCounts {
		return
	}
	for {
		old := sw.LoadUint32(&c.word)
		if old&waitCountMask == 0 {
			return
		}
		if sw.CompareAndSwapUint32(&c.word, old, old&^waitCountMask) {
			sw.AddUint32(&c.recounts, 1)
			sw.AddUint32(f, nudge)
			sw.WakeAll(f)
			return
		}
	}
}
