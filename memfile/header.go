package memfile

import (
	"encoding/binary"
	"fmt"
	sw "github.com/shmx/shmx/internal/word"
	"hash/crc32"
	"time"
	"unsafe"
)

// Header layout, version 5. Version 1 named processes by pid and had no
// participant table; version 2 had the same header but locks whose waiter
// counts had no epoch (see Mutex: a build of version 2 and one of version
// 3 would misread each other's counts); version 3 had the RWMutex of 288
// bytes, whose reader slots shared cache lines (a build of version 3 and
// one of version 4 would look for the slots in different places); version
// 4 had the same bytes, but the waiter counts of its Events, Conds and
// RWMutex gates ended their epoch with the count (see waitCount: a build
// of version 4 would take the epoch a count of version 5 keeps while
// empty for a live registration). All are refused with ErrVersion. See the table in the package documentation;
// every field is fixed-width little-endian so that 32- and 64-bit, amd64
// and arm64 processes agree on it.
const (
	offMagic     = 0  // [8]byte "SHMXFILE"
	offState     = 8  // uint32, written last with an atomic store
	offVersion   = 12 // uint32 layout version
	offHdrSize   = 16 // uint32 size of the fixed header
	offLockType  = 20 // uint8
	offReserved1 = 21 // uint8, zero
	offEvents    = 22 // uint16 event count
	offLockOff   = 24 // uint32
	offLockSize  = 28 // uint32
	offEventsOff = 32 // uint32
	offStride    = 36 // uint32 distance between events
	offDataOff   = 40 // uint64
	offDataSize  = 48 // uint64
	offPid       = 56 // uint32 creator's process id (in its own pid namespace)
	offToken     = 60 // uint32 creator's token (internal/live), never 0
	offChecksum  = 64 // uint32 CRC-32 (IEEE) of bytes [0,8) and [12,64)
	offReserved2 = 68 // zero up to hdrSize

	// hdrSize is the size of the fixed header; the participant table
	// follows it, then the lock.
	hdrSize = 128
	// regionAlign aligns the lock, the events and the user data, so that
	// each starts on its own cache line on every CPU shmx supports.
	regionAlign = 128
	// layoutVersion is the version this package writes and reads.
	layoutVersion = 5
	// MaxEvents is the largest event count a header can hold.
	MaxEvents = 1024

	// stateInit is the state of a fresh (zero-filled) segment whose
	// creator has not finished writing the header; stateReady ("REDY" in
	// memory order) means every other field is final. Any other value is
	// corruption.
	stateInit  = 0
	stateReady = 0x59444552
)

const magic = "SHMXFILE"

// LockType says which lock, if any, a MemFile's header holds to protect
// the user data. It is stored in the header, so openers use the creator's.
type LockType uint8

const (
	// LockNone: no lock; Read and Write just call their function.
	LockNone LockType = iota
	// LockMutex: a Mutex; readers exclude each other too (RLock = Lock).
	LockMutex
	// LockRWMutex: an RWMutex; readers share, a writer is exclusive.
	LockRWMutex
)

// String returns the name of the constant.
func (t LockType) String() string {
	switch t {
	case LockNone:
		return "LockNone"
	case LockMutex:
		return "LockMutex"
	case LockRWMutex:
		return "LockRWMutex"
	}
	return fmt.Sprintf("LockType(%d)", uint8(t))
}

// HeaderInfo is the decoded, validated content of a MemFile header.
type HeaderInfo struct {
	Version     uint32   // layout version (1)
	HeaderSize  uint32   // size of the fixed header (128)
	Lock        LockType // lock kind protecting the user data
	Events      int      // number of events
	LockOffset  int      // offset of the lock, 0 for LockNone
	LockSize    int      // size of the lock, 0 for LockNone
	EventOffset int      // offset of event 0, 0 without events
	EventStride int      // distance between consecutive events
	DataOffset  int      // offset of the user data
	DataSize    int      // size of the user data
	CreatorPID  uint32   // process id of the creator, in its pid namespace
	// CreatorToken names the creator for liveness (internal/live): unlike
	// a pid it means the same in every pid namespace and is not reused.
	CreatorToken uint32
	// ParticipantOffset and Participants place the participant table:
	// one ParticipantSize entry per process that has the segment open for
	// writing (as many as fit), for inspection tools.
	ParticipantOffset int
	Participants      int
}

// layoutFor computes where everything goes for a lock type and an event
// count. The layout is a pure function of these two, so a reader can check
// every offset field against it instead of trusting it.
func layoutFor(lt LockType, events int) HeaderInfo {
	h := HeaderInfo{Version: layoutVersion, HeaderSize: hdrSize, Lock: lt, Events: events}
	end := hdrSize
	h.ParticipantOffset, h.Participants = end, maxParticipants
	end = alignUp(end+maxParticipants*ParticipantSize, regionAlign)
	if lt != LockNone {
		h.LockOffset, h.LockSize = end, lockSize(lt)
		end = alignUp(end+h.LockSize, regionAlign)
	}
	if events > 0 {
		h.EventOffset, h.EventStride = end, alignUp(EventSize, regionAlign)
		end += events * h.EventStride
	}
	h.DataOffset = end
	return h
}

// lockSize is the size of the lock of type lt in the segment.
func lockSize(lt LockType) int {
	switch lt {
	case LockMutex:
		return MutexSize
	case LockRWMutex:
		return RWMutexSize
	}
	return 0
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }

// encodeHeader writes every field of h except the state word into b, which
// must be zero and at least hdrSize long. The caller publishes it with
// markReady once the lock and events are in place.
func encodeHeader(b []byte, h HeaderInfo) {
	le := binary.LittleEndian
	copy(b[offMagic:], magic)
	le.PutUint32(b[offVersion:], h.Version)
	le.PutUint32(b[offHdrSize:], h.HeaderSize)
	b[offLockType] = byte(h.Lock)
	le.PutUint16(b[offEvents:], uint16(h.Events))
	le.PutUint32(b[offLockOff:], uint32(h.LockOffset))
	le.PutUint32(b[offLockSize:], uint32(h.LockSize))
	le.PutUint32(b[offEventsOff:], uint32(h.EventOffset))
	le.PutUint32(b[offStride:], uint32(h.EventStride))
	le.PutUint64(b[offDataOff:], uint64(h.DataOffset))
	le.PutUint64(b[offDataSize:], uint64(h.DataSize))
	le.PutUint32(b[offPid:], h.CreatorPID)
	le.PutUint32(b[offToken:], h.CreatorToken)
	le.PutUint32(b[offChecksum:], checksum(b))
}

// checksum covers the magic and every fixed field but the state word
// (which changes after the checksum is written) and itself.
func checksum(b []byte) uint32 {
	c := crc32.ChecksumIEEE(b[offMagic:offState])
	return crc32.Update(c, crc32.IEEETable, b[offVersion:offChecksum])
}

// ParseHeader decodes and validates the header at the start of b, the
// whole mapping of a segment. It is exported for tools and fuzzing; Open
// uses it once the header is ready. Every offset and size is checked
// against len(b) before use (overflow-safe), so a HeaderInfo it returns
// without error can be used to slice b. Errors wrap ErrCorrupt,
// ErrVersion, or ErrNotReady (creator still initialising), and name the
// field that is wrong. It never panics.
func ParseHeader(b []byte) (HeaderInfo, error) { return parseHeader(b, int64(len(b))) }

// ParseHeaderPrefix is ParseHeader for tools that read the first bytes
// of a segment (with read(2), say) instead of mapping it all: prefix is
// the segment's first bytes, at least the 128-byte header, and total the
// segment's size, which the data offset and size are checked against.
// The offsets of the HeaderInfo count from the start of the segment;
// prefix may end before DataOffset (the header alone fixes the layout),
// so a caller reads DataOffset bytes, or checks len(prefix), before it
// slices the lock or the events out of prefix.
func ParseHeaderPrefix(prefix []byte, total int64) (HeaderInfo, error) {
	if total < int64(len(prefix)) {
		return HeaderInfo{}, fmt.Errorf("memfile: ParseHeaderPrefix: %d-byte prefix of a %d-byte segment", len(prefix), total)
	}
	return parseHeader(prefix, total)
}

// parseHeader decodes the header at the start of b, the first bytes of a
// segment of total bytes (total >= len(b)).
func parseHeader(b []byte, total int64) (HeaderInfo, error) {
	if len(b) < hdrSize {
		return HeaderInfo{}, fieldErr("size", "mapping of %d bytes is smaller than the %d-byte header", len(b), hdrSize)
	}
	if string(b[offMagic:offMagic+len(magic)]) != magic {
		return HeaderInfo{}, fieldErr("magic", "%q, want %q", b[offMagic:offMagic+len(magic)], magic)
	}
	le := binary.LittleEndian
	switch st := le.Uint32(b[offState:]); st {
	case stateReady:
	case stateInit:
		return HeaderInfo{}, fmt.Errorf("memfile: header init state: %w", ErrNotReady)
	default:
		return HeaderInfo{}, fieldErr("init state", "%#x", st)
	}
	h := HeaderInfo{
		Version:    le.Uint32(b[offVersion:]),
		HeaderSize: le.Uint32(b[offHdrSize:]),
		Lock:       LockType(b[offLockType]),
		Events:     int(le.Uint16(b[offEvents:])),
		CreatorPID: le.Uint32(b[offPid:]),
	}
	if h.Version != layoutVersion {
		return HeaderInfo{}, fmt.Errorf("memfile: header layout version %d, this build reads %d: %w", h.Version, layoutVersion, ErrVersion)
	}
	if err := checkFixed(b, h); err != nil {
		return HeaderInfo{}, err
	}
	want := layoutFor(h.Lock, h.Events)
	if err := checkLayout(b, want, total); err != nil {
		return HeaderInfo{}, err
	}
	want.CreatorPID, want.CreatorToken = h.CreatorPID, le.Uint32(b[offToken:])
	dataSize := le.Uint64(b[offDataSize:])
	if dataSize > uint64(total)-uint64(want.DataOffset) { // DataOffset <= total checked
		return HeaderInfo{}, fieldErr("data size", "%d at offset %d overruns the %d-byte mapping", dataSize, want.DataOffset, total)
	}
	want.DataSize = int(dataSize)
	if h.CreatorPID == 0 {
		return HeaderInfo{}, fieldErr("creator pid", "0 is no process")
	}
	if want.CreatorToken == 0 {
		return HeaderInfo{}, fieldErr("creator token", "0 is no process")
	}
	if got, sum := le.Uint32(b[offChecksum:]), checksum(b); got != sum {
		return HeaderInfo{}, fieldErr("checksum", "%#x, fields sum to %#x", got, sum)
	}
	return want, nil
}

// checkFixed validates the fields that have a single legal value or range.
func checkFixed(b []byte, h HeaderInfo) error {
	if h.HeaderSize != hdrSize {
		return fieldErr("header size", "%d, want %d", h.HeaderSize, hdrSize)
	}
	if h.Lock > LockRWMutex {
		return fieldErr("lock type", "%d is unknown", h.Lock)
	}
	if b[offReserved1] != 0 {
		return fieldErr("reserved", "byte %d is %#x", offReserved1, b[offReserved1])
	}
	for i := offReserved2; i < hdrSize; i++ {
		if b[i] != 0 {
			return fieldErr("reserved", "byte %d is %#x", i, b[i])
		}
	}
	if h.Events > MaxEvents {
		return fieldErr("event count", "%d, more than %d", h.Events, MaxEvents)
	}
	return nil
}

// checkLayout compares the offset fields of b with the layout they must
// have, and checks that the layout fits the segment's total bytes.
func checkLayout(b []byte, want HeaderInfo, total int64) error {
	le := binary.LittleEndian
	fields := []struct {
		name string
		got  uint64
		want int
	}{
		{"lock offset", uint64(le.Uint32(b[offLockOff:])), want.LockOffset},
		{"lock size", uint64(le.Uint32(b[offLockSize:])), want.LockSize},
		{"event offset", uint64(le.Uint32(b[offEventsOff:])), want.EventOffset},
		{"event stride", uint64(le.Uint32(b[offStride:])), want.EventStride},
		{"data offset", le.Uint64(b[offDataOff:]), want.DataOffset},
	}
	for _, f := range fields {
		if f.got != uint64(f.want) {
			return fieldErr(f.name, "%d, want %d for this lock type and event count", f.got, f.want)
		}
	}
	if int64(want.DataOffset) > total {
		return fieldErr("data offset", "%d is past the end of the %d-byte mapping", want.DataOffset, total)
	}
	return nil
}

// fieldErr reports a corrupt header field by name.
func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("memfile: header %s: %s: %w", field, fmt.Sprintf(format, args...), ErrCorrupt)
}

// stateWord returns the header's init state word as an atomic, or nil if b
// is too short or misaligned for one (never the case for a mapping, which
// starts on a page boundary).
func stateWord(b []byte) *sw.Uint32 {
	if len(b) < hdrSize {
		return nil
	}
	p := unsafe.Pointer(&b[offState])
	if uintptr(p)%4 != 0 {
		return nil
	}
	// Legal: 4 in-bounds, 4-byte aligned bytes; any bit pattern is a
	// valid uint32, and the mapping outlives every use of the header.
	return (*sw.Uint32)(p)
}

// markReady publishes a fully written header: the atomic store orders every
// earlier write of the creator before the state change an opener observes.
func markReady(b []byte) {
	stateWord(b).Store(stateReady)
}

// waitReady waits until the header's creator has marked it ready (or has
// written anything but the initial state there, which ParseHeader then
// judges), polling with a growing sleep, for at most timeout.
func waitReady(b []byte, timeout time.Duration) error {
	w := stateWord(b)
	if w == nil {
		return nil // ParseHeader reports the short or odd mapping
	}
	deadline := sw.Now().Add(timeout)
	sleep := 50 * time.Microsecond
	for w.Load() == stateInit {
		if sw.Now().After(deadline) {
			return fmt.Errorf("memfile: creator did not finish the header within %v: %w", timeout, ErrNotReady)
		}
		sw.Sleep(sleep)
		sleep = min(2*sleep, 10*time.Millisecond)
	}
	return nil
}
