package memfile

import (
	"encoding/binary"
	"fmt"
	sw "github.com/shmx/shmx/internal/word"
	"hash/fnv"
	"time"
	"unsafe"
)

// Ring is a bounded multi-producer, multi-consumer queue of fixed-size
// slots that lives in shared bytes (a memfile, a shm segment, any mapping),
// so that many processes can send and receive messages through it without
// a system call on the fast path.
//
// # Algorithm
//
// The ring is Dmitry Vyukov's bounded MPMC queue: every slot carries a
// sequence number that tells, for the position the slot serves in the
// current lap, whether it is free for a producer (seq == pos), holds a
// committed message (seq == pos+1) or waits for the next lap
// (seq == pos+capacity after a consumer released it). Two shared counters,
// tail (next position to produce) and head (next position to consume), are
// the only words producers or consumers contend on; there is no lock.
//
// Unlike the textbook queue, a producer or consumer claims a slot by a
// compare-and-swap on the slot's own 64-bit state word, which records the
// claimant's process token (below) in the same atomic step, and only then
// advances tail or head; anyone who finds a claimed slot at tail (head)
// advances the counter for it. So every claimed slot names its claimant at
// every instant, which is what makes a claimant that died recoverable (see
// below). Sequence and token fit one 64-bit word, so a plain 64-bit
// compare-and-swap suffices and atomicx.CAS128 (slower, and emulated by a
// lock on some CPUs) is not used.
//
// The batch form (SendBatch, RecvBatch) claims consecutive positions the
// same way, one compare-and-swap per slot, and then moves tail (head)
// past all of them with one compare-and-swap; it writes (reads) every
// slot of the batch before it publishes (releases) any, publishes
// (releases) them with plain release stores (a live holder is the only
// one who moves a slot it holds; see the slot state machine), and fences
// and checks for sleepers once. So a batch still names its claimant in
// every slot it holds, and a process that dies mid-batch is recovered
// from slot by slot, as for single claims; what it saves is the counter
// updates, the wake-up checks, a locked instruction per slot and the
// wait for each slot's line before the next one.
// A batch is not atomic: a consumer may take its first messages while
// the producer still writes the others, and other producers' messages
// may come between two claims of one SendBatch.
//
// # Blocking
//
// Send blocks only when the ring is full, Recv only when it is empty,
// as their ctx's WaitStrategy says: by default after a short spin; with
// BusySpin they poll and never set the sleeper bit below, so the other
// side makes no system call; with Block they sleep at once. Each direction has a 32-bit epoch word on its own
// cache line; its bit 0 means "someone may be asleep on this word". A
// sleeper sets the bit (compare-and-swap, unless it is already set),
// re-checks the ring, and only then calls sw.Wait(epoch, value with the
// bit). A publisher (commit, for consumers; release, for producers) stores
// the slot state, then loads the epoch, and only if the bit is set
// replaces the word by the next value with the bit clear and wakes one
// sleeper per slot it published (a batch of n wakes n). With nobody asleep
// a commit costs one load of a read-mostly word and no system call; with
// sleepers, a burst of commits makes one wake-up call, not one per commit
// (the bit is clear until a sleeper needs it again). A sleeper that was
// asleep and then claims a slot passes the wake-up on: if the direction
// is still ready after its claim, it wakes one more sleeper the same way
// (Ring.passOn). So ten thousand goroutines asleep on one ring cost one
// wake-up per message, not ten thousand, and a backlog is taken by a
// chain of sleepers, each woken by the one before.
//
// Why no wake-up is lost. All the operations are sequentially consistent
// atomics (Go's sync/atomic), so they have one total order; a batch's
// release stores are not, but the fence after its last one (sw.Fence, a
// locked instruction) orders them all before its load of the epoch,
// which is all the argument below uses of them. Take a
// publisher that stored a slot state S and then loaded the epoch, and a
// sleeper that waits on value e (bit set) and is still asleep, so that
// without a wake-up nobody would take S. (1) If the load came before the
// sleeper's setting or observing of e, the store of S came before too,
// and the sleeper's re-check, which follows, sees S: it does not sleep.
// (2) If the load returned e, the publisher changes the word from e (or
// another waker did first) and wakes one: the kernel (or, on Windows, the
// waiter queue, which queues the sleeper before it re-checks the word)
// checks the value and queues a sleeper atomically, so a sleeper on e
// either finds the word changed and returns at once, or is queued and
// can be woken. (3) If the load returned a later value, the word changed
// from e after the sleeper saw it, and every change away from a value
// with the bit set is made by a waker or a cancellation that then wakes:
// the same as (2). In (2) and (3) the woken sleeper W may not be the one
// we took, which is then passed over, asleep with the bit clear. W is out
// of the kernel's queue and runs: it sets the bit again, then re-checks.
// A publication whose epoch load came after that sees the bit and wakes
// (case 2 again); one whose load came before, stored its slot state
// before W's re-check: W claims one slot of what is there and, if any is
// left ready, wakes one more (passOn), which does the same; or W finds
// the slot taken by a claimant that was not asleep. Either way every
// ready slot has a claimant on its way until no slot is left ready, and
// a passed-over sleeper is left asleep only while none is. If W's
// process is killed before it re-checks, the sleepers it was woken for
// stay asleep with a message ready until their slice ends (RingWaitSlice,
// below): a dead waiter costs a slice, as a dead claimant does. Spurious
// wake-ups are harmless: every sleeper re-checks. A sleeper that
// succeeds on its re-check leaves the bit set, so a later publisher may
// make one needless wake-up call. Sleeps are also bounded to
// RingWaitSlice, which is when a sleeper checks whether the claimant it
// waits behind is still alive. A WaitSet watching a ring is a sleeper that
// takes nothing: when it finds the ring ready after a wake-up, it passes
// one on (see ringSource).
//
// # Dead producers and consumers
//
// A process is named in the ring by its token: 32 random bits, never 0,
// drawn once when it starts (internal/live), not its pid. A producer
// claims slot pos by writing (seq=pos, owner=its token) and commits by
// writing (pos+1, 0); a consumer claims by writing (pos+1, its token) and
// releases by writing (pos+capacity, 0). If a claimant dies in between,
// the slot keeps its token.
//
// Who is dead is the kernel's word, never a guess. A process that maps a
// MemFile joins the segment's liveness domain and holds a lock there that
// the kernel drops when the process dies, however it dies (an
// open-file-description lock on byte <token> of the segment's file on
// Linux, a record lock on macOS and FreeBSD, a named event on Windows;
// see internal/live). A claimant is judged dead only when the domain of
// the mapping the ring lies in says that its lock is gone. Memory in no
// tracked mapping (a Ring over a Go slice, or over a mapping the caller
// made itself) never has a dead claimant: its waiters wait, or time out
// under their context, and nothing there is ever repaired. Every process
// that uses a ring must therefore reach it through a tracked mapping of
// the segment (a MemFile): one that did not would hold no lock, and
// would look dead to the others while it holds a claim.
//
// A blocked Recv that finds the slot at head claimed by a producer judged
// dead (checked once per sleep slice, RingWaitSlice) claims the slot
// itself, releases it without delivering anything and moves on; a blocked
// Send that finds the slot at tail still claimed by a dead consumer frees
// it for its own lap (the message the dead consumer was reading is gone
// with it). Every repair is a compare-and-swap against the exact slot
// state that names the dead token, read again at the current head or
// tail, and head and tail move only past a slot whose state proves that
// its position was taken: a claimant that is alive never loses its slot,
// and a repairer that acts on a stale sighting (the slot was repaired and
// reused since) changes nothing. TrySend and TryRecv make no system calls
// and so do not repair; Reclaim does, for code that only polls. An
// initialiser that dies before the ring is ready is taken over the same
// way (see InitRing).
//
// Tokens and the kernel's locks mean the same in every pid namespace, so
// processes in different pid namespaces (the containers of one pod,
// sharing /dev/shm) may share a ring, and a pid reused by a new process
// changes nothing. A token drawn again by a new process after its holder
// died (probability 2^-32 per process start) makes the dead holder's
// claims look alive: those slots stay wedged while the new holder uses
// the segment, which is never unsafe. A sleeper that is killed leaves at
// most the sleeper bit set, which costs the next publisher one needless
// wake-up call.
//
// # Layout
//
// All words are native-endian (every supported CPU is little-endian) and
// the memory must be 8-byte aligned. The header takes RingHeaderSize bytes:
//
//	offset size field
//	0      8    state      initialisation (see InitRing): low 32 bits 0 untouched,
//	                       1 being initialised, 2 ready (written last); high 32
//	                       bits the initialiser's token while 1, the magic once 2
//	4      4    magic      "SHRG" (0x47524853), the high half of the ready state
//	8      4    version    ringVersion (2)
//	12     4    slotSize   payload bytes per slot: the largest message, 1..2^30
//	16     4    capacity   number of slots, a power of two, 2..2^30
//	20     4    stride     bytes per slot: 16 + slotSize rounded up to 64
//	24     4    slotsOff   offset of slot 0 (= RingHeaderSize)
//	28     4    check      FNV-1a of bytes 4..28, magic included (catches a torn
//	                       or garbage header)
//	128    8    tail       next position to produce (own 128-byte line)
//	256    8    head       next position to consume (own line)
//	384    4    recvEpoch  consumers sleep on it; bit 0: a consumer may sleep (own line)
//	512    4    sendEpoch  producers sleep on it; bit 0: a producer may sleep (own line)
//	640         slot 0; slot i at 640 + i*stride
//
// Each slot:
//
//	offset size field
//	0      8    state    low 32 bits: sequence; high 32: token of the claimant, 0 if none
//	8      4    length   message length, or 0xFFFFFFFF for a slot to skip (Abort);
//	                     written and read only by the slot's claimant (see ring_slot.go)
//	12     4    (zero)
//	16          payload, slotSize bytes (padding up to stride)
//
// Version 1 had the same offsets but recorded claimants by pid, with a
// 32-bit state word that named no initialiser; RingAt and InitRing refuse
// it (and anything but version 2) with ErrVersion. Every version keeps the
// magic at offset 4 and the version at offset 8, so that any of them is
// recognised.
//
// A Ring value is a per-process handle: it holds pointers into the memory
// and this process's token, and is safe for concurrent use by any number of
// goroutines.
type Ring struct {
	b         []byte
	slots     unsafe.Pointer // &b[ringSlotsOff]
	stride    uintptr
	mask      uint64
	capacity  uint64
	slotSize  int
	token     uint32 // this process (internal/live), recorded in claims
	tail      *sw.Uint64
	head      *sw.Uint64
	recvEpoch *sw.Uint32
	sendEpoch *sw.Uint32
}

// Header geometry; see the layout table on Ring.
const (
	// RingHeaderSize is the number of bytes before slot 0.
	RingHeaderSize = 640

	ringMagic      = 0x47524853 // "SHRG" little-endian
	ringVersion    = 2
	ringSlotHdr    = 16
	ringSlotAlign  = 64
	ringMaxSlot    = 1 << 30
	ringMaxCap     = 1 << 30
	ringStateOff   = 0
	ringMagicOff   = 4 // the state word's high half: read only through it
	ringVersionOff = 8
	ringSlotOff    = 12
	ringCapOff     = 16
	ringStrideOff  = 20
	ringSlotsOff   = 24
	ringCheckOff   = 28
	ringTailOff    = 128
	ringHeadOff    = 256
	ringRecvOff    = 384
	ringSendOff    = 512

	// Phases of the header state word (its low 32 bits); see ringInit.
	ringUntouched = 0
	ringIniting   = 1
	ringReady     = 2
	// ringReadyState is the whole state word of a ready ring.
	ringReadyState = ringReady | ringMagic<<32

	// ringSkip in a slot's length field marks a slot with nothing to
	// deliver (an aborted send).
	ringSkip = ^uint32(0)
)

// RingWaitSlice bounds one sleep of a blocked Send or Recv. After each
// slice without progress the sleeper asks whether the claimant it waits
// behind is dead (the kernel's word, see Ring), so a dead claimant delays
// the ring by about this much.
const RingWaitSlice = 50 * time.Millisecond

// ringInitWait bounds how long InitRing waits for a concurrent
// initialiser that is alive (a variable for tests).
var ringInitWait = 2 * time.Second

// RingSize returns the number of bytes a Ring of capacity slots of
// slotSize payload bytes each occupies, or 0 if the geometry is invalid
// (InitRing then says why).
func RingSize(slotSize, capacity int) int {
	if ringGeometryErr(slotSize, capacity) != nil {
		return 0
	}
	n := uint64(RingHeaderSize) + uint64(capacity)*uint64(ringStride(slotSize))
	if n > uint64(maxInt) {
		return 0
	}
	return int(n)
}

const maxInt = int(^uint(0) >> 1)

// ringStride is the distance between slots: header plus payload, rounded
// up to 64 bytes so that neighbouring slots (written by different
// processes at the same time) do not share a cache line.
func ringStride(slotSize int) int {
	return (ringSlotHdr + slotSize + ringSlotAlign - 1) &^ (ringSlotAlign - 1)
}

func ringGeometryErr(slotSize, capacity int) error {
	if slotSize < 1 || slotSize > ringMaxSlot {
		return fmt.Errorf("memfile: ring slot size %d out of range 1..%d", slotSize, ringMaxSlot)
	}
	if capacity < 2 || capacity > ringMaxCap || capacity&(capacity-1) != 0 {
		return fmt.Errorf("memfile: ring capacity %d is not a power of two in 2..%d", capacity, ringMaxCap)
	}
	return nil
}

// InitRing lays out a Ring of capacity slots of slotSize bytes in b and
// returns a handle to it. b must be 8-byte aligned, at least
// RingSize(slotSize, capacity) bytes long and start zeroed (its first 8
// bytes, the state word, at least: InitRing writes every other header and
// slot word itself).
//
// Several processes may call InitRing on the same bytes at once: one
// initialises, the others wait (up to two seconds) for it and get the same
// ring. If the initialiser died before it finished (the kernel's word, as
// for a claimant: see Ring), the next InitRing takes over and lays the
// ring out again; one that is alive is never taken over, and an
// initialiser that is not known to be dead (in memory outside a tracked
// mapping, never) is waited for until the two seconds are up, which
// fails with an error wrapping ErrNotReady. InitRing on an already
// initialised ring returns it when its geometry matches and an error
// otherwise.
func InitRing(b []byte, slotSize, capacity int) (*Ring, error) {
	if err := ringGeometryErr(slotSize, capacity); err != nil {
		return nil, err
	}
	if need := RingSize(slotSize, capacity); need == 0 || len(b) < need {
		return nil, fmt.Errorf("memfile: ring needs %d bytes, have %d", need, len(b))
	}
	if uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		return nil, errRingAlign
	}
	if err := ringInit(b, slotSize, capacity); err != nil {
		return nil, err
	}
	r, err := RingAt(b)
	if err != nil {
		return nil, err
	}
	if r.slotSize != slotSize || int(r.capacity) != capacity {
		return nil, fmt.Errorf("memfile: ring already initialised with slot size %d, capacity %d", r.slotSize, r.capacity)
	}
	return r, nil
}

var errRingAlign = fmt.Errorf("memfile: ring memory not 8-byte aligned")

// The header state word (64 bits at offset 0; T, D: process tokens,
// never 0; magic: ringMagic, so that a ready header reads "SHRG" at
// offset 4):
//
//	0                 untouched
//	1 | T<<32         being initialised by the process whose token is T
//	2 | magic<<32     ready: header and every slot written
//
// Transitions, each one compare-and-swap from the exact word on the left:
//
//	0             -> 1 | T<<32      InitRing by T
//	1 | D<<32     -> 1 | T<<32      InitRing by T, D judged dead: T lays out again
//	1 | T<<32     -> 2 | magic<<32  InitRing by T, after the layout
//
// Nothing leaves the ready state. An initialiser that is alive, or not
// known to be dead, is waited for; a process never judges its own token
// (another goroutine of it is initialising). A being-initialised word
// whose token is the magic was left by a version 1 initialiser, whose
// 32-bit state word was followed by the magic it wrote before it
// finished: it is never taken over (its RingAt then refuses the version).
// An initialiser whose final compare-and-swap fails was taken over by a
// process that judged it dead, which only a process outside the segment's
// liveness domain can make happen; it then waits like any other.

// ringInitState is the state word of a ring being initialised by token.
func ringInitState(token uint32) uint64 { return ringIniting | uint64(token)<<32 }

// ringInitGone reports whether the initialiser token, read from the
// being-initialised state word of b, is dead: its initialisation may be
// taken over.
func ringInitGone(b []byte, token uint32) bool {
	return token != 0 && token != self() && token != ringMagic && gone(unsafe.Pointer(&b[0]), token)
}

// ringInit drives the header state word to ready: it lays the ring out if
// the word is untouched or names a dead initialiser, and otherwise waits
// (up to ringInitWait) for the live initialiser it names. A word in any
// other state is left for RingAt to judge.
func ringInit(b []byte, slotSize, capacity int) error {
	return initHeaderWord(b, "ring", ringReadyState, func() { ringLayout(b, slotSize, capacity) })
}

// initHeaderWord is the header state machine above for any layout that
// uses it (the Ring, the Broadcast): the state word at b[0:8] goes to
// ready (the layout's magic in the high half) once layout has run, by
// this process or by the live initialiser it waits for; a dead
// initialiser is taken over. what names the layout in errors.
func initHeaderWord(b []byte, what string, ready uint64, layout func()) error {
	state := ringWord64(b, ringStateOff)
	mine := ringInitState(self())
	deadline := sw.Now().Add(ringInitWait)
	for {
		w := state.Load()
		switch {
		case w == ringUntouched:
			if !state.CompareAndSwap(w, mine) {
				continue
			}
		case uint32(w) == ringIniting:
			if tok := uint32(w >> 32); !ringInitGone(b, tok) || !state.CompareAndSwap(w, mine) {
				if sw.Now().After(deadline) {
					return fmt.Errorf("memfile: %s: initialiser (token %08x) never finished: %w: %w", what, tok, ErrNotReady, ErrCorrupt)
				}
				sw.Sleep(time.Millisecond)
				continue
			}
		default:
			return nil // ready, or garbage that the layout's At names
		}
		layout()
		if state.CompareAndSwap(mine, ready) {
			return nil
		}
	}
}

// ringLayout writes the header fields and every slot's initial state, all
// but the state word (and the magic, its high half once ready).
func ringLayout(b []byte, slotSize, capacity int) {
	ne := binary.NativeEndian
	ne.PutUint32(b[ringVersionOff:], ringVersion)
	ne.PutUint32(b[ringSlotOff:], uint32(slotSize))
	ne.PutUint32(b[ringCapOff:], uint32(capacity))
	ne.PutUint32(b[ringStrideOff:], uint32(ringStride(slotSize)))
	ne.PutUint32(b[ringSlotsOff:], RingHeaderSize)
	ne.PutUint32(b[ringCheckOff:], ringChecksum(b))
	ringWord64(b, ringTailOff).Store(0)
	ringWord64(b, ringHeadOff).Store(0)
	ringWord32(b, ringRecvOff).Store(0)
	ringWord32(b, ringSendOff).Store(0)
	stride := ringStride(slotSize)
	for i := range capacity {
		off := RingHeaderSize + i*stride
		ringWord64(b, off).Store(uint64(uint32(i)))
		ringWord32(b, off+8).Store(0)
	}
}

// ringChecksum is the header check: FNV-1a of bytes 4..28, where bytes
// 4..8 are taken to be the magic (the high half of the state word, which
// holds the initialiser's token until the ring is ready).
func ringChecksum(b []byte) uint32 {
	var magic [4]byte
	binary.NativeEndian.PutUint32(magic[:], ringMagic)
	h := fnv.New32a()
	h.Write(magic[:])
	h.Write(b[ringVersionOff:ringCheckOff])
	return h.Sum32()
}

// RingAt returns a handle to the Ring that InitRing laid out in b (by this
// or another process). It validates the stored geometry against len(b): a
// header no InitRing could have written is reported as an error wrapping
// ErrCorrupt that names the field (ErrVersion for another layout version);
// it never panics or reads outside b, whatever b holds. Bytes that no
// InitRing has finished with yet also match ErrNotReady; when the
// initialiser they name is dead, the message says so: InitRing takes
// over (RingAt, which does not know the geometry, never initialises).
func RingAt(b []byte) (*Ring, error) {
	if len(b) < RingHeaderSize {
		return nil, ringFieldErr("length", "%d bytes, header alone needs %d", len(b), RingHeaderSize)
	}
	if uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		return nil, errRingAlign
	}
	// Both sentinels for a ring not ready: to an opener that raced the
	// creator this is "not ready yet"; to one handed arbitrary bytes,
	// "corrupt".
	w := ringWord64(b, ringStateOff).Load()
	switch phase, high := uint32(w), uint32(w>>32); {
	case w == ringUntouched:
		return nil, fmt.Errorf("memfile: ring header state: 0 (not initialised): %w: %w", ErrNotReady, ErrCorrupt)
	case phase == ringIniting:
		gone := ""
		if ringInitGone(b, high) {
			gone = ", which is gone (InitRing takes over)"
		}
		return nil, fmt.Errorf("memfile: ring header state: being initialised by token %08x%s: %w: %w", high, gone, ErrNotReady, ErrCorrupt)
	case phase != ringReady:
		return nil, ringFieldErr("state", "%#x", w)
	}
	slotSize, capacity, err := ringCheckHeader(b, uint32(w>>32))
	if err != nil {
		return nil, err
	}
	return ringHandle(b, slotSize, capacity), nil
}

// ringCheckHeader validates the fixed header fields and returns the
// geometry. magic is the high half of the state word, as RingAt loaded it:
// bytes 4..8 are read only atomically, through that word, because another
// InitRing may compare-and-swap it at any time (and fail), which the race
// detector counts as a write.
func ringCheckHeader(b []byte, magic uint32) (slotSize, capacity int, err error) {
	ne := binary.NativeEndian
	if m := magic; m != ringMagic {
		return 0, 0, ringFieldErr("magic", "%#x", m)
	}
	if c := ne.Uint32(b[ringCheckOff:]); c != ringChecksum(b) {
		return 0, 0, ringFieldErr("check", "%#x does not match the header", c)
	}
	if v := ne.Uint32(b[ringVersionOff:]); v != ringVersion {
		return 0, 0, fmt.Errorf("memfile: ring version %d, want %d: %w", v, ringVersion, ErrVersion)
	}
	slotSize = int(ne.Uint32(b[ringSlotOff:]))
	capacity = int(ne.Uint32(b[ringCapOff:]))
	if ringGeometryErr(slotSize, 2) != nil {
		return 0, 0, ringFieldErr("slotSize", "%d", slotSize)
	}
	if ringGeometryErr(1, capacity) != nil {
		return 0, 0, ringFieldErr("capacity", "%d", capacity)
	}
	if s := ne.Uint32(b[ringStrideOff:]); int(s) != ringStride(slotSize) {
		return 0, 0, ringFieldErr("stride", "%d for slot size %d", s, slotSize)
	}
	if o := ne.Uint32(b[ringSlotsOff:]); o != RingHeaderSize {
		return 0, 0, ringFieldErr("slotsOff", "%d", o)
	}
	if need := RingSize(slotSize, capacity); need == 0 || need > len(b) {
		return 0, 0, ringFieldErr("capacity", "%d slots of %d bytes need %d bytes, have %d", capacity, slotSize, need, len(b))
	}
	return slotSize, capacity, nil
}

func ringFieldErr(field, format string, args ...any) error {
	return fmt.Errorf("memfile: ring header %s: %s: %w", field, fmt.Sprintf(format, args...), ErrCorrupt)
}

// SlotSize returns the largest message the ring carries, in bytes.
func (r *Ring) SlotSize() int { return r.slotSize }

// Cap returns the number of slots.
func (r *Ring) Cap() int { return int(r.capacity) }

// Len returns an estimate of the number of messages claimed for sending
// and not yet claimed for receiving; exact only when the ring is quiet.
func (r *Ring) Len() int {
	h, t := r.head.Load(), r.tail.Load()
	if t <= h {
		return 0
	}
	if t-h > r.capacity {
		return int(r.capacity)
	}
	return int(t - h)
}
