//go:build shmxexplore || race

package word

import "unsafe"

// StorePayload copies src into the shared memory at dst (8-byte aligned,
// with len(src) rounded up to 8 bytes writable there) for readers that
// validate what they read; see "Payloads". This build (race or explorer):
// one atomic store per word, so that neither the race detector nor the
// explorer sees a plain store that a reader races with.
func StorePayload(dst unsafe.Pointer, src []byte) { storeWords(dst, src) }
