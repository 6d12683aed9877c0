package memfile

import (
	"fmt"

	sw "github.com/shmx/shmx/internal/word"
)

// The slot state machine of a Broadcast, for the slot of sequences s,
// s+cap, s+2cap, ... (cap = capacity; the mark is the slot's first word):
//
//	0                    never written: holds nothing
//	(s+1)<<1 | 1         message s being written (or its publisher died writing it)
//	(s+1)<<1             holds message s
//
// Transitions, each one store by the publisher (the only writer of slots
// and of tail; a new publisher continues at tail):
//
//	0 or (s-cap+1)<<1    -> (s+1)<<1 | 1   begin s, tail == s (overwrites s-cap)
//	(s+1)<<1 | 1         -> (s+1)<<1 | 1   begin s again: a new publisher after
//	                                        one that died writing s (tail still s)
//	(s+1)<<1             -> (s+1)<<1 | 1   the same, one that died before it
//	                                        advanced tail past s
//	(s+1)<<1 | 1         -> (s+1)<<1       commit s; then tail := s+1
//
// Subscribers only read slots. A subscriber at cursor c < tail reads the
// mark m1, the length and the payload, then the mark m2 (after a barrier
// for payload read in place), and accepts the message only if
// m1 == m2 == (c+1)<<1. A mark of a later sequence, before or after,
// means it was lapped (the slot was rewritten for c+cap or later); a
// mark of an earlier sequence, with c < tail, no correct publisher
// leaves (it commits before it moves tail): ErrCorrupt. Sequences are
// 64-bit and never wrap in practice; the mark keeps 63 bits of them.
//
// The begin transition is a swap, not a store: a full barrier, so that
// the payload stores that follow (plain ones, when the message is
// written in place) are not seen before the mark that says they are
// being written.
//
// A subscriber entry (owner word; T: a process token, n: a handle number
// never 0, D: a dead process's token):
//
//	0                 free
//	T<<32 | n         held by subscriber handle n of process T
//
//	0          -> T<<32|n   Subscribe by T (CAS)
//	D<<32|m    -> T<<32|n   Subscribe by T when no entry is free, D judged dead (CAS)
//	T<<32|n    -> 0         Close of that subscriber (CAS)
//	D<<32|m    -> 0         a back-pressure publisher held back by it, D judged dead (CAS)
//
// The publisher role word has the same states and transitions (Publisher,
// Publisher.Close, and a new Publisher taking the role of a dead one).

// copyIn stores msg into s's payload (sw.StorePayload: a subscriber
// racing with the write may read a mix of old and new bytes, which its
// mark check rejects; the mark store in commit orders the payload before
// it).
func (bc *Broadcast) copyIn(s *bcSlot, msg []byte) { sw.StorePayload(bc.payloadAt(s), msg) }

// copyOut loads the first len(dst) bytes of s's payload into dst, one
// atomic word at a time (sw.LoadPayload); len(dst) <= slotSize.
func (bc *Broadcast) copyOut(s *bcSlot, dst []byte) { sw.LoadPayload(dst, bc.payloadAt(s)) }

// begin marks the slot of seq as being written (see the table above).
func (bc *Broadcast) begin(seq uint64) *bcSlot {
	s := bc.slot(seq)
	s.mark.Swap(bcMark(seq) | bcWriting)
	return s
}

// commit publishes message seq of length n (or bcSkip) in s, advances
// tail past it and wakes the subscribers if one may sleep.
func (bc *Broadcast) commit(s *bcSlot, seq uint64, n uint32) {
	s.length.Store(n)
	s.mark.Store(bcMark(seq))
	bc.tail.Store(seq + 1)
	epochWake(bc.subEpoch)
}

// epochWake wakes every sleeper of epoch word e, if any (wakeIfSleeping):
// one load and no system call when nobody sleeps. All of them, unlike a
// Ring's wake-up: every subscriber is to see the message.
func epochWake(e *sw.Uint32) { wakeIfSleeping(e) }

// readResult is what one optimistic read of a slot found.
type readResult uint8

const (
	readOK      readResult = iota // a message, intact
	readEmpty                     // cursor == tail: nothing new
	readSkip                      // an aborted message: move on silently
	readLapped                    // overwritten before or while it was read
	readCorrupt                   // a state no publisher leaves
)

// bcCorrupt describes a readCorrupt result.
func bcCorrupt(c, tail, mark uint64, n uint32, slotSize int) error {
	switch {
	case tail < c:
		return fmt.Errorf("memfile: broadcast tail %d behind a subscriber's cursor %d: %w", tail, c, ErrCorrupt)
	case n != bcSkip && n > uint32(slotSize):
		return fmt.Errorf("memfile: broadcast message %d of %d bytes in slots of %d: %w", c, n, slotSize, ErrCorrupt)
	}
	return fmt.Errorf("memfile: broadcast slot of message %d has mark %#x below tail %d: %w", c, mark, tail, ErrCorrupt)
}
