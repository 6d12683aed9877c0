package atomicx

import "unsafe"

// Uint128 is a 128-bit value for CAS128 and Load128: Lo at the lower
// address, Hi eight bytes above it. It must sit at an address that is a
// multiple of 16, which Go does not guarantee for a Uint128 variable
// (its alignment is 8): get one from Uint128At, which checks.
type Uint128 struct{ Lo, Hi uint64 }

// CAS128 atomically compares *addr with old and, if they are equal,
// stores new, reporting whether it did. It is sequentially consistent,
// like sync/atomic's CompareAndSwap. addr must be a multiple of 16; a
// misaligned addr panics (a bug in the caller, as with sync/atomic's
// 64-bit functions on 32-bit platforms), since the instructions would
// fault or tear.
//
// With Native128 true, CAS128 is one hardware instruction (or an
// exclusive-monitor loop) and atomic across processes; otherwise it is
// atomic among the goroutines of this process only.
func CAS128(addr *Uint128, old, new Uint128) (swapped bool) {
	checkAligned(addr)
	return cas128(addr, old, new)
}

// Load128 atomically loads *addr. addr must be a multiple of 16.
//
// No 64-bit CPU before Armv8.4 (LSE2) or AVX (where Intel and AMD only
// documented 16-byte atomic loads in 2021) can load 16 bytes atomically,
// so Load128 is a compare-and-swap that stores back what it read: it
// needs the memory to be writable (a read-only mapping faults) and it
// takes the cache line exclusive, like a store.
func Load128(addr *Uint128) Uint128 {
	checkAligned(addr)
	return load128(addr)
}

// Native128 reports whether CAS128 and Load128 use hardware 128-bit
// atomics in this process (CMPXCHG16B, CASPAL or LDAXP/STLXP) and are
// therefore atomic across processes. It is false with the purego build
// tag, on architectures other than amd64 and arm64, and on amd64 CPUs
// without CMPXCHG16B; then a Uint128 shared between processes races.
func Native128() bool { return native128() }

// checkAligned panics when addr is not a multiple of 16. A nil addr
// passes here and faults on first use, as with sync/atomic.
func checkAligned(addr *Uint128) {
	if uintptr(unsafe.Pointer(addr))%16 != 0 {
		panic("atomicx: Uint128 address not 16-byte aligned")
	}
}
