//go:build !shmxexplore && !race

package word

import "unsafe"

// StorePayload copies src into the shared memory at dst (8-byte aligned,
// with len(src) rounded up to 8 bytes writable there) for readers that
// validate what they read; see "Payloads". This build: one memmove.
func StorePayload(dst unsafe.Pointer, src []byte) {
	copy(unsafe.Slice((*byte)(dst), len(src)), src)
}
