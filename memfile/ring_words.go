package memfile

import (
	sw "github.com/shmx/shmx/internal/word"
	"unsafe"
)

// This file holds the Ring's only pointer arithmetic. Every cast below
// points into b at an offset that RingAt or InitRing has bounds-checked
// against len(b), and at a multiple of the word size from an 8-byte
// aligned base, which is what sync/atomic requires. b stays referenced by
// the Ring, so the memory outlives every pointer derived from it (for a
// mapping, the caller keeps it mapped while the Ring is in use).

// ringWord32 returns the 32-bit word at b[off:]; off+4 <= len(b), off%4 == 0.
func ringWord32(b []byte, off int) *sw.Uint32 {
	return (*sw.Uint32)(unsafe.Pointer(&b[off:][:4][0]))
}

// ringWord64 returns the 64-bit word at b[off:]; off+8 <= len(b), off%8 == 0.
func ringWord64(b []byte, off int) *sw.Uint64 {
	return (*sw.Uint64)(unsafe.Pointer(&b[off:][:8][0]))
}

// ringHandle builds a handle over a validated header.
func ringHandle(b []byte, slotSize, capacity int) *Ring {
	return &Ring{
		b:         b,
		slots:     unsafe.Pointer(&b[RingHeaderSize]),
		stride:    uintptr(ringStride(slotSize)),
		mask:      uint64(capacity - 1),
		capacity:  uint64(capacity),
		slotSize:  slotSize,
		token:     self(),
		tail:      ringWord64(b, ringTailOff),
		head:      ringWord64(b, ringHeadOff),
		recvEpoch: ringWord32(b, ringRecvOff),
		sendEpoch: ringWord32(b, ringSendOff),
	}
}

// ringSlot is the fixed part of a slot, as laid out in shared memory.
type ringSlot struct {
	state  sw.Uint64 // low 32: sequence; high 32: claimant's token
	length uint32    // message length or ringSkip: plain, see the slot state machine
	_      uint32
}

// slot returns the slot serving position pos. The index is masked by the
// validated capacity, so the slot lies inside b.
func (r *Ring) slot(pos uint64) *ringSlot {
	return (*ringSlot)(unsafe.Add(r.slots, uintptr(pos&r.mask)*r.stride))
}

// payload returns the slot's payload bytes, slotSize long, inside b.
func (r *Ring) payload(s *ringSlot) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(s), ringSlotHdr)), r.slotSize)
}
