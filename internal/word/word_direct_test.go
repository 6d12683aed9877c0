//go:build !shmxexplore

package word

import (
	"fmt"
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

// TestStoreRelease checks StoreRelease's value and its one promise, the
// message-passing order: a reader that sees the flag stored by
// StoreRelease sees the payload stored before it. Then Fence's: after
// a StoreRelease and a Fence, each of two goroutines that stored its own
// flag sees the other's (store buffering, the Dekker pair), never both
// zero.
func TestStoreRelease(t *testing.T) {
	var x Uint64
	StoreRelease(&x, 42)
	if x.Load() != 42 {
		t.Fatalf("StoreRelease stored %d, want 42", x.Load())
	}
	const rounds = 200000
	var payload, flag Uint64
	done := make(chan string)
	go func() {
		for f := uint64(0); f < rounds; {
			f = flag.Load()
			if p := payload.Load(); p < f {
				done <- fmt.Sprintf("saw flag %d, then payload %d", f, p)
				return
			}
		}
		done <- ""
	}()
	for i := uint64(1); i <= rounds; i++ {
		payload.Store(i)
		StoreRelease(&flag, i)
	}
	if msg := <-done; msg != "" {
		t.Fatal(msg)
	}
	var a, b Uint64
	for i := range 2000 {
		a.Store(0)
		b.Store(0)
		var seenA, seenB uint64
		start := make(chan struct{})
		fin := make(chan struct{})
		go func() {
			<-start
			StoreRelease(&b, 1)
			Fence()
			seenA = a.Load()
			close(fin)
		}()
		close(start)
		StoreRelease(&a, 1)
		Fence()
		seenB = b.Load()
		<-fin
		if seenA == 0 && seenB == 0 {
			t.Fatalf("round %d: both goroutines missed the other's store across Fence", i)
		}
	}
}
