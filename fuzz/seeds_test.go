package fuzz_test

import (
	"encoding/binary"
	"math"
	"strings"

	"github.com/shmx/shmx/memfile"
)

// headerSeeds: empty and truncated mappings, all zeros and all 0xFF,
// valid headers of every lock type with data ending exactly at the
// mapping's edge, and valid headers with one field changed, both with the
// stale checksum a stray write leaves and with a recomputed one (a
// hostile writer), so that every field check is reached on its own.
func headerSeeds() []seed {
	s := []seed{
		{"empty", []any{[]byte{}, uint32(0)}},
		{"one-byte", []any{[]byte{'S'}, uint32(0)}},
		{"zeros-127", []any{fill(127, 0), uint32(0)}},
		{"zeros-128", []any{fill(128, 0), uint32(0)}},
		{"zeros-4096", []any{[]byte{}, uint32(4096)}},
		{"ff-128", []any{fill(128, 0xff), uint32(0)}},
		{"ff-4096", []any{fill(4096, 0xff), uint32(0)}},
		{"ff-header-max-tail", []any{fill(128, 0xff), uint32(maxTail)}},
	}
	valid := func(lt memfile.LockType, events int, dataSize uint64) rawHeader {
		return validHeader(lt, events, dataSize)
	}
	// tail makes the mapping end exactly dataSize+extra bytes after the
	// data offset (extra < 0: the data overruns the mapping).
	tail := func(h rawHeader, extra int) uint32 {
		return uint32(int(h.dataOff) + int(h.dataSize) + extra - hdrLen)
	}
	for _, c := range []struct {
		name   string
		lt     memfile.LockType
		events int
		data   uint64
	}{
		{"none", memfile.LockNone, 0, 100},
		{"none-nodata", memfile.LockNone, 0, 0},
		{"mutex", memfile.LockMutex, 0, 4096},
		{"mutex-3ev", memfile.LockMutex, 3, 1},
		{"rwmutex-1ev", memfile.LockRWMutex, 1, 64},
		{"rwmutex-maxev", memfile.LockRWMutex, memfile.MaxEvents, 8},
		{"none-maxev", memfile.LockNone, memfile.MaxEvents, 0},
	} {
		h := valid(c.lt, c.events, c.data)
		s = append(s,
			seed{"valid-" + c.name + "-edge", []any{h.bytes(), tail(h, 0)}},
			seed{"valid-" + c.name + "-slack", []any{h.bytes(), tail(h, 1)}},
		)
		if h.dataOff+h.dataSize > hdrLen {
			s = append(s, seed{"valid-" + c.name + "-overrun", []any{h.bytes(), tail(h, -1)}})
		}
	}
	h := valid(memfile.LockNone, 0, 16)
	creator := h
	creator.pid, creator.token = math.MaxUint32, math.MaxUint32
	s = append(s,
		seed{"valid-creator-max", []any{creator.bytes(), tail(creator, 0)}},
		seed{"valid-table-ff", []any{append(h.bytes(), fill(partEnd-hdrLen, 0xff)...), tail(h, 0) - (partEnd - hdrLen)}},
		seed{"valid-truncated-in-table", []any{h.bytes(), uint32(partEnd - hdrLen - 1)}},
		seed{"valid-truncated-100", []any{h.bytes()[:100], uint32(0)}},
		seed{"valid-truncated-127", []any{h.bytes()[:127], uint32(0)}},
		seed{"valid-header-only-data-outside", []any{h.bytes(), uint32(0)}},
	)
	// Version-1 headers, complete and with a right checksum: the old
	// layout (lock right after the header, no participant table) must be
	// refused with ErrVersion, not misread.
	for _, c := range []struct {
		name   string
		lt     memfile.LockType
		events int
	}{{"none", memfile.LockNone, 0}, {"mutex-2ev", memfile.LockMutex, 2}, {"rwmutex-1ev", memfile.LockRWMutex, 1}} {
		v1 := v1Header(c.lt, c.events, 64)
		s = append(s, seed{"version-1-layout-" + c.name, []any{v1.bytes(), uint32(int(v1.dataOff) + int(v1.dataSize) - hdrLen)}})
	}
	base := valid(memfile.LockMutex, 2, 32)
	for _, e := range []struct {
		name string
		edit func(*rawHeader)
	}{
		{"state-init", func(h *rawHeader) { h.state = 0 }},
		{"state-garbage", func(h *rawHeader) { h.state = 0x12345678 }},
		{"version-0", func(h *rawHeader) { h.version = 0 }},
		{"version-1", func(h *rawHeader) { h.version = 1 }},
		{"version-3", func(h *rawHeader) { h.version = 3 }},
		{"version-4", func(h *rawHeader) { h.version = 4 }},
		{"version-6", func(h *rawHeader) { h.version = 6 }},
		{"version-max", func(h *rawHeader) { h.version = math.MaxUint32 }},
		{"version-2", func(h *rawHeader) { h.version = 2 }},
		{"hdrsize-64", func(h *rawHeader) { h.hdrSize = 64 }},
		{"hdrsize-max", func(h *rawHeader) { h.hdrSize = math.MaxUint32 }},
		{"locktype-3", func(h *rawHeader) { h.lock = 3 }},
		{"locktype-ff", func(h *rawHeader) { h.lock = 0xff }},
		{"locktype-rw", func(h *rawHeader) { h.lock = byte(memfile.LockRWMutex) }},
		{"locktype-none", func(h *rawHeader) { h.lock = byte(memfile.LockNone) }},
		{"reserved1", func(h *rawHeader) { h.reserved1 = 1 }},
		{"reserved2", func(h *rawHeader) { h.reserved2 = 0x80 }},
		{"events-3", func(h *rawHeader) { h.events = 3 }},
		{"events-max-plus-1", func(h *rawHeader) { h.events = memfile.MaxEvents + 1 }},
		{"events-ffff", func(h *rawHeader) { h.events = math.MaxUint16 }},
		{"lockoff-0", func(h *rawHeader) { h.lockOff = 0 }},
		{"lockoff-64", func(h *rawHeader) { h.lockOff = 64 }},
		{"lockoff-in-table", func(h *rawHeader) { h.lockOff = partOff }},
		{"lockoff-unaligned", func(h *rawHeader) { h.lockOff = 129 }},
		{"lockoff-max", func(h *rawHeader) { h.lockOff = math.MaxUint32 }},
		{"locksize-8", func(h *rawHeader) { h.lockSize = 8 }},
		{"locksize-max", func(h *rawHeader) { h.lockSize = math.MaxUint32 }},
		{"eventoff-0", func(h *rawHeader) { h.eventOff = 0 }},
		{"eventoff-in-table", func(h *rawHeader) { h.eventOff = partOff + 8 }},
		{"eventoff-overlap-lock", func(h *rawHeader) { h.eventOff = partEnd + 8 }},
		{"eventoff-max", func(h *rawHeader) { h.eventOff = math.MaxUint32 }},
		{"stride-0", func(h *rawHeader) { h.stride = 0 }},
		{"stride-16", func(h *rawHeader) { h.stride = 16 }},
		{"stride-max", func(h *rawHeader) { h.stride = math.MaxUint32 }},
		{"dataoff-0", func(h *rawHeader) { h.dataOff = 0 }},
		{"dataoff-in-header", func(h *rawHeader) { h.dataOff = 64 }},
		{"dataoff-in-table", func(h *rawHeader) { h.dataOff = partOff + 512 }},
		{"dataoff-past-end", func(h *rawHeader) { h.dataOff = 1 << 20 }},
		{"dataoff-int64-min", func(h *rawHeader) { h.dataOff = 1 << 63 }},
		{"dataoff-max", func(h *rawHeader) { h.dataOff = math.MaxUint64 }},
		{"datasize-plus-1", func(h *rawHeader) { h.dataSize++ }},
		{"datasize-int64-min", func(h *rawHeader) { h.dataSize = 1 << 63 }},
		{"datasize-max", func(h *rawHeader) { h.dataSize = math.MaxUint64 }},
		{"datasize-wraps-offset", func(h *rawHeader) { h.dataSize = math.MaxUint64 - h.dataOff + 1 }},
		{"pid-0", func(h *rawHeader) { h.pid = 0 }},
		{"token-0", func(h *rawHeader) { h.token = 0 }},
		{"pid-0-token-0", func(h *rawHeader) { h.pid, h.token = 0, 0 }},
		{"checksum", func(h *rawHeader) { h.badSum = true }},
	} {
		bad := base
		e.edit(&bad)
		t := uint32(int(base.dataOff) + int(base.dataSize) - hdrLen)
		stale := bad.bytes()
		copy(stale[64:68], base.bytes()[64:68]) // the old checksum
		s = append(s, seed{"field-" + e.name + "-fixed-sum", []any{bad.bytes(), t}})
		if !bad.badSum {
			s = append(s, seed{"field-" + e.name + "-stale-sum", []any{stale, t}})
		}
	}
	return s
}

// linkSeeds: a valid link file and each way of breaking one.
func linkSeeds() []seed {
	valid := encodeLink("shmx_4242_0123456789ab", 4096)
	id64 := strings.Repeat("a", maxOSIDLen)
	s := []seed{}
	for name, text := range map[string]string{
		"valid":                valid,
		"empty":                "",
		"newline":              "\n",
		"magic-only":           "shmx-link v1\n",
		"no-final-newline":     strings.TrimSuffix(valid, "\n"),
		"crlf":                 strings.ReplaceAll(valid, "\n", "\r\n"),
		"extra-line":           valid + "extra\n",
		"blank-line":           valid + "\n",
		"version-2":            strings.Replace(valid, "v1", "v2", 1),
		"version-empty":        strings.Replace(valid, "v1", "v", 1),
		"version-huge":         strings.Replace(valid, "v1", "v99999999999999999999", 1),
		"osid-empty":           encodeLink("", 4096),
		"osid-64":              encodeLink(id64, 4096),
		"osid-65":              encodeLink(id64+"a", 4096),
		"osid-slash":           encodeLink("a/b", 4096),
		"osid-backslash":       encodeLink(`a\b`, 4096),
		"osid-nul":             encodeLink("a\x00b", 4096),
		"osid-dotdot":          encodeLink("..", 4096),
		"osid-dot":             encodeLink(".", 4096),
		"osid-dash":            encodeLink("-rf", 4096),
		"osid-space":           encodeLink("a b", 4096),
		"osid-utf8":            encodeLink("séance", 4096),
		"osid-global":          encodeLink(`Global\shmx`, 4096),
		"osid-two-spaces":      "shmx-link v1\nosid  a\nsize 1\n",
		"size-0":               encodeLink("a", 0),
		"size-1":               encodeLink("a", 1),
		"size-2^62":            encodeLink("a", 1<<62),
		"size-2^62+1":          encodeLink("a", 1<<62+1),
		"size-maxint64":        encodeLink("a", math.MaxInt64),
		"size-2^64":            "shmx-link v1\nosid a\nsize 18446744073709551616\n",
		"size-20-digits":       "shmx-link v1\nosid a\nsize 99999999999999999999\n",
		"size-negative":        "shmx-link v1\nosid a\nsize -1\n",
		"size-plus":            "shmx-link v1\nosid a\nsize +1\n",
		"size-leading-zero":    "shmx-link v1\nosid a\nsize 01\n",
		"size-hex":             "shmx-link v1\nosid a\nsize 0x10\n",
		"size-empty":           "shmx-link v1\nosid a\nsize \n",
		"lines-swapped":        "shmx-link v1\nsize 4096\nosid a\n",
		"max-length":           encodeLink(id64, 1<<62) + strings.Repeat("x", 256-len(encodeLink(id64, 1<<62))),
		"over-max-length":      valid + strings.Repeat("x", 257-len(valid)),
		"ff":                   string(fill(64, 0xff)),
		"zeros":                string(fill(64, 0)),
		"trailing-space-osid":  "shmx-link v1\nosid a \nsize 1\n",
		"trailing-space-magic": "shmx-link v1 \nosid a\nsize 1\n",
	} {
		s = append(s, seed{name, []any{[]byte(text)}})
	}
	return s
}

// Mutex seed states, from the documented layout: bytes 0-3 the state
// (bit 0 locked; the other bits flags and a waiter count), 4-7 the token
// of the owning process, 8-15 reserved (a version-1 Mutex kept the pid
// and start-time hash of its last owner there).
func mutexState(low, owner uint32) []byte {
	b := make([]byte, memfile.MutexSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], low)
	le.PutUint32(b[4:], owner)
	return b
}

// withReserved returns a copy of the Mutex bytes m with garbage in the
// reserved bytes 8-15, as a version-1 owner record would have left.
func withReserved(m []byte) []byte {
	b := append([]byte(nil), m...)
	copy(b[8:], u32s(4242, 0x51a27))
	return b
}

// deadToken names a process in lock words that no process of the fuzzer
// is (this process's token is random: the chance it is this one is
// 2^-32). Over memory no MemFile maps nothing vouches either way, so such
// an owner is never judged dead there and waiters only time out; in a
// real segment (FuzzOpen) the kernel says it is dead and it is taken
// over.
const deadToken = 0x3ffffff0

// contendedOps makes every goroutine lock and unlock several times, with
// timeouts long enough to sleep and be woken, and each kind of op once.
var contendedOps = []byte{
	0x18, 0x58, 0x98, 0x1a, 0x5b, 0x9c, 0x18, 0x58,
	0x98, 0x1e, 0x5f, 0x9d, 0x22, 0x63, 0xa4, 0xd8,
}

// mutexSeeds: a clean Mutex under contention; garbage a dying process
// may leave (locked by a foreign token, dirty, starving, every waiter
// bit); a version-1 owner record in the reserved bytes; all 0xFF; a short
// state (zero-padded).
func mutexSeeds() []seed {
	ops := contendedOps
	return []seed{
		{"zero", []any{[]byte{}, ops}},
		{"zero-no-ops", []any{[]byte{}, []byte{}}},
		{"zero-one-lock", []any{[]byte{}, []byte{0x18}}},
		{"ff", []any{fill(memfile.MutexSize, 0xff), ops}},
		{"short-locked", []any{[]byte{1}, ops}},
		{"locked-foreign-token", []any{mutexState(1, deadToken), ops}},
		{"locked-foreign-token-v1-record", []any{withReserved(mutexState(1, deadToken)), ops}},
		{"locked-token-1", []any{mutexState(1, 1), ops}},
		{"locked-token-max", []any{mutexState(1, 0xffffffff), ops}},
		{"unlocked-token-left", []any{mutexState(0, deadToken), ops}},
		{"unlocked-v1-record", []any{withReserved(mutexState(0, 0)), ops}},
		{"dirty", []any{mutexState(8, 0), ops}},
		{"dirty-locked-foreign", []any{mutexState(9, deadToken), ops}},
		{"starving-no-waiters", []any{mutexState(4, 0), ops}},
		{"woken-no-waiters", []any{mutexState(2, 0), ops}},
		{"phantom-waiters", []any{mutexState(5<<4, 0), ops}},
		{"max-waiters", []any{mutexState(0xfffffff0, 0), ops}},
		{"max-waiters-locked-foreign", []any{mutexState(0xfffffff1, deadToken), ops}},
		{"max-waiters-starving", []any{mutexState(0xfffffff4, 0), ops}},
	}
}

// u32s lays out little-endian 32-bit words.
func u32s(words ...uint32) []byte {
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

// rwState builds RWMutex bytes from the documented layout (header version 5):
// the writer Mutex (16 bytes), rstate, gate, sleeping readers, 32
// reserved bytes, then slot i as (token, holds) at 64+64i, each followed
// by 56 reserved bytes, left zero.
func rwState(w []byte, rstate, gate, rwait uint32, slots map[int][2]uint32) []byte {
	b := make([]byte, memfile.RWMutexSize)
	copy(b, w)
	copy(b[16:], u32s(rstate, gate, rwait))
	for i, s := range slots {
		copy(b[64+64*i:], u32s(s[0], s[1]))
	}
	return b
}

// withV1Records returns a copy of the RWMutex bytes b with version-1
// reader records (pid, start-time hash) in reserved bytes: those after
// each slot word, where garbage must be ignored.
func withV1Records(b []byte) []byte {
	c := append([]byte(nil), b...)
	for i := range 16 {
		copy(c[72+64*i:], u32s(4242+uint32(i), 0x51a27))
	}
	return c
}

// rwmutexSeeds: clean, all 0xFF, a foreign writer, foreign readers in
// slots, every slot taken by foreign processes, a writer bit with no
// writer, dirty, version-1 reader records left in the reserved bytes.
func rwmutexSeeds() []seed {
	ops := contendedOps
	all := map[int][2]uint32{}
	for i := range 16 {
		all[i] = [2]uint32{deadToken + uint32(i), 1}
	}
	deadWriter := mutexState(1, deadToken)
	return []seed{
		{"zero", []any{[]byte{}, ops}},
		{"zero-readers", []any{[]byte{}, []byte{0x1b, 0x5c, 0x9d, 0x1b, 0x5c, 0x9d}}},
		{"ff", []any{fill(memfile.RWMutexSize, 0xff), ops}},
		{"dead-writer", []any{rwState(deadWriter, 1, 0, 0, nil), ops}},
		{"dead-writer-sleeping", []any{rwState(deadWriter, 3, 7, 2, nil), ops}},
		{"writer-bit-no-writer", []any{rwState(nil, 1, 0, 0, nil), ops}},
		{"dirty", []any{rwState(nil, 4, 0, 0, nil), ops}},
		{"dead-reader", []any{rwState(nil, 0, 0, 0, map[int][2]uint32{3: {deadToken, 2}}), ops}},
		{"every-slot-dead", []any{rwState(nil, 0, 0, 0, all), ops}},
		{"slot-token-no-holds", []any{rwState(nil, 0, 0, 0, map[int][2]uint32{0: {deadToken, 0}}), ops}},
		{"slot-holds-no-token", []any{rwState(nil, 0, 0, 0, map[int][2]uint32{0: {0, 3}}), ops}},
		{"slot-max-holds", []any{rwState(nil, 0, 0, 0, map[int][2]uint32{0: {deadToken, math.MaxUint32}}), ops}},
		{"v1-records", []any{withV1Records(rwState(nil, 0, 0, 0, nil)), ops}},
		{"v1-records-dead-reader", []any{withV1Records(rwState(nil, 0, 0, 0, map[int][2]uint32{5: {deadToken, 1}})), ops}},
		{"phantom-sleeping-readers", []any{rwState(nil, 0, 0, math.MaxUint32, nil), ops}},
		{"short", []any{[]byte{1, 0, 0, 0, 0xf0, 0xff, 0xff, 0x3f}, ops}},
		{"writer-max-waiters", []any{rwState(mutexState(0xfffffff0, 0), 0, 0, 0, nil), ops}},
	}
}

// eventOps sets, resets and waits from every goroutine.
var eventOps = []byte{0x1b, 0x5b, 0x80, 0x18, 0x5a, 0x9c, 0x1d, 0x41, 0x9b, 0x1e, 0x5f, 0x80, 0x1b, 0x5c, 0x82, 0x18}

// eventSeeds: auto and manual, set and not, all 0xFF, unknown state bits,
// phantom and wrapped waiter counts, garbage reserved bytes.
func eventSeeds() []seed {
	ops := eventOps
	return []seed{
		{"zero", []any{[]byte{}, ops}},
		{"zero-waits-only", []any{[]byte{}, []byte{0x1b, 0x5b, 0x9b}}},
		{"auto-set", []any{u32s(1, 0), ops}},
		{"manual", []any{u32s(2, 0), ops}},
		{"manual-set", []any{u32s(3, 0), ops}},
		{"ff", []any{fill(memfile.EventSize, 0xff), ops}},
		{"unknown-bits", []any{u32s(0xfffffffc, 0), ops}},
		{"phantom-waiters", []any{u32s(0, 5), ops}},
		{"waiters-wrap", []any{u32s(0, math.MaxUint32), ops}},
		{"manual-waiters-wrap", []any{u32s(3, math.MaxUint32), ops}},
		{"reserved-garbage", []any{u32s(0, 0, 0xdeadbeef, 0xdeadbeef), ops}},
	}
}

// condOps signals, broadcasts and waits from every goroutine.
var condOps = []byte{0x02, 0x42, 0x80, 0x03, 0x41, 0x82, 0x00, 0x43}

// condSeeds: zero, a wrapped sequence, phantom and wrapped waiter counts,
// all 0xFF, and garbage in the reserved bytes.
func condSeeds() []seed {
	ops := condOps
	return []seed{
		{"zero", []any{[]byte{}, ops}},
		{"seq-wrap", []any{u32s(math.MaxUint32, 0), ops}},
		{"phantom-waiters", []any{u32s(7, 5), ops}},
		{"waiters-wrap", []any{u32s(0, math.MaxUint32), ops}},
		{"ff", []any{fill(memfile.CondSize, 0xff), ops}},
		{"reserved-garbage", []any{u32s(1, 0, 0xdeadbeef, 0xdeadbeef), ops}},
	}
}

// semOps acquires and releases one or two units from every goroutine,
// with every kind of operation once.
var semOps = []byte{0x18, 0x58, 0x98, 0x3a, 0x7b, 0xbc, 0x1d, 0x58, 0x98, 0x38, 0x79, 0xba, 0x1e, 0x5a, 0x9b, 0x18}

// semaphoreSeeds: empty, with units, bounded and not, all 0xFF, a count
// above the capacity (garbage no Init allows), counts at the 32-bit edge,
// phantom and wrapped waiter counts, the old 16-byte layout, and phantom
// holders and waiters of a foreign token (which nobody serves).
func semaphoreSeeds() []seed {
	ops := semOps
	return []seed{
		{"zero", []any{[]byte{}, ops}},
		{"old-layout-count-1", []any{u32s(1), ops}},
		{"count-1", []any{semState(semFields{count: 1}), ops}},
		{"count-2-cap-2", []any{semState(semFields{count: 2, capacity: 2}), ops}},
		{"count-3-unbounded", []any{semState(semFields{count: 3}), ops}},
		{"ff", []any{fill(memfile.SemaphoreSize, 0xff), ops}},
		{"count-over-capacity", []any{semState(semFields{count: 100, capacity: 5}), ops}},
		{"count-max-cap-1", []any{semState(semFields{count: math.MaxUint32, capacity: 1}), ops}},
		{"count-max-unbounded", []any{semState(semFields{count: math.MaxUint32}), ops}},
		{"count-max-minus-1", []any{semState(semFields{count: math.MaxUint32 - 1}), ops}},
		{"phantom-waiters", []any{semState(semFields{count: 1, waiters: 7}), ops}},
		{"waiters-wrap", []any{semState(semFields{count: 1, waiters: math.MaxUint32}), ops}},
		{"reserved-garbage", []any{u32s(2, 4, 0, 0xdeadbeef), ops}},
		{"foreign-holder", []any{semState(semFields{count: 2, capacity: 4, holder: [2]uint32{deadToken, 2}}), ops}},
		{"foreign-waiter", []any{semState(semFields{count: 2, capacity: 4, unowned: 2, waiters: 1, ticket: 5, slot: [4]uint32{deadToken, 3, 4, 1}}), ops}},
		{"foreign-granted", []any{semState(semFields{count: 1, capacity: 4, holder: [2]uint32{deadToken, 3}, ticket: 5, slot: [4]uint32{deadToken, 3, 4, 2}}), ops}},
	}
}

// semFields are the words of a Semaphore's documented layout that the
// seeds set: one holder entry (token, units) and one queue slot (token,
// n, ticket, state); version is 3 unless old is set.
type semFields struct {
	count, capacity, waiters, unowned, ticket uint32
	mutex                                     uint32 // the Mutex's state word
	jlen                                      uint32
	journal                                   [2]uint64
	holder                                    [2]uint32
	slot                                      [4]uint32
}

// semState lays out a Semaphore of layout version 3.
func semState(f semFields) []byte {
	b := make([]byte, memfile.SemaphoreSize)
	le := binary.LittleEndian
	for off, v := range map[int]uint32{0: f.count, 4: f.capacity, 8: f.waiters, 12: 3, 16: f.mutex, 32: f.unowned, 36: f.ticket, 40: f.jlen,
		128: f.holder[0], 132: f.holder[1], 256: f.slot[0], 260: f.slot[1], 264: f.slot[2], 268: f.slot[3]} {
		le.PutUint32(b[off:], v)
	}
	le.PutUint64(b[48:], f.journal[0])
	le.PutUint64(b[56:], f.journal[1])
	return b
}

// semaphoreAtSeeds: valid states (empty, bounded, foreign holders and
// waiters, granted and queued), the old layout, a dead process's section
// with a pending journal under an inconsistent Mutex (redone, or naming
// a word it may not), a locked Mutex of a foreign token, each in
// untracked and tracked memory.
func semaphoreAtSeeds() []seed {
	const dirty, locked = 8, 1
	var out []seed
	for _, c := range []struct {
		name  string
		state []byte
	}{
		{"zero", nil},
		{"old-layout", u32s(3, 5)},
		{"version-2", func() []byte {
			b := semState(semFields{count: 2, capacity: 4, unowned: 2, mutex: 1 << 4})
			b[12] = 2 // the layout whose Mutex had no epoch
			return b
		}()},
		{"mutex-epoch-without-count", semState(semFields{count: 2, capacity: 4, unowned: 2, mutex: 7 << 4})},
		{"mutex-count-without-epoch", semState(semFields{count: 2, capacity: 4, unowned: 2, mutex: 1 << 12})},
		{"ff", fill(memfile.SemaphoreSize, 0xff)},
		{"bounded", semState(semFields{count: 2, capacity: 4, unowned: 2})},
		{"foreign-holder", semState(semFields{count: 2, capacity: 4, holder: [2]uint32{deadToken, 2}})},
		{"foreign-waiter", semState(semFields{count: 2, capacity: 4, unowned: 2, waiters: 1, ticket: 5, slot: [4]uint32{deadToken, 3, 4, 1}})},
		{"foreign-granted", semState(semFields{count: 1, capacity: 4, holder: [2]uint32{deadToken, 3}, ticket: 5, slot: [4]uint32{deadToken, 3, 4, 2}})},
		{"waiter-that-fits", semState(semFields{count: 3, capacity: 4, unowned: 1, waiters: 1, ticket: 5, slot: [4]uint32{deadToken, 3, 4, 1}})},
		{"journal-redo", semState(semFields{count: 4, capacity: 4, mutex: dirty, jlen: 2, journal: [2]uint64{0<<32 | 2, 128<<32 | deadToken}, holder: [2]uint32{0, 2}})},
		{"journal-unmarked", semState(semFields{count: 4, capacity: 4, mutex: dirty, journal: [2]uint64{0<<32 | 2, 128<<32 | deadToken}})},
		{"journal-into-mutex", semState(semFields{count: 4, capacity: 4, mutex: dirty, jlen: 1, journal: [2]uint64{16<<32 | 1}})},
		{"journal-too-long", semState(semFields{count: 4, capacity: 4, mutex: dirty, jlen: 9})},
		{"locked-foreign", semState(semFields{count: 4, capacity: 4, mutex: locked})},
	} {
		for _, tracked := range []bool{false, true} {
			name := c.name
			if tracked {
				name += "-tracked"
			}
			st := c.state
			if c.name == "locked-foreign" {
				binary.LittleEndian.PutUint32(st[20:], deadToken) // the owner's token
			}
			out = append(out, seed{name, []any{st, tracked}})
		}
	}
	return out
}

// orMasks ORs masks of equal length.
func orMasks(a, b []byte) []byte {
	out := append([]byte(nil), a...)
	for i := range b {
		out[i] |= b[i]
	}
	return out
}

// ringGeom encodes FuzzRing's geometry word: slot size 1..128, capacity
// 2<<capLog (capLog 0..3), and whether to recompute the header check.
func ringGeom(slotSize, capLog int, fixSum bool) uint16 {
	g := uint16(slotSize-1) | uint16(capLog)<<7
	if fixSum {
		g |= 0x8000
	}
	return g
}

// ringOps: producers and consumers on every goroutine, blocking and not,
// zero-copy commit and abort, Reclaim and Len.
var ringOps = []byte{0x00, 0x41, 0x9a, 0x1b, 0x44, 0xa4, 0x05, 0x46, 0x87, 0x00, 0x41, 0x9a, 0x1b, 0x42, 0x83, 0x01}

// ringBatchOps: ringOps with the batch forms (bit 5 on ops 0-3) mixed
// with the single ones.
var ringBatchOps = []byte{0x20, 0x61, 0xba, 0x3b, 0x20, 0x41, 0x9a, 0x3b, 0x60, 0xa1, 0x44, 0x23, 0xe0, 0x01, 0x06, 0x21}

// xorAt returns a mask of n bytes that is zero except for v at off.
func xorAt(n, off int, v []byte) []byte {
	m := make([]byte, n)
	copy(m[off:], v)
	return m
}

// ringSeeds: clean rings of several geometries; each header field
// changed, with the stale check and with a recomputed one; counters out
// of step (head past tail, tail a lap ahead, at the 64-bit edge);
// slots claimed by dead producers and consumers, a slot a lap ahead,
// lengths no producer writes; all-0xFF masks.
func ringSeeds() []seed {
	ops := ringOps
	none := []byte{}
	s := []seed{
		{"clean-1x2", []any{ringGeom(1, 0, false), none, none, none, ops}},
		{"clean-4x4", []any{ringGeom(4, 1, false), none, none, none, ops}},
		{"clean-48x8", []any{ringGeom(48, 2, false), none, none, none, ops}},
		{"clean-128x16", []any{ringGeom(128, 3, false), none, none, none, ops}},
		{"clean-no-ops", []any{ringGeom(8, 0, false), none, none, none, none}},
		{"ff-everything", []any{ringGeom(16, 1, false), fill(32, 0xff), fill(32, 0xff), fill(4096, 0xff), ops}},
		{"ff-slots", []any{ringGeom(16, 1, false), none, none, fill(4096, 0xff), ops}},
		{"ff-counters", []any{ringGeom(16, 1, false), none, fill(32, 0xff), none, ops}},
	}
	for _, fix := range []bool{false, true} {
		sfx := "-stale-sum"
		if fix {
			sfx = "-fixed-sum"
		}
		g := ringGeom(8, 1, fix)
		for _, e := range []struct {
			name string
			off  int
			v    uint32
		}{
			{"state-initialising", 0, 3},
			{"state-garbage", 0, 0xfffffff0},
			{"magic", 4, 1},
			{"version-2", 8, 3},
			{"slotsize-0", 12, 8},
			{"slotsize-huge", 12, 1 << 30},
			{"slotsize-over-max", 12, 0x80000000},
			{"slotsize-past-stride", 12, 8 ^ 64},
			{"capacity-0", 16, 4},
			{"capacity-3", 16, 4 ^ 3},
			{"capacity-double", 16, 4 ^ 8},
			{"capacity-2^30", 16, 4 ^ 1<<30},
			{"capacity-2^31", 16, 4 ^ 1<<31},
			{"stride-0", 20, 64},
			{"stride-128", 20, 64 ^ 128},
			{"slotsoff-0", 24, 640},
			{"slotsoff-64", 24, 640 ^ 64},
			{"check", 28, 1},
		} {
			s = append(s, seed{"header-" + e.name + sfx, []any{g, xorAt(32, e.off, u32s(e.v)), none, none, ops}})
		}
	}
	g := ringGeom(8, 1, false) // 4 slots of 8 bytes, stride 64
	ctr := func(tail, head uint64, words ...uint32) []byte {
		b := make([]byte, 32)
		binary.NativeEndian.PutUint64(b[0:], tail)
		binary.NativeEndian.PutUint64(b[8:], head)
		for i, w := range words {
			binary.NativeEndian.PutUint32(b[16+4*i:], w)
		}
		return b
	}
	// slot returns a slot-area mask setting slot i's state word to
	// seq|owner<<32 and its length to length, over the initial (i, 0, 0).
	slot := func(i int, seq, owner, length uint32) []byte {
		m := make([]byte, 4*64)
		binary.NativeEndian.PutUint32(m[64*i:], seq^uint32(i))
		binary.NativeEndian.PutUint32(m[64*i+4:], owner)
		binary.NativeEndian.PutUint32(m[64*i+8:], length)
		return m
	}
	s = append(s,
		seed{"counters-head-past-tail", []any{g, none, ctr(0, 3), none, ops}},
		seed{"counters-tail-lap-ahead", []any{g, none, ctr(4, 0), none, ops}},
		seed{"counters-tail-far-ahead", []any{g, none, ctr(1<<40, 0), none, ops}},
		seed{"counters-max", []any{g, none, ctr(1<<64-1, 1<<64-1), none, ops}},
		seed{"counters-wrap", []any{g, none, ctr(1<<64-1, 1<<64-2), none, ops}},
		seed{"counters-phantom-waiters", []any{g, none, ctr(0, 0, 7, 1<<31, 9, 1<<32-1), none, ops}},
		seed{"slot-dead-producer-at-head", []any{g, none, ctr(1, 0), slot(0, 0, deadToken, 0), ops}},
		seed{"slot-dead-consumer-at-tail", []any{g, none, ctr(4, 1), slot(0, 1, deadToken, 8), ops}},
		seed{"slot-committed-long", []any{g, none, ctr(1, 0), slot(0, 1, 0, 9), ops}},
		seed{"slot-committed-max-length", []any{g, none, ctr(1, 0), slot(0, 1, 0, 0xfffffffe), ops}},
		seed{"slot-committed-skip", []any{g, none, ctr(1, 0), slot(0, 1, 0, 0xffffffff), ops}},
		seed{"slot-lap-ahead", []any{g, none, none, slot(0, 4, 0, 0), ops}},
		seed{"slot-far-behind", []any{g, none, none, slot(0, 0x80000000, 0, 0), ops}},
		seed{"slot-owner-no-claim", []any{g, none, none, slot(0, 0, 1, 0), ops}},
		seed{"batch-clean-4x4", []any{ringGeom(4, 1, false), none, none, none, ringBatchOps}},
		seed{"batch-clean-128x16", []any{ringGeom(128, 3, false), none, none, none, ringBatchOps}},
		// What a batch claimant that died leaves: consecutive claims,
		// tail (head) not moved past them.
		seed{"batch-dead-producer-claims", []any{g, none, none, orMasks(slot(0, 0, deadToken, 0), slot(1, 1, deadToken, 0)), ringBatchOps}},
		seed{"batch-dead-consumer-claims", []any{g, none, ctr(4, 0), orMasks(slot(0, 1, deadToken, 8), slot(1, 2, deadToken, 8)), ringBatchOps}},
	)
	return s
}

// seqMem builds SeqLock bytes from the documented layout: the sequence
// (low 32 bits of the first word) and the token of its writer (high 32),
// the kind word (the value's size | layout version<<24), value bytes.
func seqMem(seq, writer, kind uint32, value []byte) []byte {
	b := make([]byte, memfile.SeqLockSize[seqValue]())
	binary.NativeEndian.PutUint64(b, uint64(writer)<<32|uint64(seq))
	binary.NativeEndian.PutUint32(b[8:], kind)
	copy(b[16:], value)
	return b
}

// seqlockSeeds: fresh; a dead writer's odd sequence, with a token and
// without; a sequence about to wrap; an even sequence with a stale token;
// another type's size; version-1 kind words (bare size) and other
// versions; a garbage value; all 0xFF. The odd-sequence ones both over
// memory nobody vouches for (Store must panic, nothing is taken over) and
// in a real segment (the kernel says the writer is dead: taken over).
func seqlockSeeds() []seed {
	const size = 24 // unsafe.Sizeof(seqValue{})
	const kind = size | 2<<24
	ops := []byte{1, 2, 3, 1, 2, 3, 0, 3}
	junk := fill(24, 0xa5)
	s := []seed{
		{"zero", []any{[]byte{}, ops, false}},
		{"zero-no-store", []any{[]byte{}, []byte{0, 2, 0}, false}},
		{"fresh-kind", []any{seqMem(0, 0, kind, nil), ops, false}},
		{"even-stale-token", []any{seqMem(4, deadToken, kind, junk), ops, false}},
		{"seq-even-max", []any{seqMem(1<<32-2, 0, kind, junk), ops, false}},
		{"other-type-size", []any{seqMem(0, 0, 16|2<<24, nil), ops, false}},
		{"version-1-kind", []any{seqMem(0, 0, size, nil), ops, false}},
		{"version-1-odd", []any{seqMem(7, 0, size, junk), ops, false}},
		{"version-3-kind", []any{seqMem(0, 0, size|3<<24, nil), ops, false}},
		{"garbage-kind", []any{seqMem(0, 0, 1<<31, nil), ops, false}},
		{"garbage-value", []any{seqMem(4, 0, kind, junk), ops, false}},
		{"ff", []any{fill(memfile.SeqLockSize[seqValue](), 0xff), ops, false}},
		{"short", []any{[]byte{3}, ops, false}},
	}
	for _, tracked := range []bool{false, true} {
		sfx := "-untracked"
		if tracked {
			sfx = "-tracked"
		}
		s = append(s,
			seed{"dead-writer" + sfx, []any{seqMem(7, deadToken, kind, junk), ops, tracked}},
			seed{"dead-writer-no-store" + sfx, []any{seqMem(7, deadToken, kind, junk), []byte{0, 2}, tracked}},
			seed{"odd-no-token" + sfx, []any{seqMem(7, 0, kind, junk), ops, tracked}},
			seed{"seq-wraps" + sfx, []any{seqMem(1<<32-1, deadToken, kind, junk), ops, tracked}},
		)
	}
	return append(s,
		seed{"zero-tracked", []any{[]byte{}, ops, true}},
		seed{"seq-even-max-tracked", []any{seqMem(1<<32-2, 0, kind, junk), ops, true}},
	)
}

// openSeeds: valid segments of every lock type with data to the edge;
// link sizes one byte larger and smaller than the segment, and one that
// ends inside the participant table; a header never marked ready; locks
// and events left in garbage states by a dead process; participant
// tables left full by dead processes, or all 0xFF; a version-1 segment.
func openSeeds() []seed {
	edge := func(h rawHeader) uint32 { return uint32(int(h.dataOff) + int(h.dataSize) - hdrLen) }
	withAt := func(h rawHeader, off int, b []byte) []byte {
		d := make([]byte, max(off+len(b), hdrLen))
		copy(d, h.bytes())
		copy(d[off:], b)
		return d
	}
	none := validHeader(memfile.LockNone, 0, 64)
	mutex := validHeader(memfile.LockMutex, 2, 64)
	rw := validHeader(memfile.LockRWMutex, 1, 64)
	deadLock := mutexState(1, deadToken)
	rwDead := rwState(deadLock, 1, 0, 0, map[int][2]uint32{2: {deadToken, 1}})
	notReady := none
	notReady.state = 0
	mutexTail := func(d []byte) uint32 { return edge(mutex) - uint32(len(d)-hdrLen) }
	rwTail := func(d []byte) uint32 { return edge(rw) - uint32(len(d)-hdrLen) }
	noneTail := func(d []byte) uint32 { return edge(none) - uint32(len(d)-hdrLen) }
	dirtyMutex := withAt(mutex, int(mutex.lockOff), mutexState(8, 0))
	deadMutex := withAt(mutex, int(mutex.lockOff), deadLock)
	rwGarbage := withAt(rw, int(rw.lockOff), rwDead)
	evGarbage := withAt(mutex, int(mutex.eventOff), u32s(0xffffffff, 0xffffffff, 1, 1))
	fullDead := withAt(mutex, partOff, participantTable(deadParticipants(partCount)...))
	someDead := withAt(none, partOff, participantTable(deadParticipants(3)...))
	ffTable := withAt(none, partOff, fill(partEnd-partOff, 0xff))
	creatorListed := withAt(mutex, partOff, participantTable(memfile.Participant{Token: creatorToken, PID: 4242, Namespace: 4026531836}))
	v1 := v1Header(memfile.LockMutex, 2, 64)
	return []seed{
		{"zero-page", []any{[]byte{}, uint32(4096), int16(0)}},
		{"ff-page", []any{fill(4096, 0xff), uint32(0), int16(0)}},
		{"valid-none", []any{none.bytes(), edge(none), int16(0)}},
		{"valid-mutex-2ev", []any{mutex.bytes(), edge(mutex), int16(0)}},
		{"valid-rwmutex-1ev", []any{rw.bytes(), edge(rw), int16(0)}},
		{"link-size-plus-1", []any{mutex.bytes(), edge(mutex), int16(1)}},
		{"link-size-minus-1", []any{mutex.bytes(), edge(mutex), int16(-1)}},
		{"link-size-header-only", []any{none.bytes(), edge(none), int16(-64)}},
		{"link-size-in-table", []any{none.bytes(), edge(none), int16(-(64 + 512))}},
		{"segment-slack", []any{mutex.bytes(), edge(mutex) + 4096, int16(-4096)}},
		{"not-ready", []any{notReady.bytes(), edge(notReady), int16(0)}},
		{"mutex-dirty", []any{dirtyMutex, mutexTail(dirtyMutex), int16(0)}},
		{"mutex-dead-owner", []any{deadMutex, mutexTail(deadMutex), int16(0)}},
		{"rwmutex-dead-writer-reader", []any{rwGarbage, rwTail(rwGarbage), int16(0)}},
		{"events-garbage", []any{evGarbage, mutexTail(evGarbage), int16(0)}},
		{"participants-full-dead", []any{fullDead, mutexTail(fullDead), int16(0)}},
		{"participants-some-dead", []any{someDead, noneTail(someDead), int16(0)}},
		{"participants-ff", []any{ffTable, noneTail(ffTable), int16(0)}},
		{"participants-creator-listed", []any{creatorListed, mutexTail(creatorListed), int16(0)}},
		{"version-1-segment", []any{v1.bytes(), uint32(int(v1.dataOff) + int(v1.dataSize) - hdrLen), int16(0)}},
	}
}

// participantTable encodes a participant table from the documented entry
// layout (16 bytes, little-endian: token, pid, pid namespace), ps in the
// first entries and the rest free (zero). Entries past the table's 64
// are dropped.
func participantTable(ps ...memfile.Participant) []byte {
	b := make([]byte, partCount*memfile.ParticipantSize)
	le := binary.LittleEndian
	for i, p := range ps[:min(len(ps), partCount)] {
		e := b[i*memfile.ParticipantSize:]
		le.PutUint32(e[0:], p.Token)
		le.PutUint32(e[4:], p.PID)
		le.PutUint64(e[8:], p.Namespace)
	}
	return b
}

// deadParticipants returns n entries of distinct processes that no
// process of the fuzzer is (see deadToken), in two pid namespaces.
func deadParticipants(n int) []memfile.Participant {
	ps := make([]memfile.Participant, n)
	for i := range ps {
		ps[i] = memfile.Participant{Token: deadToken + uint32(i), PID: 1 + uint32(i), Namespace: 4026531836 + uint64(i%2)}
	}
	return ps
}

// participantSeeds: valid headers of each lock type, to the edge, with
// participant tables empty, partly and wholly listed, all 0xFF, free
// entries (token 0) holding garbage, a listed entry after free ones, the
// last entry alone; and mappings that are no valid header (all zeros, all
// 0xFF, a version-1 header, a header whose data runs past the mapping).
func participantSeeds() []seed {
	none := validHeader(memfile.LockNone, 0, 16)
	mutex := validHeader(memfile.LockMutex, 3, 64)
	rw := validHeader(memfile.LockRWMutex, memfile.MaxEvents, 8)
	// with returns the header h followed by the table t, and the tail that
	// ends the mapping exactly at the data's end.
	with := func(h rawHeader, t []byte) []any {
		d := append(h.bytes(), t...)
		return []any{d, uint32(int(h.dataOff) + int(h.dataSize) - len(d))}
	}
	garbageFree := participantTable()
	for i := range partCount {
		copy(garbageFree[i*memfile.ParticipantSize+4:], u32s(0xdeadbeef, 0xdeadbeef, 0xdeadbeef))
	}
	afterFree := participantTable(memfile.Participant{}, memfile.Participant{}, memfile.Participant{Token: 7, PID: 7, Namespace: 7})
	last := participantTable()
	copy(last[(partCount-1)*memfile.ParticipantSize:], u32s(0xffffffff, 1, 2, 3))
	v1 := v1Header(memfile.LockMutex, 2, 64)
	return []seed{
		{"zeros", []any{[]byte{}, uint32(4096)}},
		{"ff", []any{fill(partEnd+64, 0xff), uint32(0)}},
		{"version-1", []any{v1.bytes(), uint32(int(v1.dataOff) + int(v1.dataSize) - hdrLen)}},
		{"data-overrun", []any{none.bytes(), uint32(int(none.dataOff) + int(none.dataSize) - hdrLen - 1)}},
		{"none-empty", with(none, participantTable())},
		{"none-no-table-bytes", []any{none.bytes(), uint32(int(none.dataOff) + int(none.dataSize) - hdrLen)}},
		{"none-one", with(none, participantTable(memfile.Participant{Token: creatorToken, PID: 4242, Namespace: 4026531836}))},
		{"mutex-some", with(mutex, participantTable(deadParticipants(5)...))},
		{"mutex-full", with(mutex, participantTable(deadParticipants(partCount)...))},
		{"mutex-ff", with(mutex, fill(partEnd-partOff, 0xff))},
		{"mutex-free-garbage", with(mutex, garbageFree)},
		{"rwmutex-after-free", with(rw, afterFree)},
		{"rwmutex-last-only", with(rw, last)},
		{"rwmutex-full", with(rw, participantTable(deadParticipants(partCount)...))},
	}
}
