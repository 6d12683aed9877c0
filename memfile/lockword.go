package memfile

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/shmx/shmx"
)

// Sizes in bytes of the synchronisation objects, as they are laid out in
// shared memory. They are part of the segment format: a header embeds a
// lock and events by these sizes, and every process, 32- or 64-bit, amd64
// or arm64, agrees on them. Each object must start at an offset that is a
// multiple of 8.
const (
	MutexSize     = 16
	RWMutexSize   = 1088
	EventSize     = 16
	SemaphoreSize = 512
	CondSize      = 16
)

// The locks satisfy sync.Locker, like their sync counterparts.
var (
	_ sync.Locker = (*Mutex)(nil)
	_ sync.Locker = (*RWMutex)(nil)
)

// Compile-time checks that the Go structs have exactly the documented
// sizes on every GOARCH (a negative array length fails the build).
var (
	_ [MutexSize - unsafe.Sizeof(Mutex{})]byte
	_ [unsafe.Sizeof(Mutex{}) - MutexSize]byte
	_ [RWMutexSize - unsafe.Sizeof(RWMutex{})]byte
	_ [unsafe.Sizeof(RWMutex{}) - RWMutexSize]byte
	_ [EventSize - unsafe.Sizeof(Event{})]byte
	_ [unsafe.Sizeof(Event{}) - EventSize]byte
	_ [SemaphoreSize - unsafe.Sizeof(Semaphore{})]byte
	_ [unsafe.Sizeof(Semaphore{}) - SemaphoreSize]byte
	_ [CondSize - unsafe.Sizeof(Cond{})]byte
	_ [unsafe.Sizeof(Cond{}) - CondSize]byte
)

// MutexAt returns the Mutex stored in the first MutexSize bytes of b,
// which must be 8-byte aligned (an offset that is a multiple of 8 into a
// mapping is). The Mutex aliases b: it is valid while b stays mapped.
// All-zero bytes are an unlocked Mutex.
func MutexAt(b []byte) (*Mutex, error) {
	p, err := objectAt(b, MutexSize, "Mutex")
	return (*Mutex)(p), err
}

// RWMutexAt returns the RWMutex stored in the first RWMutexSize bytes of
// b, which must be 8-byte aligned. All-zero bytes are an unlocked RWMutex.
func RWMutexAt(b []byte) (*RWMutex, error) {
	p, err := objectAt(b, RWMutexSize, "RWMutex")
	return (*RWMutex)(p), err
}

// EventAt returns the Event stored in the first EventSize bytes of b,
// which must be 8-byte aligned. All-zero bytes are an auto-reset Event
// that is not set; see InitEvent for a manual-reset one.
func EventAt(b []byte) (*Event, error) {
	p, err := objectAt(b, EventSize, "Event")
	return (*Event)(p), err
}

// SemaphoreAt returns the Semaphore stored in the first SemaphoreSize
// bytes of b, which must be 8-byte aligned. All-zero bytes are a
// Semaphore with count 0 and no capacity limit; see InitSemaphore.
//
// The bytes were written by other processes, maybe broken ones, so they
// are checked: a Semaphore of the earlier 16-byte layout (a count or
// capacity with layout version 0) or of another layout version is an
// error matching ErrVersion; bytes no correct process leaves (a count
// above the capacity, units that do not add up to it, a malformed holder
// entry or queue slot, a pending journal with a consistent lock) are an
// error matching ErrCorrupt. Every invariant is checked when the
// semaphore's lock is free; while another process is inside a critical
// section only the version, count and capacity are (see Semaphore). If
// a process died inside a section, SemaphoreAt repairs it first, as the
// next operation would.
func SemaphoreAt(b []byte) (*Semaphore, error) {
	p, err := objectAt(b, SemaphoreSize, "Semaphore")
	if err != nil {
		return nil, err
	}
	s := (*Semaphore)(p)
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// objectAt checks that b can hold an object of size bytes whose 64-bit
// words are naturally aligned, and returns the address of b[0].
func objectAt(b []byte, size int, what string) (unsafe.Pointer, error) {
	// The first Spinner of a process calibrates the tick rate (about
	// 1 ms on amd64): pay it here, when the object is placed, rather than
	// on the first contended lock.
	shmx.TicksPerSecond()
	if len(b) < size {
		return nil, fmt.Errorf("memfile: %s needs %d bytes, have %d", what, size, len(b))
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%8 != 0 {
		return nil, fmt.Errorf("memfile: %s at address %#x is not 8-byte aligned", what, uintptr(p))
	}
	// Legal: b[0:size] is memory we may read and write (a Go slice, or a
	// mapping the caller keeps alive); the struct types have only
	// fixed-width atomic fields, so any bit pattern is a valid value, and
	// the alignment check above satisfies the 64-bit atomics on every
	// GOARCH, 32-bit ones included.
	return p, nil
}

// lowWord returns the futex word of a 64-bit lock state: its low 32 bits,
// the first four bytes on a little-endian CPU (every GOARCH shmx targets)
// and the last four on a big-endian one. Legal: the result points inside
// the same 8-byte object, 4-byte aligned.
func lowWord(p *uint64) *uint32 {
	return (*uint32)(unsafe.Add(unsafe.Pointer(p), lowOffset))
}

// lowOffset is 0 on little-endian CPUs and 4 on big-endian ones.
var lowOffset = func() uintptr {
	x := uint64(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return 0
	}
	return 4
}()
