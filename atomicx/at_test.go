package atomicx

import (
	"errors"
	"sync"
	"testing"
	"unsafe"
)

// aligned returns n bytes whose first byte is at a multiple of 64, like
// the start of a mapping.
func aligned(n int) []byte {
	buf := make([]byte, n+64)
	skip := int(-uintptr(unsafe.Pointer(&buf[0])) & 63)
	return buf[skip : skip+n : skip+n]
}

func TestWordAtBounds(t *testing.T) {
	b := aligned(64)
	type at func([]byte, int) (unsafe.Pointer, error)
	funcs := map[string]struct {
		size int
		f    at
	}{
		"Uint32At": {4, func(b []byte, off int) (unsafe.Pointer, error) {
			p, err := Uint32At(b, off)
			return unsafe.Pointer(p), err
		}},
		"Uint64At": {8, func(b []byte, off int) (unsafe.Pointer, error) {
			p, err := Uint64At(b, off)
			return unsafe.Pointer(p), err
		}},
		"Uint128At": {16, func(b []byte, off int) (unsafe.Pointer, error) {
			p, err := Uint128At(b, off)
			return unsafe.Pointer(p), err
		}},
	}
	maxInt := int(^uint(0) >> 1)
	for name, fn := range funcs {
		size := fn.size
		for _, c := range []struct {
			b    []byte
			off  int
			want error
		}{
			{b, 0, nil},
			{b, size, nil},
			{b, 64 - size, nil},             // last word that fits
			{b, 64 - size + size, ErrRange}, // one word past the end
			{b, 64, ErrRange},
			{b, -size, ErrRange},
			{b, -1, ErrRange},
			{b, maxInt, ErrRange},            // off+size would overflow
			{b, maxInt - size + 1, ErrRange}, // likewise
			{b[:size-1], 0, ErrRange},        // slice shorter than a word
			{nil, 0, ErrRange},
			{b, 1, ErrUnaligned},
			{b, size / 2, ErrUnaligned},
			{b, size + 2, ErrUnaligned},
			{b[1:], size - 1, nil},   // aligned address, odd offset
			{b[1:], 0, ErrUnaligned}, // aligned offset, odd address
		} {
			p, err := fn.f(c.b, c.off)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Errorf("%s(len %d, %d) error %v, want %v", name, len(c.b), c.off, err, c.want)
				continue
			}
			if err != nil {
				var oe *OffsetError
				if p != nil || !errors.As(err, &oe) || oe.Op != name || oe.Offset != c.off || oe.Len != len(c.b) {
					t.Errorf("%s(len %d, %d) = %p, %#v", name, len(c.b), c.off, p, err)
				}
				continue
			}
			if p != unsafe.Pointer(&c.b[c.off]) {
				t.Errorf("%s(len %d, %d) = %p, want %p", name, len(c.b), c.off, p, &c.b[c.off])
			}
		}
	}
}

func TestOffsetErrorMessage(t *testing.T) {
	_, err := Uint64At(aligned(16), 4)
	const want = "atomicx: Uint64At offset 4 of 16 bytes: word not naturally aligned"
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// TestWordsAliasBytes checks that the views write the bytes they cover
// (little- or big-endian alike: compare through the same view type) and
// that concurrent Adds through two views of one word are atomic.
func TestWordsAliasBytes(t *testing.T) {
	b := aligned(64)
	u32, _ := Uint32At(b, 4)
	u64, _ := Uint64At(b, 8)
	u32.Store(0xdeadbeef)
	u64.Store(1)
	if *(*uint32)(unsafe.Pointer(&b[4])) != 0xdeadbeef || *(*uint64)(unsafe.Pointer(&b[8])) != 1 {
		t.Fatalf("views did not write the bytes: % x", b[:16])
	}
	for _, x := range b[16:] {
		if x != 0 {
			t.Fatalf("views wrote past their words: % x", b)
		}
	}
	v1, _ := Uint64At(b, 32)
	v2, _ := Uint64At(b, 32)
	var wg sync.WaitGroup
	for _, v := range [...]interface{ Add(uint64) uint64 }{v1, v2} {
		wg.Go(func() {
			for range 100000 {
				v.Add(1)
			}
		})
	}
	wg.Wait()
	if got := v1.Load(); got != 200000 {
		t.Errorf("two views each added 100000, got %d", got)
	}
}

func TestWordAtNoAlloc(t *testing.T) {
	b := aligned(64)
	allocs := testing.AllocsPerRun(100, func() {
		u, _ := Uint64At(b, 8)
		u.Add(1)
	})
	if allocs != 0 {
		t.Errorf("Uint64At allocated %v times, want 0", allocs)
	}
}
