package shm

import (
	"os"
	"sync/atomic"
	"unsafe"
)

// touch faults in every page of m, without changing a byte: a writable
// mapping gets an atomic add of 0 to the first word of each page (a write
// access, so the page is made present and writable, that cannot lose a
// concurrent write by another process), a read-only one an atomic load
// (which the compiler may not drop). m starts on a page boundary, so every
// word touched is aligned.
func touch(m []byte, writable bool) {
	page := os.Getpagesize()
	for off := 0; off+4 <= len(m); off += page {
		// &m[off] is inside the mapping and 4-byte aligned (page-aligned).
		w := (*uint32)(unsafe.Pointer(&m[off]))
		if writable {
			atomic.AddUint32(w, 0)
		} else {
			atomic.LoadUint32(w)
		}
	}
}
