package atomicx

import (
	"errors"
	"strconv"
	"sync/atomic"
	"unsafe"
)

// Sentinel errors of Uint32At, Uint64At and Uint128At, wrapped in an
// *OffsetError that says which offset of how many bytes.
var (
	// ErrRange means the word does not lie entirely inside the slice.
	ErrRange = errors.New("word out of range")
	// ErrUnaligned means the word's address is not a multiple of its size.
	ErrUnaligned = errors.New("word not naturally aligned")
)

// OffsetError records a rejected offset. errors.Is(err, ErrRange) and
// errors.Is(err, ErrUnaligned) see through it.
type OffsetError struct {
	Op     string // "Uint32At", "Uint64At" or "Uint128At"
	Offset int    // the offset asked for
	Len    int    // len of the slice
	Err    error  // ErrRange or ErrUnaligned
}

func (e *OffsetError) Error() string {
	return "atomicx: " + e.Op + " offset " + strconv.Itoa(e.Offset) + " of " +
		strconv.Itoa(e.Len) + " bytes: " + e.Err.Error()
}

// Unwrap returns the sentinel, ErrRange or ErrUnaligned.
func (e *OffsetError) Unwrap() error { return e.Err }

// Uint32At returns the 4-byte word at b[off:off+4] as an *atomic.Uint32.
// The word must lie inside b and its address must be a multiple of 4.
// The result aliases b: it stays valid while b's memory is mapped.
func Uint32At(b []byte, off int) (*atomic.Uint32, error) {
	p, err := wordAt(b, off, 4, "Uint32At")
	return (*atomic.Uint32)(p), err
}

// Uint64At returns the 8-byte word at b[off:off+8] as an *atomic.Uint64.
// The word must lie inside b and its address must be a multiple of 8
// (also on 32-bit platforms, where sync/atomic needs it for 64-bit words).
func Uint64At(b []byte, off int) (*atomic.Uint64, error) {
	p, err := wordAt(b, off, 8, "Uint64At")
	return (*atomic.Uint64)(p), err
}

// Uint128At returns the 16 bytes at b[off:off+16] as a *Uint128 for
// CAS128 and Load128, which need its address to be a multiple of 16.
func Uint128At(b []byte, off int) (*Uint128, error) {
	p, err := wordAt(b, off, 16, "Uint128At")
	return (*Uint128)(p), err
}

// wordAt returns a pointer to b[off], or nil and an *OffsetError when
// b[off:off+size] is not inside b or &b[off] is not a multiple of size.
//
// Why the casts are legal: the caller converts the result to
// *atomic.Uint32, *atomic.Uint64 or *Uint128, types of exactly size bytes
// (atomic's noCopy/align64 fields take no space) with no pointers, and
// the range check keeps all size bytes inside b's backing array, so the
// conversion follows unsafe.Pointer rule (1) and the pointer keeps b's
// array alive when it lives in the Go heap. Memory mapped from a segment
// is outside the heap and is simply not the garbage collector's concern.
func wordAt(b []byte, off, size int, op string) (unsafe.Pointer, error) {
	// off > len(b)-size, not off+size > len(b): the sum could overflow.
	if off < 0 || len(b) < size || off > len(b)-size {
		return nil, &OffsetError{Op: op, Offset: off, Len: len(b), Err: ErrRange}
	}
	p := unsafe.Pointer(unsafe.SliceData(b[off:]))
	if uintptr(p)%uintptr(size) != 0 {
		return nil, &OffsetError{Op: op, Offset: off, Len: len(b), Err: ErrUnaligned}
	}
	return p, nil
}
