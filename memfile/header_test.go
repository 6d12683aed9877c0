package memfile

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// validHeader returns a ready header for lt and events, followed by
// dataSize bytes of data, in a buffer exactly that long.
func validHeader(lt LockType, events, dataSize int) []byte {
	h := layoutFor(lt, events)
	h.DataSize = dataSize
	h.CreatorPID, h.CreatorToken = 4242, 0x5eed
	b := make([]byte, h.DataOffset+dataSize)
	encodeHeader(b, h)
	binary.LittleEndian.PutUint32(b[offState:], stateReady)
	return b
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, lt := range []LockType{LockNone, LockMutex, LockRWMutex} {
		for _, ev := range []int{0, 1, 2, 7, MaxEvents} {
			b := validHeader(lt, ev, 100)
			h, err := ParseHeader(b)
			if err != nil {
				t.Fatalf("%v/%d: %v", lt, ev, err)
			}
			want := layoutFor(lt, ev)
			want.DataSize, want.CreatorPID, want.CreatorToken = 100, 4242, 0x5eed
			if h != want {
				t.Fatalf("%v/%d: got %+v, want %+v", lt, ev, h, want)
			}
			if h.DataOffset%regionAlign != 0 || h.LockOffset%8 != 0 || h.EventOffset%8 != 0 || h.EventStride%8 != 0 {
				t.Fatalf("%v/%d: misaligned layout %+v", lt, ev, h)
			}
			if lt != LockNone && h.LockOffset+h.LockSize > h.DataOffset || ev > 0 && h.EventOffset+ev*h.EventStride > h.DataOffset {
				t.Fatalf("%v/%d: regions overlap the data: %+v", lt, ev, h)
			}
		}
	}
}

// TestHeaderCorruptField corrupts each field of a valid header in turn
// (without fixing the checksum, as a stray write would) and checks that the
// error matches the right sentinel and names the field. Fields whose bad
// value still looks plausible are caught by the checksum.
func TestHeaderCorruptField(t *testing.T) {
	u32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	u64 := func(off int, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
	}
	u16 := func(off int, v uint16) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint16(b[off:], v) }
	}
	u8 := func(off int, v byte) func([]byte) { return func(b []byte) { b[off] = v } }
	cases := []struct {
		name  string
		edit  func([]byte)
		want  error
		field string
	}{
		{"magic", u8(offMagic+3, 'x'), ErrCorrupt, "magic"},
		{"state initialising", u32(offState, stateInit), ErrNotReady, "init state"},
		{"state garbage", u32(offState, 7), ErrCorrupt, "init state"},
		{"version 1 (pids, no participant table)", u32(offVersion, 1), ErrVersion, "version"},
		{"version 2 (waiter counts without epochs)", u32(offVersion, 2), ErrVersion, "version"},
		{"version 3 (RWMutex slots sharing cache lines)", u32(offVersion, 3), ErrVersion, "version"},
		{"version 4 (waiter counts whose epoch ended with the count)", u32(offVersion, 4), ErrVersion, "version"},
		{"version 6", u32(offVersion, 6), ErrVersion, "version"},
		{"version 0", u32(offVersion, 0), ErrVersion, "version"},
		{"header size", u32(offHdrSize, 64), ErrCorrupt, "header size"},
		{"lock type", u8(offLockType, 3), ErrCorrupt, "lock type"},
		{"reserved byte", u8(offReserved1, 1), ErrCorrupt, "reserved"},
		{"event count too big", u16(offEvents, MaxEvents+1), ErrCorrupt, "event count"},
		{"event count changed", u16(offEvents, 3), ErrCorrupt, "data offset"},
		{"lock offset", u32(offLockOff, 64), ErrCorrupt, "lock offset"},
		{"lock size", u32(offLockSize, 8), ErrCorrupt, "lock size"},
		{"event offset", u32(offEventsOff, 0), ErrCorrupt, "event offset"},
		{"event stride", u32(offStride, 8), ErrCorrupt, "event stride"},
		{"data offset", u64(offDataOff, 1<<63), ErrCorrupt, "data offset"},
		{"data size past end", u64(offDataSize, 101), ErrCorrupt, "data size"},
		{"data size overflow", u64(offDataSize, math.MaxUint64), ErrCorrupt, "data size"},
		{"data size smaller", u64(offDataSize, 99), ErrCorrupt, "checksum"},
		{"pid zero", u32(offPid, 0), ErrCorrupt, "creator pid"},
		{"pid other", u32(offPid, 4243), ErrCorrupt, "checksum"},
		{"token zero", u32(offToken, 0), ErrCorrupt, "creator token"},
		{"token other", u32(offToken, 1), ErrCorrupt, "checksum"},
		{"checksum", u32(offChecksum, 0), ErrCorrupt, "checksum"},
		{"reserved tail", u8(hdrSize-1, 1), ErrCorrupt, "reserved"},
	}
	for _, c := range cases {
		b := validHeader(LockRWMutex, 2, 100)
		c.edit(b)
		_, err := ParseHeader(b)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: ParseHeader = %v; want %v naming %q", c.name, err, c.want, c.field)
		}
	}
}

func TestHeaderShortMapping(t *testing.T) {
	b := validHeader(LockMutex, 1, 100)
	for n := range len(b) {
		if _, err := ParseHeader(b[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ParseHeader(first %d of %d bytes) = %v, want ErrCorrupt", n, len(b), err)
		}
	}
	// More mapping than data is fine (pages round segments up).
	if _, err := ParseHeader(append(b, make([]byte, 4000)...)); err != nil {
		t.Fatal(err)
	}
}

// TestHeaderRandomBytes feeds mutated headers to ParseHeader: it must never
// panic, and whatever it accepts must fit the buffer.
func TestHeaderRandomBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := validHeader(LockType(r.IntN(3)), r.IntN(4), r.IntN(300))
		for range 1 + r.IntN(4) {
			b[r.IntN(min(len(b), hdrSize))] ^= byte(1 << r.IntN(8))
		}
		b = b[:r.IntN(len(b)+1)]
		h, err := ParseHeader(b)
		if err == nil && h.DataOffset+h.DataSize > len(b) {
			t.Fatalf("accepted %+v for a %d-byte buffer", h, len(b))
		}
	}
}

func TestWaitReady(t *testing.T) {
	b := validHeader(LockMutex, 0, 8)
	// The buffer must be 4-byte aligned at the state word for the atomic
	// view; a fresh []byte of this size always is on every Go allocator.
	stateWord(b).Store(stateInit)
	if err := waitReady(b, 20*time.Millisecond); !errors.Is(err, ErrNotReady) {
		t.Fatalf("waitReady on an initialising header = %v, want ErrNotReady", err)
	}
	done := make(chan error, 1)
	go func() { done <- waitReady(b, time.Minute) }()
	time.Sleep(5 * time.Millisecond)
	markReady(b)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := ParseHeader(b); err != nil {
		t.Fatal(err)
	}
}

// TestParseHeaderPrefix: the header alone, with the segment's size, gives
// what ParseHeader gives for the whole mapping, and the size is checked.
func TestParseHeaderPrefix(t *testing.T) {
	b := validHeader(LockRWMutex, 3, 1000)
	whole, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseHeaderPrefix(b[:hdrSize], int64(len(b)))
	if err != nil || got != whole {
		t.Fatalf("ParseHeaderPrefix = %+v, %v; ParseHeader gave %+v", got, err, whole)
	}
	if _, err := ParseHeaderPrefix(b[:hdrSize], int64(len(b)-1)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "data size") {
		t.Fatalf("segment one byte short: %v, want ErrCorrupt naming the data size", err)
	}
	if _, err := ParseHeaderPrefix(b[:hdrSize], int64(whole.DataOffset-1)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "data offset") {
		t.Fatalf("segment ending inside the events: %v, want ErrCorrupt naming the data offset", err)
	}
	if _, err := ParseHeaderPrefix(b, 10); err == nil {
		t.Fatal("a prefix longer than the segment was accepted")
	}
}
