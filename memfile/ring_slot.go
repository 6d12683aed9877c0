package memfile

import sw "github.com/shmx/shmx/internal/word"

// The slot state machine, for the slot serving position pos (cap = capacity):
//
//	(pos, 0)          free for the producer of pos
//	(pos, P)          claimed by the producer whose token is P, being written
//	(pos+1, 0)        committed: holds a message for the consumer of pos
//	(pos+1, C)        claimed by the consumer whose token is C, being read
//	(pos+cap, 0)      released: free for the producer of pos+cap
//
// Transitions (who makes them; each is one compare-and-swap from the exact
// state on the left, but for the two a batch makes with a release store,
// marked *):
//
//	(pos, 0)     -> (pos, P)      claimSend by P (or claimSendN, for each of its positions)
//	(pos, P)     -> (pos+1, 0)    commit by P (a message, or ringSkip); * publish, in a batch (fill)
//	(pos, P)     -> (pos+1, C)    reclaimRecv by C, P judged dead; C then releases
//	(pos+1, 0)   -> (pos+1, C)    claimRecv by C (or claimRecvN, for each of its positions)
//	(pos+1, C)   -> (pos+cap, 0)  release by C; * free, in a batch (drain)
//	(pos+1, C)   -> (pos+cap, 0)  reclaimSend by a producer, C judged dead
//
// A store may replace a compare-and-swap only where the holder is the
// only one who can move the slot: a slot in (pos, P) or (pos+1, C) leaves
// that state by its holder's hand or, once the kernel says the holder is
// gone, by a reclaim; a live holder's store therefore finds the state it
// expects. (The compare-and-swaps of commit and release also fence the
// look at the sleeper bit after them; a batch fences once, sw.Fence.)
//
// A claim needs only the slot's state, not the counter: the batch claims
// (claimSendN, claimRecvN) take the positions after the first one the
// same way, one compare-and-swap per slot, before tail (head) has reached
// them. tail moves from pos to a later pos+k (a compare-and-swap, by the
// claimant or anyone helping it, who moves it by one) only after the
// slots of pos..pos+k-1 were seen claimed by a producer or in a later
// state, and head likewise after consumers' claims or later: a counter
// never passes a position nobody has taken. So a consumer may find head
// past tail (its batch claimed committed slots before the producer moved
// tail), which Len reads as empty.
//
// The message length is a plain word of the slot, written by the
// producer that holds the claim before its commit and read by the
// consumer that holds the claim after its own, so the compare-and-swaps
// on the state order it; it is validated on every read (message).
// Tokens (internal/live) are never 0, so owner 0 always means "nobody".
// Sequences are compared as int32 differences of their low 32 bits, so
// they wrap safely; head and tail are 64-bit and never wrap in practice.

// ringPack makes a slot state word.
func ringPack(seq, owner uint32) uint64 { return uint64(owner)<<32 | uint64(seq) }

// ringTries bounds the retries of one non-blocking claim, so that a ring
// whose memory holds garbage (or a contention storm) makes TrySend or
// TryRecv report failure instead of spinning forever. A correct ring under
// ordinary contention succeeds or sees full/empty in a few tries.
const ringTries = 1 << 16

// claimSend tries to claim the slot at tail for this process. It returns
// the claimed position and ok, or, when the ring is full, ok == false and
// the token of the consumer still holding the slot at tail (0 if the slot
// only holds an unconsumed message or is held by a producer).
func (r *Ring) claimSend() (pos uint64, ok bool, blocker uint32) {
	pos, k, blocker := r.claimSendN(1)
	return pos, k == 1, blocker
}

// claimSend1 is claimSend but leaves tail at the claimed position, for
// claimSendN to move it once past all of its claims.
func (r *Ring) claimSend1() (pos uint64, ok bool, blocker uint32) {
	// First the compare-and-swap that succeeds when the slot at tail is
	// free, without loading the state first: the load would fetch the
	// line shared and the compare-and-swap fetch it again exclusive, two
	// trips to the consumer that released it instead of one.
	t := r.tail.Load()
	if r.slot(t).state.CompareAndSwap(ringPack(uint32(t), 0), ringPack(uint32(t), r.token)) {
		return t, true, 0
	}
	for range ringTries {
		t := r.tail.Load()
		s := r.slot(t)
		w := s.state.Load()
		seq, owner := uint32(w), uint32(w>>32)
		switch d := int32(seq - uint32(t)); {
		case d == 0 && owner == 0:
			if s.state.CompareAndSwap(w, ringPack(uint32(t), r.token)) {
				return t, true, 0
			}
		case d >= 0:
			// Position t is claimed already (and maybe more): help the
			// claimant move tail on. Fails harmlessly if tail moved.
			r.tail.CompareAndSwap(t, t+1)
		case d == 1-int32(r.capacity) && owner != 0:
			return 0, false, owner // a consumer is reading last lap's message
		default:
			if r.tail.Load() == t {
				return 0, false, 0 // full
			}
		}
	}
	return 0, false, 0
}

// claimRecv tries to claim the slot at head for this process. It returns
// the claimed position and ok, or, when nothing is ready, ok == false and
// the token of the producer still writing the slot at head (0 if the ring is
// simply empty there).
func (r *Ring) claimRecv() (pos uint64, ok bool, blocker uint32) {
	pos, k, blocker := r.claimRecvN(1)
	return pos, k == 1, blocker
}

// claimRecv1 is claimRecv but leaves head at the claimed position (see
// claimSend1).
func (r *Ring) claimRecv1() (pos uint64, ok bool, blocker uint32) {
	h := r.head.Load() // the compare-and-swap first, as in claimSend1
	if r.slot(h).state.CompareAndSwap(ringPack(uint32(h+1), 0), ringPack(uint32(h+1), r.token)) {
		return h, true, 0
	}
	for range ringTries {
		h := r.head.Load()
		s := r.slot(h)
		w := s.state.Load()
		seq, owner := uint32(w), uint32(w>>32)
		switch d := int32(seq - uint32(h+1)); {
		case d == 0 && owner == 0:
			if s.state.CompareAndSwap(w, ringPack(uint32(h+1), r.token)) {
				return h, true, 0
			}
		case d >= 0:
			r.head.CompareAndSwap(h, h+1) // position h is taken: help
		case d == -1 && owner != 0:
			return 0, false, owner // a producer is writing it
		default:
			if r.head.Load() == h {
				return 0, false, 0 // empty
			}
		}
	}
	return 0, false, 0
}

// commit publishes the slot claimed at pos with n bytes (or ringSkip), and
// wakes a sleeping consumer if there is one. The compare-and-swap fails
// only if another process rewrote a slot this one holds (a broken peer, or
// one that took this process for dead): the message is then dropped rather
// than published into a slot someone else now owns, and nothing panics.
func (r *Ring) commit(pos uint64, n uint32) {
	s := r.slot(pos)
	s.length = n
	if s.state.CompareAndSwap(ringPack(uint32(pos), r.token), ringPack(uint32(pos+1), 0)) {
		wakeSleepers(r.recvEpoch, 1)
	}
}

// release frees the slot claimed for receiving at pos for the next lap, and
// wakes a sleeping producer if there is one. As in commit, a slot that
// another process rewrote meanwhile is left alone.
func (r *Ring) release(pos uint64) {
	if r.slot(pos).state.CompareAndSwap(ringPack(uint32(pos+1), r.token), ringPack(uint32(pos+r.capacity), 0)) {
		wakeSleepers(r.sendEpoch, 1)
	}
}

// publish is commit for a batch (fill), after the length was written and
// without the wake-up: a release store rather than a compare-and-swap. It
// may store blindly because nobody else moves a slot out of (pos, P)
// while P lives: the only other transition from it, reclaimRecv, needs the
// kernel to say P is gone. The caller fences once after the batch, before
// it looks for sleepers.
func (r *Ring) publish(pos uint64) {
	sw.StoreRelease(&r.slot(pos).state, ringPack(uint32(pos+1), 0))
}

// free is release for a batch (drain), a release store for the reason
// given on publish: from (pos+1, C) only reclaimSend moves a slot but C,
// and only once C is gone.
func (r *Ring) free(pos uint64) {
	sw.StoreRelease(&r.slot(pos).state, ringPack(uint32(pos+r.capacity), 0))
}

// claimSendN claims up to n consecutive positions for this process: the
// first as claimSend does, each next one by the same compare-and-swap on
// its slot while it is free for its position, and then moves tail past
// them all. It returns the first position and how many it claimed (0:
// full, as claimSend's !ok, with the same blocker).
func (r *Ring) claimSendN(n int) (pos uint64, k int, blocker uint32) {
	if n < 1 {
		return 0, 0, 0
	}
	pos, ok, blocker := r.claimSend1()
	if !ok {
		return 0, 0, blocker
	}
	k = 1
	for k < n {
		p := pos + uint64(k)
		if !r.slot(p).state.CompareAndSwap(ringPack(uint32(p), 0), ringPack(uint32(p), r.token)) {
			break
		}
		k++
	}
	advance(r.tail, pos, pos+uint64(k))
	return pos, k, 0
}

// claimRecvN is claimSendN for consumers: it claims up to n consecutive
// committed positions from head and moves head past them.
func (r *Ring) claimRecvN(n int) (pos uint64, k int, blocker uint32) {
	if n < 1 {
		return 0, 0, 0
	}
	pos, ok, blocker := r.claimRecv1()
	if !ok {
		return 0, 0, blocker
	}
	k = 1
	for k < n {
		p := pos + uint64(k)
		if !r.slot(p).state.CompareAndSwap(ringPack(uint32(p+1), 0), ringPack(uint32(p+1), r.token)) {
			break
		}
		k++
	}
	advance(r.head, pos, pos+uint64(k))
	return pos, k, 0
}

// advance moves counter (tail or head) from from to to, where this
// process holds the claims of every position in between: from wherever
// between the two helpers have moved it, it may jump to to. It stops as
// soon as the counter is at or past to.
func advance(counter *sw.Uint64, from, to uint64) {
	for cur := from; cur < to; cur = counter.Load() {
		if counter.CompareAndSwap(cur, to) {
			return
		}
	}
}

// message returns the length recorded in the slot claimed at pos, and
// whether it is deliverable: an aborted send, or a length no producer could
// have written, is not.
func (r *Ring) message(pos uint64) (int, bool) {
	n := r.slot(pos).length
	if n == ringSkip || n > uint32(r.slotSize) {
		return 0, false
	}
	return int(n), true
}

// reclaimRecv repairs the slot at head when the producer that claimed it
// (dead, as the caller checked) never committed: this process claims it as
// a consumer and releases it, delivering nothing. It reports whether it
// did; false means the slot changed meanwhile, which is progress too.
func (r *Ring) reclaimRecv(dead uint32) bool {
	h := r.head.Load()
	s := r.slot(h)
	if !s.state.CompareAndSwap(ringPack(uint32(h), dead), ringPack(uint32(h+1), r.token)) {
		return false
	}
	r.head.CompareAndSwap(h, h+1)
	s.length = ringSkip
	r.release(h)
	return true
}

// reclaimSend repairs the slot at tail when the consumer that claimed it
// last lap (dead, as the caller checked) never released it: the slot
// becomes free for position tail. The message that consumer took is lost.
//
// Every step rests on the slot's state, never on the caller's sighting,
// which may be stale (another producer may have repaired the slot and
// sent into it since, moving tail on by one): the slot at tail must hold
// exactly the dead consumer's claim of position tail-capacity. That
// proves the position was consumed, so head may pass it, and that no
// producer has claimed position tail yet, so tail is still there and the
// repair frees the slot for it; the repair is a compare-and-swap against
// that very claim. A caller acting on a stale sighting finds another
// state and changes nothing.
func (r *Ring) reclaimSend(dead uint32) bool {
	t := r.tail.Load()
	prev := t - r.capacity
	s := r.slot(t)
	claim := ringPack(uint32(prev+1), dead)
	if s.state.Load() != claim {
		return false
	}
	// The dead consumer may have died before moving head past its slot.
	r.head.CompareAndSwap(prev, prev+1)
	if !s.state.CompareAndSwap(claim, ringPack(uint32(t), 0)) {
		return false
	}
	wakeSleepers(r.sendEpoch, 1)
	return true
}

// Reclaim repairs the ring where a process died holding the slot at head
// (a producer that never committed) or at tail (a consumer that never
// released), and returns how many slots it repaired. Blocking Send and
// Recv do this by themselves while they wait; Reclaim is for code that
// only uses TrySend and TryRecv, which never make a system call. It makes
// one liveness check (a system call) per claimed slot it examines.
func (r *Ring) Reclaim() int {
	n := 0
	for range 2 * r.capacity {
		if _, _, p := r.peekRecv(); p != 0 && p != r.token && gone(r.slots, p) && r.reclaimRecv(p) {
			n++
			continue
		}
		if _, _, c := r.claimSendPeek(); c != 0 && c != r.token && gone(r.slots, c) && r.reclaimSend(c) {
			n++
			continue
		}
		break
	}
	return n
}

// peekRecv reports, without claiming, the producer (if any) holding the slot at head.
func (r *Ring) peekRecv() (h uint64, seq, owner uint32) {
	h = r.head.Load()
	w := r.slot(h).state.Load()
	if int32(uint32(w)-uint32(h)) != 0 {
		return h, uint32(w), 0
	}
	return h, uint32(w), uint32(w >> 32)
}

// claimSendPeek reports, without claiming, the consumer (if any) holding
// the slot at tail from the previous lap.
func (r *Ring) claimSendPeek() (t uint64, seq, owner uint32) {
	t = r.tail.Load()
	w := r.slot(t).state.Load()
	if int32(uint32(w)-uint32(t)) != 1-int32(r.capacity) {
		return t, uint32(w), 0
	}
	return t, uint32(w), uint32(w >> 32)
}
