package memfile

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/shmx/shmx"
)

// SeqLock publishes snapshots of a fixed-size value T from one writer to
// any number of readers, in this or other processes, without readers ever
// blocking the writer: a sequence counter is odd while a Store is in
// progress; a reader copies the value and keeps the copy only if the
// counter was even and unchanged around the copy.
//
// T must be plain data (no pointers, strings, slices, maps, interfaces,
// and fixed-width integers only, so that 32- and 64-bit processes agree).
//
// Every byte of the value is copied with 64-bit atomic loads and stores,
// one word at a time, so a reader racing with the writer reads words that
// are each intact (a mix of old and new words at worst, which the sequence
// check then rejects) and the program has no data race in the sense of the
// Go memory model: the race detector stays quiet.
//
// Store calls must not overlap (one writer, or writers serialised by a
// lock); an overlap is detected and panics. If the writer dies in the
// middle of a Store the counter stays odd: TryLoad then reports false and
// Load waits until a writer (the restarted one) stores again, which
// finishes the interrupted write.
//
// Layout (native-endian, 8-byte aligned, SeqLockSize[T]() bytes; all-zero
// bytes are a valid SeqLock holding the zero T):
//
//	offset size field
//	0      8    seq   even: stable; odd: a Store is in progress
//	8      4    size  unsafe.Sizeof(T), recorded by the first SeqLockAt; 0 before
//	12     4    (zero)
//	16          value, Sizeof(T) bytes rounded up to 8
type SeqLock[T any] struct {
	seq   *atomic.Uint64
	value unsafe.Pointer // 8-byte aligned, len rounded up to 8, inside b
	size  int
	b     []byte
}

const seqLockHdr = 16

// SeqLockSize returns the number of bytes a SeqLock[T] occupies.
func SeqLockSize[T any]() int {
	var v T
	return seqLockHdr + (int(unsafe.Sizeof(v))+7)&^7
}

// SeqLockAt returns a SeqLock[T] over b, which must be 8-byte aligned and
// at least SeqLockSize[T]() bytes; zeroed bytes are a valid SeqLock. It
// records T's size in b the first time; a size already recorded that
// differs (another process uses another T, or the bytes are garbage) is
// reported as an error wrapping ErrCorrupt.
func SeqLockAt[T any](b []byte) (*SeqLock[T], error) {
	var v T
	if err := checkPlain(reflect.TypeOf(&v).Elem()); err != nil {
		return nil, err
	}
	need := SeqLockSize[T]()
	if len(b) < need {
		return nil, fmt.Errorf("memfile: SeqLock of %d bytes needs %d", len(b), need)
	}
	if uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		return nil, fmt.Errorf("memfile: SeqLock memory not 8-byte aligned")
	}
	size := uint32(unsafe.Sizeof(v))
	sw := (*atomic.Uint32)(unsafe.Pointer(&b[8]))
	if !sw.CompareAndSwap(0, size) && sw.Load() != size {
		return nil, fmt.Errorf("memfile: SeqLock size %d, want %d: %w", sw.Load(), size, ErrCorrupt)
	}
	// b is 8-byte aligned and long enough: the casts above and below point
	// at aligned words inside it.
	return &SeqLock[T]{
		seq:   (*atomic.Uint64)(unsafe.Pointer(&b[0])),
		value: unsafe.Add(unsafe.Pointer(&b[0]), seqLockHdr),
		size:  int(size),
		b:     b,
	}, nil
}

// Store publishes v. Readers see either the previous value or v, never a
// mix. It panics if another Store overlaps it.
func (l *SeqLock[T]) Store(v T) {
	s := l.seq.Load()
	if s&1 == 0 && !l.seq.CompareAndSwap(s, s+1) {
		panic("memfile: concurrent SeqLock.Store")
	}
	// s odd: a writer died mid-Store; this Store completes that write.
	l.copyIn(&v)
	if !l.seq.CompareAndSwap(s|1, (s|1)+1) {
		panic("memfile: concurrent SeqLock.Store")
	}
}

// TryLoad returns a consistent copy of the value and true, or false if a
// Store was in progress or completed while it copied.
func (l *SeqLock[T]) TryLoad() (T, bool) {
	var v T
	s := l.seq.Load()
	if s&1 != 0 {
		return v, false
	}
	l.copyOut(&v)
	return v, l.seq.Load() == s
}

// Load returns a consistent copy of the value, retrying while Stores
// interfere: spinning briefly, then yielding the processor between tries.
func (l *SeqLock[T]) Load() T {
	for i := 0; ; i++ {
		if v, ok := l.TryLoad(); ok {
			return v
		}
		if i < 64 {
			shmx.Pause()
		} else {
			runtime.Gosched()
		}
	}
}

// Sequence returns the current sequence counter: it grows by two with
// every Store, so a reader can tell whether anything was published since
// it last looked.
func (l *SeqLock[T]) Sequence() uint64 { return l.seq.Load() }

// copyIn stores *v into the shared value, one atomic word at a time. The
// source is read through a byte slice (not a *uint64 cast) because T may
// be less aligned than 8 bytes.
func (l *SeqLock[T]) copyIn(v *T) {
	src := unsafe.Slice((*byte)(unsafe.Pointer(v)), l.size)
	i := 0
	for ; i+8 <= l.size; i += 8 {
		l.word(i).Store(binary.NativeEndian.Uint64(src[i:]))
	}
	if i < l.size {
		var last [8]byte
		copy(last[:], src[i:])
		l.word(i).Store(binary.NativeEndian.Uint64(last[:]))
	}
}

// copyOut loads the shared value into *v, one atomic word at a time.
func (l *SeqLock[T]) copyOut(v *T) {
	dst := unsafe.Slice((*byte)(unsafe.Pointer(v)), l.size)
	i := 0
	for ; i+8 <= l.size; i += 8 {
		binary.NativeEndian.PutUint64(dst[i:], l.word(i).Load())
	}
	if i < l.size {
		var last [8]byte
		binary.NativeEndian.PutUint64(last[:], l.word(i).Load())
		copy(dst[i:], last[:])
	}
}

// word returns the i-th byte's 64-bit word of the value: i is a multiple
// of 8 below the value size rounded up to 8, which SeqLockAt checked lies
// inside b.
func (l *SeqLock[T]) word(i int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(l.value, i))
}
