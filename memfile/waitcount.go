package memfile

import sw "github.com/shmx/shmx/internal/word"

// waitCount counts the goroutines, of every process, registered to sleep
// on one futex word, so that a waker makes no system call while nobody
// sleeps. The RWMutex's readers at the gate, an Event's waiters and a
// Cond's waiters keep one. (The Mutex keeps its count inside its state
// word, for its one-CAS fast paths, with the same epoch and recount: see
// "Dead waiters: the recount" in mutex.go.)
//
// Layout (8 bytes, 4-byte aligned):
//
//	offset size meaning
//	0      4    registrations (low 24 bits) and their epoch (high 8 bits,
//	            0 exactly when the count is 0)
//	4      4    recounts: bumped by every recount, names the next epoch
//	            (any value is valid)
//
// Why an epoch. A waiter killed while registered leaves its count behind,
// and nothing tells which registration was its: every later wake-up would
// call the kernel for nobody. But the kernel says how many sleepers a
// wake-up woke (sw.WakeCounts), so a waker whose wake-up found nobody
// although the count says somebody waits drops the whole count (recount),
// and the live waiters register again. A live waiter knows its
// registration was dropped because each registration records the epoch
// of the count it joined, the first registration into an empty count
// picks a fresh epoch, and the count's return to 0 clears it. The states
// and changes (c registrations in epoch e, e in 1..255):
//
//	from       to           by                        when
//	(0, 0)     (1, next)    register                  next = recounts%255+1
//	(c, e)     (c+1, e)     register                  1 <= c < 2^24-1
//	(c, e)     (c-1, e)     unregister of epoch e     c >= 2
//	(1, e)     (0, 0)       unregister of epoch e     the last one
//	(c, e)     (0, 0)       recount, by a waker       its wake-up found nobody asleep
//
// Every change is a CAS against the word just read, so the epoch and the
// count change together: a waiter whose epoch is gone neither decrements
// somebody else's registration nor sleeps before registering again.
// recount bumps recounts before its CAS, against the word it read before
// the bump, and a registration into an empty count reads recounts after
// it read the empty word, so the epoch picked after a recount differs from
// the one it dropped. (255 recounts while one waiter is descheduled could
// bring its epoch back: it would then take another waiter's registration
// for its own, and that waiter could sleep uncounted for one slice, 50
// ms, before it notices; a delay, once, never a lost wake-up for good.)
// A full count (only garbage gets there) registers nobody: register
// returns epoch 0 and the waiter polls in short slices (shortWait).
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
			// Empty; or registrations without an epoch, which only
			// garbage holds: nobody could unregister them, so they are
			// dropped.
			nw = 1 | (sw.LoadUint32(&c.recounts)%waitCountEpochs+1)<<waitEpochShift
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
	return epoch != 0 && sw.LoadUint32(&c.word)>>waitEpochShift == epoch
}

// unregister takes a waiter of epoch out of the count, unless a recount
// dropped it, and returns how many registrations are left.
func (c *waitCount) unregister(epoch uint32) uint32 {
	for {
		old := sw.LoadUint32(&c.word)
		if epoch == 0 || old>>waitEpochShift != epoch || old&waitCountMask == 0 {
			return old & waitCountMask
		}
		nw := old - 1
		if nw&waitCountMask == 0 {
			nw = 0 // the epoch ends with its last waiter
		}
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
		if old == 0 {
			return
		}
		sw.AddUint32(&c.recounts, 1)
		if sw.CompareAndSwapUint32(&c.word, old, 0) {
			sw.AddUint32(f, nudge)
			sw.WakeAll(f)
			return
		}
	}
}
