package memfile

import (
	"context"
	"fmt"
	sw "github.com/shmx/shmx/internal/word"
	"reflect"
	"runtime"
	"time"
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
// A reader copies the value with 64-bit atomic loads, one word at a
// time; the writer stores it with one memmove (plain stores, ordered
// before the compare-and-swap that ends the Store), or, in a -race build,
// one atomic store per word, so that the race detector stays quiet. A
// reader racing with the writer may thus copy a mix of old and new bytes,
// which the sequence check then rejects (see internal/word, "Payloads").
//
// Store calls must not overlap (one writer, or writers serialised by a
// lock). A Store names its process (its token, internal/live) in the
// sequence word in the same atomic step that makes the counter odd, so an
// overlapping Store sees the first one before it writes a byte and panics:
// readers never accept a value two writers mixed.
//
// If the writer dies in the middle of a Store the counter stays odd:
// TryLoad reports false, LoadContext returns an error matching
// ErrOwnerDead once the kernel says the writer is gone (see Mutex: only in
// a MemFile's mapping), and Load waits until a writer stores again. The
// next Store takes over from a dead writer and finishes the interrupted
// write; a Store that finds the odd counter of a writer that may be alive
// panics.
//
// State of the sequence word (seq: low 32 bits; writer: high 32 bits):
//
//	from                 to                    by
//	seq even, 0          seq+1, own token      Store begins (CAS)
//	seq odd, own token   seq+1, 0              Store ends (CAS)
//	seq odd, dead token  seq, own token        Store takes over (CAS), then ends
//	seq odd, live token  —                     Store panics (overlap)
//
// Layout (native-endian, 8-byte aligned, SeqLockSize[T]() bytes; all-zero
// bytes are a valid SeqLock holding the zero T):
//
//	offset size field
//	0      8    seq   low 32 bits: even stable, odd a Store in progress; high 32: its writer's token
//	8      4    kind  unsafe.Sizeof(T) | seqLockVersion<<24, recorded by the first SeqLockAt; 0 before
//	12     4    (zero)
//	16          value, Sizeof(T) bytes rounded up to 8
//
// Version 1 recorded the bare size (no version byte) and counted with all
// 64 bits: SeqLockAt refuses it with ErrVersion.
type SeqLock[T any] struct {
	seq   *sw.Uint64
	value unsafe.Pointer // 8-byte aligned, len rounded up to 8, inside b
	size  int
	b     []byte
}

const (
	seqLockHdr     = 16
	seqLockVersion = 2
	seqLockMaxSize = 1<<24 - 1 // the size field's width
	seqInProgress  = 1
	seqMask        = 1<<32 - 1
)

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
	if unsafe.Sizeof(v) > seqLockMaxSize {
		return nil, fmt.Errorf("memfile: SeqLock value of %d bytes, at most %d", unsafe.Sizeof(v), seqLockMaxSize)
	}
	size := uint32(unsafe.Sizeof(v))
	kind := size | seqLockVersion<<24
	kw := (*sw.Uint32)(unsafe.Pointer(&b[8]))
	if !kw.CompareAndSwap(0, kind) {
		switch got := kw.Load(); {
		case got == kind:
		case got>>24 != seqLockVersion:
			return nil, fmt.Errorf("memfile: SeqLock layout version %d, this build reads %d: %w", got>>24, seqLockVersion, ErrVersion)
		default:
			return nil, fmt.Errorf("memfile: SeqLock size %d, want %d: %w", got&seqLockMaxSize, size, ErrCorrupt)
		}
	}
	// b is 8-byte aligned and long enough: the casts above and below point
	// at aligned words inside it.
	return &SeqLock[T]{
		seq:   (*sw.Uint64)(unsafe.Pointer(&b[0])),
		value: unsafe.Add(unsafe.Pointer(&b[0]), seqLockHdr),
		size:  int(size),
		b:     b,
	}, nil
}

// Store publishes v. Readers see either the previous value or v, never a
// mix. It panics if another Store overlaps it (see SeqLock).
func (l *SeqLock[T]) Store(v T) {
	mine := l.begin()
	l.copyIn(&v)
	if !l.seq.CompareAndSwap(mine, (mine+1)&seqMask) {
		panic("memfile: concurrent SeqLock.Store")
	}
}

// begin makes the counter odd with this process as its writer, taking
// over from a dead writer, and returns the word it wrote.
func (l *SeqLock[T]) begin() uint64 {
	s := l.seq.Load()
	var mine uint64
	switch {
	case s&seqInProgress == 0:
		mine = (s+1)&seqMask | uint64(self())<<32
	case gone(unsafe.Pointer(l.seq), uint32(s>>32)):
		// The writer died mid-Store: this Store completes that write.
		mine = s&seqMask | uint64(self())<<32
	default:
		panic(fmt.Sprintf("memfile: concurrent SeqLock.Store (a Store of process token %#x is in progress, or it died where no kernel vouches for it)", uint32(s>>32)))
	}
	if !l.seq.CompareAndSwap(s, mine) {
		panic("memfile: concurrent SeqLock.Store")
	}
	return mine
}

// TryLoad returns a consistent copy of the value and true, or false if a
// Store was in progress or completed while it copied.
func (l *SeqLock[T]) TryLoad() (T, bool) {
	var v T
	s := l.seq.Load()
	if s&seqInProgress != 0 {
		return v, false
	}
	l.copyOut(&v)
	return v, l.seq.Load() == s
}

// Load returns a consistent copy of the value, retrying while Stores
// interfere: spinning briefly, then yielding the processor, then sleeping
// up to a millisecond between tries (so that a writer that died mid-Store
// costs its readers little CPU until the next Store).
func (l *SeqLock[T]) Load() T {
	v, _ := l.load(nil)
	return v
}

// LoadContext is Load that gives up when ctx is done, returning ctx.Err(),
// or when the writer died in the middle of a Store, returning an error
// matching ErrOwnerDead: no consistent value exists until the next Store.
// A nil ctx means context.Background().
func (l *SeqLock[T]) LoadContext(ctx context.Context) (T, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	return l.load(ctx)
}

// load is Load (ctx nil: wait for ever, never report a dead writer) and
// LoadContext.
func (l *SeqLock[T]) load(ctx context.Context) (T, error) {
	for i := 0; ; i++ {
		v, ok := l.TryLoad()
		if ok {
			return v, nil
		}
		switch {
		case i < 64:
			shmx.Pause()
			continue
		case i < 128 && !sw.Exploring:
			runtime.Gosched()
			continue
		}
		if ctx != nil {
			if err := ctx.Err(); err != nil {
				return v, err
			}
			if s := l.seq.Load(); s&seqInProgress != 0 && gone(unsafe.Pointer(l.seq), uint32(s>>32)) {
				return v, fmt.Errorf("memfile: SeqLock writer (token %#x) died in the middle of a Store: %w", uint32(s>>32), ErrOwnerDead)
			}
		}
		sw.Sleep(time.Duration(min(i-127, 1000)) * time.Microsecond)
	}
}

// Sequence returns the current sequence counter: it grows by two with
// every Store, so a reader can tell whether anything was published since
// it last looked. It wraps after 2^31 Stores.
func (l *SeqLock[T]) Sequence() uint64 { return l.seq.Load() & seqMask }

// copyIn stores *v into the shared value (sw.StorePayload; see SeqLock
// on what a racing reader may see). The source is taken as bytes
// because T may be less aligned than 8 bytes.
func (l *SeqLock[T]) copyIn(v *T) {
	sw.StorePayload(l.value, unsafe.Slice((*byte)(unsafe.Pointer(v)), l.size))
}

// copyOut loads the shared value into *v, one atomic word at a time
// (sw.LoadPayload).
func (l *SeqLock[T]) copyOut(v *T) {
	sw.LoadPayload(unsafe.Slice((*byte)(unsafe.Pointer(v)), l.size), l.value)
}
