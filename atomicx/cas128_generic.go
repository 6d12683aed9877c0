package atomicx

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// The generic twin of CAS128 and Load128 serialises every access to a
// Uint128 through one of a fixed table of mutexes chosen by its address.
// That is atomic among goroutines of this process that all use the twin,
// and no more: the mutexes live in this process, so another process
// touching the same shared memory does not see them. A process that uses
// the twin must not share Uint128s with another process (see Native128).
// 64 stripes keep unrelated words from contending much while keeping the
// table at 64 × 128 bytes.
const stripes = 64

// stripeTable holds the mutexes, each on its own 128-byte block so that
// two stripes never share a cache line.
var stripeTable [stripes]struct {
	mu sync.Mutex
	_  [128 - unsafe.Sizeof(sync.Mutex{})]byte
}

// stripeFor hashes addr (Fibonacci hashing of the 16-byte slot number)
// to its mutex.
func stripeFor(addr *Uint128) *sync.Mutex {
	slot := uint64(uintptr(unsafe.Pointer(addr)) >> 4)
	return &stripeTable[(slot*0x9E3779B97F4A7C15)>>(64-6)].mu
}

// casGeneric is the pure-Go twin of the assembly CAS128. The halves are
// accessed atomically, so that a Load128 of the other implementation in
// the same process (tests compare the two) never races on a half.
func casGeneric(addr *Uint128, old, new Uint128) bool {
	mu := stripeFor(addr)
	mu.Lock()
	defer mu.Unlock()
	if atomic.LoadUint64(&addr.Lo) != old.Lo || atomic.LoadUint64(&addr.Hi) != old.Hi {
		return false
	}
	atomic.StoreUint64(&addr.Lo, new.Lo)
	atomic.StoreUint64(&addr.Hi, new.Hi)
	return true
}

// loadGeneric is the pure-Go twin of the assembly Load128.
func loadGeneric(addr *Uint128) Uint128 {
	mu := stripeFor(addr)
	mu.Lock()
	defer mu.Unlock()
	return Uint128{Lo: atomic.LoadUint64(&addr.Lo), Hi: atomic.LoadUint64(&addr.Hi)}
}
