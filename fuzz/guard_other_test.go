//go:build !linux

package fuzz_test

import "testing"

// guarded returns a zeroed n-byte slice, 8-byte aligned when n is a
// multiple of 8. Only Linux places a PROT_NONE page after it (see
// guard_linux_test.go); elsewhere a stray read past the end is caught
// only where Go checks bounds.
func guarded(tb testing.TB, n int) []byte {
	return aligned(n)
}

// guardActive says whether guarded really places a fault page after the
// slice on this platform.
const guardActive = false
