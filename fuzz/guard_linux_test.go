//go:build linux

package fuzz_test

import (
	"testing"

	"golang.org/x/sys/unix"
)

// guarded returns a zeroed n-byte slice whose last byte is the last byte
// of a readable page and whose next page is PROT_NONE, so that any read or
// write one byte past the slice faults (and the fuzzer records the input
// as a crasher) even where no Go bounds check would catch it: code that
// computes addresses with unsafe, or slices b[:cap(b)]. The capacity is n,
// so append copies instead of growing into the guard.
func guarded(tb testing.TB, n int) []byte {
	ps := unix.Getpagesize()
	pages := (n + ps - 1) / ps
	m, err := unix.Mmap(-1, 0, (pages+1)*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		tb.Fatalf("mmap %d pages: %v", pages+1, err)
	}
	tb.Cleanup(func() { unix.Munmap(m) })
	end := pages * ps
	if err := unix.Mprotect(m[end:], unix.PROT_NONE); err != nil {
		tb.Fatalf("mprotect guard page: %v", err)
	}
	return m[end-n : end : end]
}

// guardActive says whether guarded really places a fault page after the
// slice on this platform.
const guardActive = true
