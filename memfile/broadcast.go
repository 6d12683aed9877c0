package memfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"unsafe"

	sw "github.com/shmx/shmx/internal/word"
)

// Broadcast is a publish/subscribe ring in shared bytes: one publisher at
// a time appends messages, and every subscriber, in any process, sees
// every message, each at its own pace through its own cursor (the Ring,
// by contrast, gives each message to one consumer). Subscribers join and
// leave at any time; a joiner starts at the newest message or at the
// oldest still held, as it chooses.
//
// # Algorithm
//
// Message number s (its sequence, counted from 0) lives in slot s mod
// capacity. The publisher writes a message as a seqlock write of its
// slot (see SeqLock): it marks the slot "being written with s", writes
// length and payload, marks it "holds s", and only then advances the
// shared tail to s+1. A subscriber whose cursor is c < tail reads slot c
// optimistically: it loads the slot's mark, copies the message, loads the
// mark again, and keeps the copy only if both marks say "holds c". A mark
// that names a later message means the publisher has lapped the
// subscriber: it is told so (an error matching ErrLapped that says how
// many messages it missed) and moved on to the oldest message still
// held. So a read is never returned torn, and readers never write
// anything the publisher reads, unless back-pressure is on.
//
// By default nothing a subscriber does can hold the publisher back. With
// BackPressure the publisher instead waits, before it overwrites message
// s-capacity, until every live subscriber's cursor has passed it; a
// subscriber publishes its cursor in its own entry of a table in the
// header, and the publisher scans the table only when its cached bound
// runs out or a subscriber joined since its last scan (a counter, one
// load per message). A subscriber judged dead (the kernel's word: see
// Ring, "Dead producers and consumers") never holds the publisher back:
// the publisher frees its entry after waiting one RingWaitSlice behind it.
//
// A publisher held back does not wake for every message a subscriber
// reads, which would make publisher and subscribers take turns one slot
// at a time: it sleeps until the slowest cursor has freed a quarter of
// the ring, and says which cursor that is in the wakeAt word; a
// subscriber whose cursor crosses it, with the publisher's sleeper bit
// set, wakes it (a faster subscriber that crosses first makes a wake-up
// that finds the slowest not there yet, at most one per subscriber per
// quarter ring). The publisher stores wakeAt before it sets the bit and
// rescans, and a subscriber stores its cursor before it loads the bit
// and then wakeAt: as for the epoch protocol, either the rescan sees the
// cursor or the subscriber sees the bit and the target.
//
// # Joining under back-pressure
//
// A joiner stores its cursor c, then increments the join counter, then
// reads tail T. Every publish that loaded the counter before the
// increment has a sequence of at most T (the publisher stored tail for
// the previous one before that load), so at most one of them, T, may
// still be in flight, overwriting message T-capacity; every later publish
// rescans and honours c. The joiner therefore repeats (with c raised as
// the choice of start asks, never lowered) until T < c+capacity: from
// then on no message at or after c is overwritten before it read it.
//
// # Publishers
//
// The publisher role is a word in the header naming the holder (its
// process token and a handle number); Publisher waits until the role is
// free, or takes it from a holder judged dead, and Publisher.Close gives
// it back. So several publishers, in any processes, publish in turn; a
// publisher that dies mid-message leaves that slot marked "being
// written", which no subscriber accepts, and its successor rewrites it.
//
// # Waiting
//
// A subscriber that has read everything waits on a 32-bit epoch word with
// the Ring's protocol (bit 0: someone may sleep; the waker changes the
// word and wakes all only when it is set: see Ring, "Blocking"); so does
// a publisher held back by a subscriber, on a second epoch word. With
// nobody asleep a publish costs one load of the subscribers' epoch word,
// and a receive that keeps up makes no system call.
//
// # Layout
//
// All words are native-endian (every supported CPU is little-endian),
// the memory must be 8-byte aligned, and every offset is the same for
// every GOARCH. The header:
//
//	offset size field
//	0      8    state       initialisation, as the Ring's (see InitRing): low 32
//	                        bits 0 untouched, 1 being initialised, 2 ready; high 32
//	                        bits the initialiser's token, then the magic
//	4      4    magic       "SHBC" (0x43424853), the high half of the ready state
//	8      4    version     broadcastVersion (1)
//	12     4    slotSize    payload bytes per slot: the largest message, 1..2^24
//	16     4    capacity    number of slots, a power of two, 2..2^24
//	20     4    stride      bytes per slot: 16 + slotSize rounded up to 64
//	24     4    subscribers entries of the subscriber table, 1..4096
//	28     4    flags       bit 0: back-pressure; the other bits 0
//	32     4    subsOff     offset of the subscriber table (= BroadcastHeaderSize)
//	36     4    slotsOff    offset of slot 0 (= subsOff + subscribers*128)
//	40     4    check       FNV-1a of bytes 4..40, magic included
//	44     4    (zero)
//	128    8    tail        sequence of the next message to publish (own line)
//	256    4    subEpoch    subscribers sleep on it; bit 0: one may sleep (own line)
//	384    4    pubEpoch    the held-back publisher sleeps on it (own line)
//	512    8    role        publisher: token<<32 | handle number, 0 if none
//	520    8    joins       incremented by every joiner (back-pressure)
//	528    8    wakeAt      the cursor a held-back publisher waits for (back-pressure)
//	640         subscriber table: entry i at 640 + i*128
//
// Each subscriber entry (128 bytes, so that subscribers never share a
// cache line):
//
//	offset size field
//	0      8    owner   token<<32 | handle number, 0 if free
//	8      8    cursor  sequence of the next message this subscriber reads
//	16     8    missed  messages it was lapped over, in total (for inspection)
//
// Each slot:
//
//	offset size field
//	0      8    mark    (s+1)<<1: holds message s; (s+1)<<1 | 1: message s being
//	                    written; 0: never written
//	8      4    length  message length, or 0xFFFFFFFF for an aborted message
//	12     4    (zero)
//	16          payload, slotSize bytes, then padding up to stride
//
// A Broadcast value is a per-process handle to the shared ring; it is
// safe for concurrent use. Publisher and Subscriber handles are each for
// one goroutine at a time.
type Broadcast struct {
	b         []byte
	slots     unsafe.Pointer
	stride    uintptr
	mask      uint64
	capacity  uint64
	slotSize  int
	nsubs     int
	bp        bool
	tail      *sw.Uint64
	subEpoch  *sw.Uint32
	pubEpoch  *sw.Uint32
	role      *sw.Uint64
	joins     *sw.Uint64
	wakeAt    *sw.Uint64
	subsTable unsafe.Pointer
}

// BroadcastConfig is the geometry and policy of a Broadcast.
type BroadcastConfig struct {
	SlotSize     int  // largest message in bytes, 1..2^24
	Capacity     int  // messages held, a power of two in 2..2^24
	Subscribers  int  // most subscribers at once, 1..4096
	BackPressure bool // the publisher waits for the slowest live subscriber
}

// ErrLapped is matched (errors.Is) by the error a subscriber gets when
// the publisher overwrote messages before it read them; the error is a
// *LappedError that says how many.
var ErrLapped = errors.New("memfile: broadcast subscriber lapped")

// ErrNoSubscriberSlot is returned by Subscribe when every entry of the
// subscriber table is held by a live subscriber.
var ErrNoSubscriberSlot = errors.New("memfile: broadcast subscriber table full")

// LappedError reports messages a subscriber missed because the
// publisher overwrote them first. The subscriber has moved on to the
// oldest message still held; the next receive returns it.
type LappedError struct {
	Missed uint64 // messages skipped
}

func (e *LappedError) Error() string {
	return fmt.Sprintf("memfile: broadcast subscriber lapped: %d messages missed", e.Missed)
}

// Is makes a *LappedError match ErrLapped.
func (e *LappedError) Is(target error) bool { return target == ErrLapped }

// Header geometry; see the layout table on Broadcast.
const (
	// BroadcastHeaderSize is the number of bytes before the subscriber table.
	BroadcastHeaderSize = 640

	bcMagic       = 0x43424853 // "SHBC" little-endian
	bcVersion     = 1
	bcReadyState  = ringReady | bcMagic<<32
	bcMaxSlot     = 1 << 24
	bcMaxCap      = 1 << 24
	bcMaxSubs     = 4096
	bcEntrySize   = 128
	bcSlotHdr     = 16
	bcFlagBP      = 1
	bcVersionOff  = 8
	bcSlotOff     = 12
	bcCapOff      = 16
	bcStrideOff   = 20
	bcSubsOff     = 24
	bcFlagsOff    = 28
	bcSubsTabOff  = 32
	bcSlotsOffOff = 36
	bcCheckOff    = 40
	bcTailOff     = 128
	bcSubEpochOff = 256
	bcPubEpochOff = 384
	bcRoleOff     = 512
	bcJoinsOff    = 520
	bcWakeAtOff   = 528

	bcWriting = 1          // mark bit: the message is being written
	bcSkip    = ^uint32(0) // length of an aborted message
)

// bcMark is the mark of a slot holding message seq.
func bcMark(seq uint64) uint64 { return (seq + 1) << 1 }

// bcStride is the distance between slots: header plus payload rounded up
// to 64, so that a slot's words never share a line with its neighbour's.
func bcStride(slotSize int) int {
	return (bcSlotHdr + slotSize + ringSlotAlign - 1) &^ (ringSlotAlign - 1)
}

func bcSlotsOff(subs int) int { return BroadcastHeaderSize + subs*bcEntrySize }

func bcGeometryErr(c BroadcastConfig) error {
	if c.SlotSize < 1 || c.SlotSize > bcMaxSlot {
		return fmt.Errorf("memfile: broadcast slot size %d out of range 1..%d", c.SlotSize, bcMaxSlot)
	}
	if c.Capacity < 2 || c.Capacity > bcMaxCap || c.Capacity&(c.Capacity-1) != 0 {
		return fmt.Errorf("memfile: broadcast capacity %d is not a power of two in 2..%d", c.Capacity, bcMaxCap)
	}
	if c.Subscribers < 1 || c.Subscribers > bcMaxSubs {
		return fmt.Errorf("memfile: broadcast subscribers %d out of range 1..%d", c.Subscribers, bcMaxSubs)
	}
	return nil
}

// BroadcastSize returns the number of bytes a Broadcast of geometry c
// occupies, or 0 if the geometry is invalid (InitBroadcast says why).
// A geometry whose size does not fit an int (on 32-bit systems) gives 0.
func BroadcastSize(c BroadcastConfig) int {
	if bcGeometryErr(c) != nil {
		return 0
	}
	n := uint64(bcSlotsOff(c.Subscribers)) + uint64(c.Capacity)*uint64(bcStride(c.SlotSize))
	if n > uint64(maxInt) {
		return 0
	}
	return int(n)
}

var errBcAlign = fmt.Errorf("memfile: broadcast memory not 8-byte aligned")

// InitBroadcast lays out a Broadcast of geometry c in b and returns a
// handle to it. b must be 8-byte aligned, at least BroadcastSize(c) bytes
// and start zeroed (its first 8 bytes at least). Concurrent InitBroadcast
// calls on the same bytes behave as InitRing's: one lays out, the others
// wait for it, a dead initialiser is taken over. On bytes already
// initialised it returns the ring if the geometry and policy match, an
// error otherwise.
func InitBroadcast(b []byte, c BroadcastConfig) (*Broadcast, error) {
	if err := bcGeometryErr(c); err != nil {
		return nil, err
	}
	if need := BroadcastSize(c); need == 0 || len(b) < need {
		return nil, fmt.Errorf("memfile: broadcast needs %d bytes, have %d", need, len(b))
	}
	if uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		return nil, errBcAlign
	}
	if err := initHeaderWord(b, "broadcast", bcReadyState, func() { bcLayout(b, c) }); err != nil {
		return nil, err
	}
	bc, err := BroadcastAt(b)
	if err != nil {
		return nil, err
	}
	if got := bc.Config(); got != c {
		return nil, fmt.Errorf("memfile: broadcast already initialised as %+v, not %+v", got, c)
	}
	return bc, nil
}

// bcLayout writes every header field and word but the state word, and
// every subscriber entry and slot.
func bcLayout(b []byte, c BroadcastConfig) {
	ne := binary.NativeEndian
	ne.PutUint32(b[bcVersionOff:], bcVersion)
	ne.PutUint32(b[bcSlotOff:], uint32(c.SlotSize))
	ne.PutUint32(b[bcCapOff:], uint32(c.Capacity))
	ne.PutUint32(b[bcStrideOff:], uint32(bcStride(c.SlotSize)))
	ne.PutUint32(b[bcSubsOff:], uint32(c.Subscribers))
	flags := uint32(0)
	if c.BackPressure {
		flags |= bcFlagBP
	}
	ne.PutUint32(b[bcFlagsOff:], flags)
	ne.PutUint32(b[bcSubsTabOff:], BroadcastHeaderSize)
	ne.PutUint32(b[bcSlotsOffOff:], uint32(bcSlotsOff(c.Subscribers)))
	ne.PutUint32(b[bcCheckOff:], bcChecksum(b))
	ne.PutUint32(b[bcCheckOff+4:], 0)
	ringWord64(b, bcTailOff).Store(0)
	ringWord32(b, bcSubEpochOff).Store(0)
	ringWord32(b, bcPubEpochOff).Store(0)
	ringWord64(b, bcRoleOff).Store(0)
	ringWord64(b, bcJoinsOff).Store(0)
	ringWord64(b, bcWakeAtOff).Store(0)
	for i := range c.Subscribers {
		off := BroadcastHeaderSize + i*bcEntrySize
		for w := 0; w < 24; w += 8 {
			ringWord64(b, off+w).Store(0)
		}
	}
	stride, base := bcStride(c.SlotSize), bcSlotsOff(c.Subscribers)
	for i := range c.Capacity {
		off := base + i*stride
		ringWord64(b, off).Store(0)
		ringWord64(b, off+8).Store(0)
	}
}

// bcChecksum is the header check: FNV-1a of bytes 4..40, bytes 4..8 taken
// to be the magic (as ringChecksum does).
func bcChecksum(b []byte) uint32 {
	var magic [4]byte
	binary.NativeEndian.PutUint32(magic[:], bcMagic)
	h := fnv.New32a()
	h.Write(magic[:])
	h.Write(b[bcVersionOff:bcCheckOff])
	return h.Sum32()
}

// BroadcastAt returns a handle to the Broadcast that InitBroadcast laid
// out in b. It validates every header field against len(b): a header no
// InitBroadcast could have written is reported as an error wrapping
// ErrCorrupt that names the field (ErrVersion for another layout version,
// ErrNotReady as well while, or if, its initialiser has not finished). It
// never panics or reads outside b.
func BroadcastAt(b []byte) (*Broadcast, error) {
	c, err := bcValidate(b)
	if err != nil {
		return nil, err
	}
	return bcHandle(b, c), nil
}

// bcValidate checks the header in b and returns its configuration.
func bcValidate(b []byte) (BroadcastConfig, error) {
	var c BroadcastConfig
	if len(b) < BroadcastHeaderSize {
		return c, bcFieldErr("length", "%d bytes, header alone needs %d", len(b), BroadcastHeaderSize)
	}
	if uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		return c, errBcAlign
	}
	w := ringWord64(b, ringStateOff).Load()
	switch phase, high := uint32(w), uint32(w>>32); {
	case w == ringUntouched:
		return c, fmt.Errorf("memfile: broadcast header state: 0 (not initialised): %w: %w", ErrNotReady, ErrCorrupt)
	case phase == ringIniting:
		return c, fmt.Errorf("memfile: broadcast header state: being initialised by token %08x: %w: %w", high, ErrNotReady, ErrCorrupt)
	case phase != ringReady:
		return c, bcFieldErr("state", "%#x", w)
	case high != bcMagic:
		return c, bcFieldErr("magic", "%#x", high)
	}
	ne := binary.NativeEndian
	if s := ne.Uint32(b[bcCheckOff:]); s != bcChecksum(b) {
		return c, bcFieldErr("check", "%#x does not match the header", s)
	}
	if v := ne.Uint32(b[bcVersionOff:]); v != bcVersion {
		return c, fmt.Errorf("memfile: broadcast version %d, want %d: %w", v, bcVersion, ErrVersion)
	}
	flags := ne.Uint32(b[bcFlagsOff:])
	c = BroadcastConfig{
		SlotSize:     int(ne.Uint32(b[bcSlotOff:])),
		Capacity:     int(ne.Uint32(b[bcCapOff:])),
		Subscribers:  int(ne.Uint32(b[bcSubsOff:])),
		BackPressure: flags&bcFlagBP != 0,
	}
	switch {
	case flags&^bcFlagBP != 0:
		return c, bcFieldErr("flags", "%#x", flags)
	case bcGeometryErr(BroadcastConfig{SlotSize: c.SlotSize, Capacity: 2, Subscribers: 1}) != nil:
		return c, bcFieldErr("slotSize", "%d", c.SlotSize)
	case bcGeometryErr(BroadcastConfig{SlotSize: 1, Capacity: c.Capacity, Subscribers: 1}) != nil:
		return c, bcFieldErr("capacity", "%d", c.Capacity)
	case bcGeometryErr(BroadcastConfig{SlotSize: 1, Capacity: 2, Subscribers: c.Subscribers}) != nil:
		return c, bcFieldErr("subscribers", "%d", c.Subscribers)
	}
	if s := ne.Uint32(b[bcStrideOff:]); int(s) != bcStride(c.SlotSize) {
		return c, bcFieldErr("stride", "%d for slot size %d", s, c.SlotSize)
	}
	if o := ne.Uint32(b[bcSubsTabOff:]); o != BroadcastHeaderSize {
		return c, bcFieldErr("subsOff", "%d", o)
	}
	if o := ne.Uint32(b[bcSlotsOffOff:]); int(o) != bcSlotsOff(c.Subscribers) {
		return c, bcFieldErr("slotsOff", "%d for %d subscribers", o, c.Subscribers)
	}
	if z := ne.Uint32(b[bcCheckOff+4:]); z != 0 {
		return c, bcFieldErr("reserved word at 44", "%#x", z)
	}
	if need := BroadcastSize(c); need == 0 || need > len(b) {
		return c, bcFieldErr("capacity", "%d slots of %d bytes and %d subscribers need %d bytes, have %d", c.Capacity, c.SlotSize, c.Subscribers, need, len(b))
	}
	return c, nil
}

func bcFieldErr(field, format string, args ...any) error {
	return fmt.Errorf("memfile: broadcast header %s: %s: %w", field, fmt.Sprintf(format, args...), ErrCorrupt)
}

// Config returns the ring's geometry and policy.
func (bc *Broadcast) Config() BroadcastConfig {
	return BroadcastConfig{SlotSize: bc.slotSize, Capacity: int(bc.capacity), Subscribers: bc.nsubs, BackPressure: bc.bp}
}

// SlotSize returns the largest message, in bytes.
func (bc *Broadcast) SlotSize() int { return bc.slotSize }

// Published returns the number of messages published so far (the
// sequence of the next one).
func (bc *Broadcast) Published() uint64 { return bc.tail.Load() }
