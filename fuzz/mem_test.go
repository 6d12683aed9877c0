package fuzz_test

import "unsafe"

// aligned returns n zeroed bytes starting on an 8-byte boundary, as the
// lock and ring constructors require (in real use they sit at multiples of
// 8 in a page-aligned mapping). A []uint64 backing gives the alignment;
// unsafe.Slice views it as bytes.
func aligned(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), n)
}
