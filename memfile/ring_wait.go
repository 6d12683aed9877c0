package memfile

import (
	"context"
	sw "github.com/shmx/shmx/internal/word"
	"time"
	"unsafe"
)

// The epoch word of each direction: bit 0 says "someone may be asleep on
// this word"; the other bits change with every wake-up.
const ringSleeper = 1

// wakeIfSleeping is called right after a slot state was published. It
// costs one load of a read-mostly word when nobody sleeps; otherwise it
// clears the sleeper bit while changing the word, and wakes every sleeper.
// Clearing the bit is what makes wake-ups coalesce: a burst of commits to
// a consumer that was woken but has not run yet makes one system call,
// not one per commit. The Broadcast wakes this way: every subscriber must
// see every message. A Ring wakes n (wakeSleepers).
func wakeIfSleeping(epoch *sw.Uint32) { wakeSleepers(epoch, 0) }

// wakeSleepers is wakeIfSleeping that wakes at most n sleepers (n <= 0:
// all). A Ring wakes as many as it published messages (or freed slots),
// not all: each can be taken by one claimant, and with 10,000 goroutines
// asleep on one ring a wake-all made every one of them run, re-check and
// sleep again for one message. The sleepers it passes over stay asleep
// with the bit clear; the ones it wakes pass the wake-up on (passOn):
// see "Why no wake-up is lost" on Ring.
func wakeSleepers(epoch *sw.Uint32, n int) {
	e := epoch.Load()
	if e&ringSleeper == 0 {
		return
	}
	// A failed CAS means another waker (or a cancellation) changed the
	// word after e, and woke sleepers itself.
	if epoch.CompareAndSwap(e, e+1) {
		if n <= 0 {
			sw.WakeAll((*uint32)(unsafe.Pointer(epoch)))
		} else {
			sw.Wake((*uint32)(unsafe.Pointer(epoch)), n)
		}
	}
}

// passOn is a Ring sleeper's duty after a nap, once it holds a claim: if
// the direction is still ready (more messages, or more free slots, than
// it took), wake one more sleeper, which may have been passed over by a
// wake-up that only this one received. So a backlog is taken by a chain
// of sleepers, each woken by the one before.
func (r *Ring) passOn(recv bool) {
	if r.ready(recv) {
		wakeSleepers(r.epoch(recv), 1)
	}
}

// epoch returns the epoch word of a direction: the one consumers sleep on
// (recv) or the one producers sleep on.
func (r *Ring) epoch(recv bool) *sw.Uint32 {
	if recv {
		return r.recvEpoch
	}
	return r.sendEpoch
}

// markSleeper sets the sleeper bit of an epoch word (a Ring direction's,
// a Broadcast's) unless another sleeper set it already, and returns the
// word with the bit: the value to sleep on. Every sleeper of these words
// (Ring.sleep, the Broadcast's publisher and subscribers, a WaitSet) sets
// it first and only then looks whether it must sleep, so that a
// publication after the look sees the bit and wakes it.
func markSleeper(epoch *sw.Uint32) uint32 {
	for {
		e := epoch.Load()
		if e&ringSleeper != 0 || epoch.CompareAndSwap(e, e|ringSleeper) {
			return e | ringSleeper
		}
	}
}

// acquire claims a slot for receiving (recv) or sending, sleeping while
// there is none, until ctx is done.
func (r *Ring) acquire(ctx context.Context, recv bool) (uint64, error) {
	pos, _, err := r.acquireN(ctx, recv, 1)
	return pos, err
}

// acquireN claims up to n consecutive slots (at least one) as acquire
// does, and returns the first position and how many.
func (r *Ring) acquireN(ctx context.Context, recv bool, n int) (uint64, int, error) {
	if pos, k, _ := r.try(recv, n); k > 0 {
		return pos, k, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	strat := WaitStrategyOf(ctx)
	var pos uint64
	var k int
	if strat.spinPhase(func() bool {
		if !r.ready(recv) {
			return false
		}
		pos, k, _ = r.try(recv, n)
		return k > 0
	}) {
		return pos, k, nil
	}
	if !strat.registers() {
		return r.poll(ctx, recv, n)
	}
	return r.sleep(ctx, recv, n)
}

// poll is acquire for BusySpin: it retries the claim without setting the
// sleeper bit, so the other side makes no system call, and every slice
// it does what a sleeper does after one: take a slot from a claimant the
// kernel says is dead.
func (r *Ring) poll(ctx context.Context, recv bool, n int) (uint64, int, error) {
	epoch := r.epoch(recv)
	var pos uint64
	var k, tries int
	var blocker uint32
	var stuck ringStuck
	err := pollUntil(ctx, (*uint32)(unsafe.Pointer(epoch)), func() bool {
		// Look at the slot (a load) until it is ready; try a claim then,
		// and now and then anyway, to learn who holds it.
		if tries++; !r.ready(recv) && tries%pollCheck != 0 {
			return false
		}
		pos, k, blocker = r.try(recv, n)
		return k > 0
	}, sliceWait, func() bool {
		r.unstick(&stuck, recv, blocker)
		return false
	})
	if err != nil {
		return 0, 0, err
	}
	return pos, k, nil
}

// sleep is the futex slow path of acquire.
func (r *Ring) sleep(ctx context.Context, recv bool, n int) (uint64, int, error) {
	epoch := r.epoch(recv)
	word := (*uint32)(unsafe.Pointer(epoch))
	// On cancellation a nap parked through io_uring cancels its own wait;
	// one on its own thread is woken by a change of the word (keeping the
	// sleeper bit) and a wake of every sleeper of this direction, so that
	// this one notices at once, even if it was just about to wait, and
	// the others re-check and sleep again. Not at a deadline, which the
	// slice ends at (cancelWakes). The caller may unmap the ring as soon
	// as sleep returns: nap returns only after a wake it started.
	var napCtx context.Context // nil: ctx is never done, plain naps
	var wakeAll func()
	if ctx.Done() != nil {
		napCtx = ctx
		wakeAll = func() {
			epoch.Add(2)
			sw.WakeAll(word)
		}
	}
	mp, err := enterWait(word)
	if err != nil {
		return 0, 0, err
	}
	defer mp.Leave(word)
	var stuck ringStuck
	napped := false
	for {
		e := markSleeper(epoch)
		// The bit is set (by this or another sleeper) in the value e this
		// sleeper will wait on: re-check only now.
		pos, k, blocker := r.try(recv, n)
		if k > 0 {
			if err := closedErr(mp); err != nil {
				// Close replaced the ring by zeros since our last look
				// (between two sleeps we miss its wake-up): the claim is
				// in private memory, or, if it was made just before, is
				// left to the peers as a departed process's.
				return 0, 0, err
			}
			// The bit stays set; the next publisher pays one needless
			// wake-up, which is cheaper than knowing who else set it.
			if napped {
				r.passOn(recv)
			}
			return pos, k, nil
		}
		slice, err := ringSlice(ctx)
		if err != nil {
			return 0, 0, err
		}
		nap(napCtx, word, e, slice, wakeAll)
		napped = true
		if err := closedErr(mp); err != nil {
			return 0, 0, err
		}
		r.unstick(&stuck, recv, blocker)
	}
}

// unstick is a waiter's look, after a slice, at the claimant it waits
// behind (blocker): once it has waited behind it for RingWaitSlice and
// the kernel says it is gone, its slots are repaired. A batch producer
// that died holds consecutive slots: they are all repaired now, asking
// the kernel again before each, rather than one per slice.
func (r *Ring) unstick(stuck *ringStuck, recv bool, blocker uint32) {
	if stuck.behind(blocker, r.token) {
		for gone(r.slots, blocker) && r.reclaim(recv, blocker) {
		}
	}
}

// ringStuck tracks how long a sleeper has been held up by the same
// claimant, so that it checks that claimant's liveness (a system call)
// about once per RingWaitSlice, however often unrelated wake-ups arrive.
type ringStuck struct {
	token uint32
	since time.Time
}

// behind records that the sleeper waits behind the claimant token (0:
// behind no one) and reports whether it is time to ask whether that
// claimant is dead. A process never judges its own token.
func (s *ringStuck) behind(token, self uint32) bool {
	if token == 0 || token == self {
		s.token = 0
		return false
	}
	now := sw.Now()
	if token != s.token {
		s.token, s.since = token, now
		return false
	}
	if now.Sub(s.since) < RingWaitSlice {
		return false
	}
	s.since = now
	return true
}

// ringSlice returns how long the next sleep may last: RingWaitSlice, or
// less when ctx's deadline is nearer; an error when ctx is done.
func ringSlice(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d := stretch(RingWaitSlice)
	if dl, ok := ctx.Deadline(); ok {
		left := sw.Until(dl)
		if left <= 0 {
			return 0, context.DeadlineExceeded
		}
		d = min(d, left)
	}
	return d, nil
}

// blockerAt returns, by loads alone, the claimant that a claim in the
// given direction would find in its way (the blocker try returns): the
// producer still writing the slot at head, or the consumer still reading
// last lap's message in the slot at tail; 0 if none. A WaitSet, which
// claims nothing, asks it at the end of a slice.
func (r *Ring) blockerAt(recv bool) uint32 {
	if recv {
		h := r.head.Load()
		w := r.slot(h).state.Load()
		if int32(uint32(w)-uint32(h+1)) == -1 {
			return uint32(w >> 32)
		}
		return 0
	}
	t := r.tail.Load()
	w := r.slot(t).state.Load()
	if int32(uint32(w)-uint32(t)) == 1-int32(r.capacity) {
		return uint32(w >> 32)
	}
	return 0
}

// try makes one non-blocking claim of up to n slots in the given
// direction.
func (r *Ring) try(recv bool, n int) (uint64, int, uint32) {
	if recv {
		return r.claimRecvN(n)
	}
	return r.claimSendN(n)
}

// reclaim repairs the slot at head (recv) or tail held by the dead
// claimant, as reclaimRecv or reclaimSend.
func (r *Ring) reclaim(recv bool, dead uint32) bool {
	if recv {
		return r.reclaimRecv(dead)
	}
	return r.reclaimSend(dead)
}

// ready reports, by loads alone, whether a claim in the given direction
// may succeed now (or has a claimant to help on): the spin of acquire
// asks it before each try, so that a spinning waiter reads the slot at
// tail (head) shared while the process it waits for is still using it,
// rather than taking the line away from it with a failing
// compare-and-swap every time.
func (r *Ring) ready(recv bool) bool {
	if recv {
		h := r.head.Load()
		return int32(uint32(r.slot(h).state.Load())-uint32(h+1)) >= 0
	}
	t := r.tail.Load()
	return int32(uint32(r.slot(t).state.Load())-uint32(t)) >= 0
}
