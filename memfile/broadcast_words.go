package memfile

import (
	"unsafe"

	sw "github.com/shmx/shmx/internal/word"
)

// This file holds the Broadcast's only pointer arithmetic. Every pointer
// points into b at an offset that bcValidate checked against len(b), at a
// multiple of 8 from an 8-byte aligned base; b stays referenced by the
// handle, as for the Ring (see ring_words.go).

// bcSlot is the fixed part of a slot, as laid out in shared memory.
type bcSlot struct {
	mark   sw.Uint64 // (seq+1)<<1, | bcWriting while being written
	length sw.Uint32 // message length or bcSkip
	_      uint32
}

// bcEntry is a subscriber table entry, as laid out in shared memory.
type bcEntry struct {
	owner  sw.Uint64 // token<<32 | handle number, 0 if free
	cursor sw.Uint64 // next sequence the subscriber reads
	missed sw.Uint64 // messages lapped over, in total
}

func bcHandle(b []byte, c BroadcastConfig) *Broadcast {
	return &Broadcast{
		b:         b,
		slots:     unsafe.Pointer(&b[bcSlotsOff(c.Subscribers)]),
		stride:    uintptr(bcStride(c.SlotSize)),
		mask:      uint64(c.Capacity - 1),
		capacity:  uint64(c.Capacity),
		slotSize:  c.SlotSize,
		nsubs:     c.Subscribers,
		bp:        c.BackPressure,
		tail:      ringWord64(b, bcTailOff),
		subEpoch:  ringWord32(b, bcSubEpochOff),
		pubEpoch:  ringWord32(b, bcPubEpochOff),
		role:      ringWord64(b, bcRoleOff),
		joins:     ringWord64(b, bcJoinsOff),
		wakeAt:    ringWord64(b, bcWakeAtOff),
		subsTable: unsafe.Pointer(&b[BroadcastHeaderSize]),
	}
}

// slot returns the slot of sequence seq: masked by the validated
// capacity, so inside b.
func (bc *Broadcast) slot(seq uint64) *bcSlot {
	return (*bcSlot)(unsafe.Add(bc.slots, uintptr(seq&bc.mask)*bc.stride))
}

// entry returns subscriber entry i, 0 <= i < nsubs.
func (bc *Broadcast) entry(i int) *bcEntry {
	return (*bcEntry)(unsafe.Add(bc.subsTable, uintptr(i)*bcEntrySize))
}

// payloadAt returns the address of s's payload, slotSize bytes rounded
// up to 8 inside the stride.
func (bc *Broadcast) payloadAt(s *bcSlot) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(s), bcSlotHdr)
}

// payload returns s's payload bytes, slotSize long, inside b.
func (bc *Broadcast) payload(s *bcSlot) []byte {
	return unsafe.Slice((*byte)(bc.payloadAt(s)), bc.slotSize)
}

// low32 is the low half of a 64-bit word (every supported CPU is
// little-endian): what a waiter for that word sleeps on.
func low32(w *sw.Uint64) *uint32 { return (*uint32)(unsafe.Pointer(w)) }

// epochAddr is the address a sleeper on epoch waits on.
func epochAddr(e *sw.Uint32) *uint32 { return (*uint32)(unsafe.Pointer(e)) }
