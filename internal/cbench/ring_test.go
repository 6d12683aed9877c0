package cbench

import (
	"testing"
	"time"
	"unsafe"
)

// TestSPSC moves messages through the C SPSC ring between two
// goroutines, more than a lap at a time and in two runs each ended by
// SPSCStop: every message arrives (count and sum exact).
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
		go func() {
			err := SPSCProduce(b, first, n/2, deadline)
			if err == nil {
				err = SPSCProduce(b, first+n/2, n-n/2, deadline)
			}
			if err == nil {
				err = SPSCStop(b, deadline)
			}
			done <- err
		}()
		got, sum, err := SPSCConsume(b, deadline)
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
		if got != uint64(n) || sum != want {
			t.Fatalf("%d messages summing to %d, want %d summing to %d", got, sum, n, want)
		}
		first += n
	}
	if _, _, err := SPSCConsume(b, time.Now().Add(10*time.Millisecond)); err == nil {
		t.Fatal("SPSCConsume of an empty ring with no producer returned")
	}
}
