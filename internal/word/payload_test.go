package word

import (
	"bytes"
	"testing"
	"unsafe"
)

// TestPayload: StorePayload (this build's form) and storeWords (the race
// and explorer builds' form) both store every byte of the source and
// nothing outside the source rounded up to 8 bytes, and LoadPayload reads
// back exactly the bytes asked for, for every length across three words.
func TestPayload(t *testing.T) {
	const guard = 0xa5
	for n := 0; n <= 24; n++ {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i*7 + 1)
		}
		for _, store := range []struct {
			name string
			f    func(unsafe.Pointer, []byte)
		}{{"StorePayload", StorePayload}, {"storeWords", storeWords}} {
			mem := make([]uint64, 5) // 8-byte aligned; word 0 and 4 are guards
			b := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), 40)
			for i := range b {
				b[i] = guard
			}
			store.f(unsafe.Pointer(&mem[1]), src)
			if !bytes.Equal(b[8:8+n], src) {
				t.Fatalf("%s of %d bytes stored %x", store.name, n, b[8:8+n])
			}
			end := 8 + (n+7)/8*8 // bytes past this are not the payload's
			for i, c := range b {
				if (i < 8 || i >= end) && c != guard {
					t.Fatalf("%s of %d bytes wrote byte %d outside its words", store.name, n, i)
				}
			}
			got := make([]byte, n)
			LoadPayload(got, unsafe.Pointer(&mem[1]))
			if !bytes.Equal(got, src) {
				t.Fatalf("LoadPayload of %d bytes after %s: %x", n, store.name, got)
			}
		}
	}
}

// BenchmarkStorePayload compares this build's StorePayload with the
// atomic store per word of the race and explorer builds, for 64 bytes.
func BenchmarkStorePayload(b *testing.B) {
	mem := make([]uint64, 8)
	src := make([]byte, 64)
	for _, store := range []struct {
		name string
		f    func(unsafe.Pointer, []byte)
	}{{"StorePayload", StorePayload}, {"storeWords", storeWords}} {
		b.Run(store.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				store.f(unsafe.Pointer(&mem[0]), src)
			}
		})
	}
}
