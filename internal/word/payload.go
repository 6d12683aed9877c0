package word

import (
	"encoding/binary"
	"unsafe"
)

// Payloads: the bytes of a message or value that a writer stores while
// readers in other processes may be reading them, and that every reader
// validates afterwards (a SeqLock's sequence, a Broadcast slot's mark,
// read again after the copy). A reader may therefore see any mix of old
// and new bytes; the validation, not the copy, is what keeps a torn
// value from being returned. What the copy must give is only this: the
// writer's bytes are all stored before the release store that follows
// them (the sequence or mark that says the value is complete), and the
// reader's loads are all done before the load that validates them.
//
// StorePayload is where the three builds differ:
//
//	build              StorePayload                          why
//	normal             one memmove (copy)                    plain stores; the release store after them orders them
//	-race              one atomic 64-bit store per word      the race detector sees no race with a racing reader
//	-tags shmxexplore  one scheduled atomic store per word   the explorer runs a reader between two words
//
// A memmove instead of an atomic store per word is what makes a 64-byte
// Broadcast Publish 2.5 times faster on amd64, where every atomic store
// is an XCHG (a locked instruction): BenchmarkBroadcastPublish 25-26 ns
// against 64-67 ns, BenchmarkSeqLockStore 15.5-15.7 ns against
// 33.7-34.1 (old and new test binaries interleaved, 3 runs each). What
// orders the plain stores is the sync/atomic Store or CompareAndSwap
// that publishes them (XCHG or LOCK CMPXCHG on amd64, STLR or a
// release CAS on arm64): no store before it becomes visible after it.
// The plain stores a zero-copy writer makes into a Broadcast slot
// (BroadcastSlot.Bytes) are the same thing, done by the caller.
//
// LoadPayload is one atomic load per word in every build (a MOV on amd64,
// an LDAR on arm64): each load is an acquire, so the validating load that
// follows cannot be satisfied before any of them.

// LoadPayload copies len(dst) bytes from the shared memory at src (8-byte
// aligned, with len(dst) rounded up to 8 bytes readable there) into dst,
// one atomic 64-bit load at a time.
func LoadPayload(dst []byte, src unsafe.Pointer) {
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		binary.NativeEndian.PutUint64(dst[i:], (*Uint64)(unsafe.Add(src, i)).Load())
	}
	if i < len(dst) {
		var last [8]byte
		binary.NativeEndian.PutUint64(last[:], (*Uint64)(unsafe.Add(src, i)).Load())
		copy(dst[i:], last[:])
	}
}

// storeWords is StorePayload one atomic 64-bit store per word, for the
// race and explorer builds: the last partial word is stored whole, with
// zeros after the source's bytes.
func storeWords(dst unsafe.Pointer, src []byte) {
	i := 0
	for ; i+8 <= len(src); i += 8 {
		(*Uint64)(unsafe.Add(dst, i)).Store(binary.NativeEndian.Uint64(src[i:]))
	}
	if i < len(src) {
		var last [8]byte
		copy(last[:], src[i:])
		(*Uint64)(unsafe.Add(dst, i)).Store(binary.NativeEndian.Uint64(last[:]))
	}
}
