package fuzz_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmx/shmx/memfile"
)

// rawHeader holds every field of a version-2 memfile header as it is
// stored (see the table in memfile's package documentation), so seeds can
// be valid headers or valid headers with one field changed, with or
// without a checksum that matches. It is written from the documented
// table, not from memfile's encoder, so the corpus also checks the two
// agree. bytes encodes the 128-byte fixed header only: the participant
// table after it is part of the rest of the mapping.
type rawHeader struct {
	state, version, hdrSize uint32
	lock, reserved1         byte
	events                  uint16
	lockOff, lockSize       uint32
	eventOff, stride        uint32
	dataOff, dataSize       uint64
	pid, token              uint32 // creator's pid and token (internal/live)
	reserved2               byte   // stored at byte 127 when non-zero
	badSum                  bool   // store a checksum that does not match
}

const (
	hdrLen     = 128
	stateReady = 0x59444552 // "REDY"
	eventAlign = 128
	// The participant table of a version-2 header: right after the fixed
	// header, 64 entries of memfile.ParticipantSize (16) bytes.
	partOff   = hdrLen
	partCount = 64
	partEnd   = partOff + partCount*memfile.ParticipantSize // 1152, a multiple of 128
	// creatorToken is the creator token of the seeds' valid headers.
	creatorToken = 0x5eed0001
)

// validHeader returns the header memfile.Create writes for a lock type,
// an event count and a data size.
func validHeader(lt memfile.LockType, events int, dataSize uint64) rawHeader {
	h := rawHeader{state: stateReady, version: 5, hdrSize: hdrLen, lock: byte(lt),
		events: uint16(events), dataSize: dataSize, pid: 4242, token: creatorToken}
	end := uint32(partEnd)
	if lt != memfile.LockNone {
		h.lockOff, h.lockSize = end, memfile.MutexSize
		if lt == memfile.LockRWMutex {
			h.lockSize = memfile.RWMutexSize
		}
		end = (end + h.lockSize + eventAlign - 1) &^ (eventAlign - 1)
	}
	if events > 0 {
		h.eventOff, h.stride = end, (memfile.EventSize+eventAlign-1)&^(eventAlign-1)
		end += uint32(events) * h.stride
	}
	h.dataOff = uint64(end)
	return h
}

// bytes encodes h, little-endian, with the CRC-32 (IEEE) of bytes 0-7
// and 12-63 at offset 64 (or that value plus one when h.badSum).
func (h rawHeader) bytes() []byte {
	b := make([]byte, hdrLen)
	le := binary.LittleEndian
	copy(b, "SHMXFILE")
	le.PutUint32(b[8:], h.state)
	le.PutUint32(b[12:], h.version)
	le.PutUint32(b[16:], h.hdrSize)
	b[20], b[21] = h.lock, h.reserved1
	le.PutUint16(b[22:], h.events)
	le.PutUint32(b[24:], h.lockOff)
	le.PutUint32(b[28:], h.lockSize)
	le.PutUint32(b[32:], h.eventOff)
	le.PutUint32(b[36:], h.stride)
	le.PutUint64(b[40:], h.dataOff)
	le.PutUint64(b[48:], h.dataSize)
	le.PutUint32(b[56:], h.pid)
	le.PutUint32(b[60:], h.token)
	b[127] = h.reserved2
	sum := crc32.Update(crc32.ChecksumIEEE(b[0:8]), crc32.IEEETable, b[12:64])
	if h.badSum {
		sum++
	}
	le.PutUint32(b[64:], sum)
	return b
}

// canonical is the header ParseHeader must have read to return hi: the
// format is strict (every offset is a function of the lock type and event
// count, reserved bytes are zero), so an accepted header has exactly one
// encoding.
func canonical(hi memfile.HeaderInfo) []byte {
	return rawHeader{state: stateReady, version: hi.Version, hdrSize: hi.HeaderSize,
		lock: byte(hi.Lock), events: uint16(hi.Events),
		lockOff: uint32(hi.LockOffset), lockSize: uint32(hi.LockSize),
		eventOff: uint32(hi.EventOffset), stride: uint32(hi.EventStride),
		dataOff: uint64(hi.DataOffset), dataSize: uint64(hi.DataSize),
		pid: hi.CreatorPID, token: hi.CreatorToken}.bytes()
}

// maxTail bounds the zero bytes FuzzHeader appends to its input: enough
// for the largest layout (participant table, an RWMutex and MaxEvents
// events) plus data.
const maxTail = 1 << 18

// FuzzHeader feeds arbitrary bytes to memfile.ParseHeader as the whole
// mapping of a segment: data followed by tail%(maxTail+1) zero bytes (so
// that a small input can describe a large segment), ending at a PROT_NONE
// page on Linux.
//
// Property: ParseHeader never panics and never reads outside the mapping;
// it fails with an error matching ErrCorrupt, ErrVersion or ErrNotReady,
// or it succeeds, and then every region the header names (participant
// table, lock, events, data) lies inside the mapping, is 8-byte aligned,
// does not overlap the header or the others, and can be placed with
// ParseParticipants, MutexAt, RWMutexAt and EventAt; the creator's pid and
// token are non-zero; the accepted bytes are exactly the canonical
// encoding of what it returned; and the verdict does not depend on where
// the bytes sit.
func FuzzHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, tail uint32) {
		n := len(data) + int(tail%(maxTail+1))
		b := guarded(t, n)
		copy(b, data)
		h, err := memfile.ParseHeader(b)
		if err != nil {
			if !errors.Is(err, memfile.ErrCorrupt) && !errors.Is(err, memfile.ErrVersion) && !errors.Is(err, memfile.ErrNotReady) {
				t.Fatalf("ParseHeader error matches no sentinel: %v", err)
			}
		} else {
			checkRegions(t, h, n)
			if got, want := b[:hdrLen], canonical(h); string(got) != string(want) {
				t.Fatalf("accepted header %x is not the encoding %x of %+v", got, want, h)
			}
		}
		// A real mapping starts page-aligned: same bytes there, same verdict.
		a := aligned(n)
		copy(a, b)
		h2, err2 := memfile.ParseHeader(a)
		if (err == nil) != (err2 == nil) || h != h2 {
			t.Fatalf("verdict depends on placement: %+v, %v vs %+v, %v", h, err, h2, err2)
		}
		if err == nil {
			placeRegions(t, a, h)
		}
		// Read through a prefix instead of a mapping, as the shmx command
		// does: the header alone gives the same verdict and layout.
		if n >= hdrLen {
			h3, err3 := memfile.ParseHeaderPrefix(b[:hdrLen:hdrLen], int64(n))
			if (err == nil) != (err3 == nil) || h != h3 {
				t.Fatalf("ParseHeaderPrefix disagrees with ParseHeader: %+v, %v vs %+v, %v", h3, err3, h, err)
			}
		}
	})
}

// checkRegions checks that the regions of an accepted header lie inside
// an n-byte mapping, after the header, aligned and disjoint.
func checkRegions(t *testing.T, h memfile.HeaderInfo, n int) {
	t.Helper()
	if h.Version != 5 || h.HeaderSize != hdrLen || h.Lock > memfile.LockRWMutex || h.Events < 0 || h.Events > memfile.MaxEvents {
		t.Fatalf("accepted impossible fixed fields: %+v", h)
	}
	if h.CreatorPID == 0 || h.CreatorToken == 0 {
		t.Fatalf("accepted a header naming no creator: %+v", h)
	}
	if h.DataOffset < hdrLen || h.DataOffset%eventAlign != 0 || h.DataOffset > n || h.DataSize < 0 || h.DataSize > n-h.DataOffset {
		t.Fatalf("data region [%d,+%d) outside the %d-byte mapping or misplaced: %+v", h.DataOffset, h.DataSize, n, h)
	}
	if h.ParticipantOffset != partOff || h.Participants != partCount {
		t.Fatalf("participant table at %d with %d entries, the layout says %d and %d: %+v", h.ParticipantOffset, h.Participants, partOff, partCount, h)
	}
	end := h.ParticipantOffset + h.Participants*memfile.ParticipantSize
	if h.Lock != memfile.LockNone {
		want := memfile.MutexSize
		if h.Lock == memfile.LockRWMutex {
			want = memfile.RWMutexSize
		}
		if h.LockOffset < end || h.LockOffset%8 != 0 || h.LockSize != want {
			t.Fatalf("lock region misplaced: %+v", h)
		}
		end = h.LockOffset + h.LockSize
	} else if h.LockOffset != 0 || h.LockSize != 0 {
		t.Fatalf("lock region without a lock: %+v", h)
	}
	if h.Events > 0 {
		if h.EventOffset < end || h.EventOffset%8 != 0 || h.EventStride < memfile.EventSize || h.EventStride%8 != 0 {
			t.Fatalf("event region misplaced: %+v", h)
		}
		end = h.EventOffset + h.Events*h.EventStride
	}
	if end > h.DataOffset {
		t.Fatalf("regions overlap the data at %d (they end at %d): %+v", h.DataOffset, end, h)
	}
}

// placeRegions places the lock and events of an accepted header over a,
// an 8-byte aligned mapping, and touches the ends of the data, as Open
// does; all of it must work (a faulty header would panic here).
func placeRegions(t *testing.T, a []byte, h memfile.HeaderInfo) {
	t.Helper()
	for _, p := range memfile.ParseParticipants(a, h) {
		if p.Token == 0 {
			t.Fatalf("ParseParticipants listed a free entry: %+v", p)
		}
	}
	switch h.Lock {
	case memfile.LockMutex:
		m, err := memfile.MutexAt(a[h.LockOffset:])
		if err != nil {
			t.Fatalf("MutexAt(%d): %v", h.LockOffset, err)
		}
		if m.TryLock() {
			m.Unlock()
		}
	case memfile.LockRWMutex:
		if _, err := memfile.RWMutexAt(a[h.LockOffset:]); err != nil {
			t.Fatalf("RWMutexAt(%d): %v", h.LockOffset, err)
		}
	}
	for i := range h.Events {
		if _, err := memfile.EventAt(a[h.EventOffset+i*h.EventStride:]); err != nil {
			t.Fatalf("EventAt(event %d): %v", i, err)
		}
	}
	if d := a[h.DataOffset : h.DataOffset+h.DataSize]; len(d) > 0 {
		d[0]++
		d[len(d)-1]--
	}
}

// TestHeaderSeedsMeanWhatTheySay checks the hand-picked header seeds
// against ParseHeader: the valid ones parse (so the encoder above agrees
// with memfile's documented table), and the ones with a field changed or
// a mapping too short fail, so each reaches the check it names; the
// version-1 and other-version ones fail with ErrVersion.
func TestHeaderSeedsMeanWhatTheySay(t *testing.T) {
	for _, s := range headerSeeds() {
		data, tail := s.args[0].([]byte), s.args[1].(uint32)
		b := make([]byte, len(data)+int(tail))
		copy(b, data)
		_, err := memfile.ParseHeader(b)
		valid := strings.HasPrefix(s.name, "valid-") && !strings.HasSuffix(s.name, "-overrun") && !strings.Contains(s.name, "truncated") && !strings.Contains(s.name, "outside")
		if valid != (err == nil) {
			t.Errorf("seed %s: ParseHeader: %v", s.name, err)
		}
		if strings.Contains(s.name, "version") && !errors.Is(err, memfile.ErrVersion) {
			t.Errorf("seed %s: ParseHeader: %v, want ErrVersion", s.name, err)
		}
	}
}

// v1Header returns a header of layout version 1, as a build of memfile
// before the participant table wrote it: the lock right after the 128-byte
// header, and the creator named by its pid and a start-time hash (in the
// word where version 2 keeps the token). Its checksum is right.
func v1Header(lt memfile.LockType, events int, dataSize uint64) rawHeader {
	h := rawHeader{state: stateReady, version: 1, hdrSize: hdrLen, lock: byte(lt),
		events: uint16(events), dataSize: dataSize, pid: 4242, token: 0x51a27}
	end := uint32(hdrLen)
	if lt != memfile.LockNone {
		h.lockOff, h.lockSize = end, memfile.MutexSize
		if lt == memfile.LockRWMutex {
			h.lockSize = memfile.RWMutexSize
		}
		end = (end + h.lockSize + eventAlign - 1) &^ (eventAlign - 1)
	}
	if events > 0 {
		h.eventOff, h.stride = end, (memfile.EventSize+eventAlign-1)&^(eventAlign-1)
		end += uint32(events) * h.stride
	}
	h.dataOff = uint64(end)
	return h
}

// TestVersion1Refused checks that a well-formed version-1 header (the old
// layout, complete, with a right checksum) is refused with ErrVersion,
// never misread with the new layout: by ParseHeader, by ParseHeaderPrefix
// as the shmx command reads it, and by memfile.Open of a real segment.
func TestVersion1Refused(t *testing.T) {
	dir := linkDir(t)
	for _, c := range []struct {
		lt     memfile.LockType
		events int
	}{{memfile.LockNone, 0}, {memfile.LockMutex, 2}, {memfile.LockRWMutex, 1}} {
		h := v1Header(c.lt, c.events, 64)
		n := int(h.dataOff + h.dataSize)
		b := make([]byte, n)
		copy(b, h.bytes())
		if _, err := memfile.ParseHeader(b); !errors.Is(err, memfile.ErrVersion) {
			t.Errorf("%v: ParseHeader of a version-1 header: %v, want ErrVersion", c.lt, err)
		}
		if _, err := memfile.ParseHeaderPrefix(b[:hdrLen], int64(n)); !errors.Is(err, memfile.ErrVersion) {
			t.Errorf("%v: ParseHeaderPrefix of a version-1 header: %v, want ErrVersion", c.lt, err)
		}
		osid := fmt.Sprintf("shmxfz_v1_%d_%d", os.Getpid(), c.lt)
		raw, err := memfile.CreateRaw(osid, n)
		if err != nil {
			t.Fatal(err)
		}
		copy(raw.Bytes(), b)
		link := filepath.Join(dir, osid+".link")
		if err := os.WriteFile(link, []byte(encodeLink(osid, int64(n))), 0o600); err != nil {
			t.Fatal(err)
		}
		mf, err := memfile.Open(link, memfile.WithOpenTimeout(time.Millisecond))
		if err == nil {
			mf.Close()
			t.Errorf("%v: Open of a version-1 segment succeeded", c.lt)
		} else {
			checkOpenErr(t, err, link)
			if !errors.Is(err, memfile.ErrVersion) {
				t.Errorf("%v: Open of a version-1 segment: %v, want ErrVersion", c.lt, err)
			}
		}
		os.Remove(link)
		raw.Close()
	}
}
