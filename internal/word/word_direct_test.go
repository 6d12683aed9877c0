//go:build !shmxexplore

package word

import (
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/live"
)

// TestDirect: in a normal build every operation is the real one.
func TestDirect(t *testing.T) {
	var w32 uint32
	StoreUint32(&w32, 5)
	if LoadUint32(&w32) != 5 || AddUint32(&w32, 2) != 7 || !CompareAndSwapUint32(&w32, 7, 9) || CompareAndSwapUint32(&w32, 7, 1) || w32 != 9 {
		t.Fatalf("32-bit operations: %d", w32)
	}
	var w64 uint64
	StoreUint64(&w64, 1<<40)
	if LoadUint64(&w64) != 1<<40 || !CompareAndSwapUint64(&w64, 1<<40, 3) || w64 != 3 {
		t.Fatalf("64-bit operations: %d", w64)
	}
	var u Uint64
	u.Store(4)
	if u.Add(1) != 5 {
		t.Fatal("typed Uint64")
	}
	if Self() != live.Self() || SelfHigh() != uint64(live.Self())<<32 {
		t.Fatal("Self is not live.Self")
	}
	if Gone(unsafe.Pointer(&w32), Self()^1) {
		t.Fatal("untracked memory judged a process gone")
	}
	start := Now()
	if err := Wait(&w32, 9, 5*time.Millisecond); err == nil && Since(start) < 5*time.Millisecond && LoadUint32(&w32) == 9 {
		t.Log("woke early (spurious wake-ups are allowed)")
	}
	if n, err := Wake(&w32, 1); err != nil || n != 0 && WakeCounts {
		t.Fatalf("Wake with nobody waiting = %d, %v", n, err)
	}
	sp := NewSpinner(time.Microsecond)
	for sp.Spin() {
	}
	if Exploring {
		t.Fatal("Exploring in a normal build")
	}
}
