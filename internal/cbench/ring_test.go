package cbench

import (
	"testing"
	"time"
	"unsafe"
)

// TestSPSC moves messages through the C SPSC ring between two
// goroutines, more than a lap at a time and in two runs: every word
// arrives (the sum is exact).
func TestSPSC(t *testing.T) {
	if !Available {
		t.Skip("C baselines need cgo on Linux or FreeBSD")
	}
	mem := make([]uint64, (SPSCSize+256)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8)
	b = b[(128-uintptr(unsafe.Pointer(&b[0]))%128)%128:]
	if err := SPSCInit(b); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	first := 0
	for _, n := range []int{1000, 100000} {
		done := make(chan error, 1)
		go func() { done <- SPSCProduce(b, first, n, deadline) }()
		sum, err := SPSCConsume(b, n, deadline)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := uint64(0)
		for i := first; i < first+n; i++ {
			want += 8 * uint64(i)
		}
		if sum != want {
			t.Fatalf("sum of %d messages %d, want %d", n, sum, want)
		}
		first += n
	}
	if _, err := SPSCConsume(b, 1, time.Now().Add(10*time.Millisecond)); err == nil {
		t.Fatal("SPSCConsume of an empty ring with no producer returned")
	}
}
