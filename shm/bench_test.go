package shm

import (
	"testing"
)

// BenchmarkCreateOpenClose measures the life of a small segment: Create,
// Open a second mapping, Close both, Remove.
func BenchmarkCreateOpenClose(b *testing.B) {
	name := testName(b)
	b.ReportAllocs()
	for b.Loop() {
		s, err := Create(name, 4096)
		if err != nil {
			b.Fatal(err)
		}
		o, err := Open(name)
		if err != nil {
			b.Fatal(err)
		}
		o.Close()
		s.Close()
		Remove(name)
	}
}

const copySize = 64 << 20

// source returns a 64 MiB heap buffer with non-zero contents.
func source() []byte {
	src := make([]byte, copySize)
	for i := range src {
		src[i] = byte(i)
	}
	return src
}

// BenchmarkSegmentCopy writes 64 MiB into a prefaulted segment: once its
// pages are present, shared memory is ordinary memory, and this should
// match BenchmarkHeapCopy.
func BenchmarkSegmentCopy(b *testing.B) {
	src := source()
	s := mustCreate(b, testName(b), copySize, WithPrefault())
	copy(s.Bytes(), src)
	b.SetBytes(copySize)
	b.ResetTimer()
	for b.Loop() {
		copy(s.Bytes(), src)
	}
}

// BenchmarkHeapCopy is BenchmarkSegmentCopy's yardstick: the same copy
// between two heap buffers.
func BenchmarkHeapCopy(b *testing.B) {
	src := source()
	dst := make([]byte, copySize)
	copy(dst, src)
	b.SetBytes(copySize)
	b.ResetTimer()
	for b.Loop() {
		copy(dst, src)
	}
}
