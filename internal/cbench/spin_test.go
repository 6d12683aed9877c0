package cbench

import (
	"errors"
	"sync/atomic"
	"testing"
	"unsafe"
)

// aligned returns n zero bytes at a 128-byte aligned address.
func aligned(n int) []byte {
	b := make([]byte, n+128)
	off := (128 - int(uintptr(unsafe.Pointer(&b[0]))%128)) % 128
	return b[off : off+n]
}

// pong plays n rounds from from on both sides at once, side 1 in a
// goroutine, and returns both sides' errors.
func pong(play func(me int, lat []int64) error, lat []int64) (err0, err1 error) {
	done := make(chan error)
	go func() { done <- play(1, nil) }()
	err0 = play(0, lat)
	return err0, <-done
}

// TestSpinExchanges runs each spinning exchange in one process, two
// goroutines as its two sides, twice (the second continuing the rounds
// of the first): every message must arrive whole (the loops check each
// one) and every round trip must be timed.
func TestSpinExchanges(t *testing.T) {
	if !Available {
		t.Skip("C baselines need cgo on Linux or FreeBSD")
	}
	const n = 500
	var stop uint32
	line := aligned(LineSize)
	for _, size := range []int{1, 64, 1000, 64 << 10} {
		for _, inPlace := range []bool{false, true} {
			mem := aligned(FlagSize(size))
			for from := 0; from <= n; from += n {
				lat := make([]int64, n)
				e0, e1 := pong(func(me int, lat []int64) error { return FlagPong(mem, &stop, size, inPlace, me, from, n, lat) }, lat)
				if e0 != nil || e1 != nil {
					t.Fatalf("FlagPong(size %d, in place %v, from %d): %v, %v", size, inPlace, from, e0, e1)
				}
				checkLat(t, lat)
			}
		}
	}
	for from := 0; from <= n; from += n {
		lat := make([]int64, n)
		e0, e1 := pong(func(me int, lat []int64) error { return LinePong(line, &stop, me, from, n, lat) }, lat)
		if e0 != nil || e1 != nil {
			t.Fatalf("LinePong(from %d): %v, %v", from, e0, e1)
		}
		checkLat(t, lat)
	}
}

func checkLat(t *testing.T, lat []int64) {
	t.Helper()
	for i, d := range lat {
		if d < 0 {
			t.Fatalf("round trip %d timed %d ns", i, d)
		}
	}
}

// TestSpinStop: a side whose peer never answers gives up when the stop
// word is set, and a message that arrives wrong fails the exchange.
func TestSpinStop(t *testing.T) {
	if !Available {
		t.Skip("C baselines need cgo on Linux or FreeBSD")
	}
	var stop uint32
	done := make(chan error)
	line := aligned(LineSize)
	go func() { done <- LinePong(line, &stop, 0, 0, 10, nil) }()
	atomic.StoreUint32(&stop, 1)
	if err := <-done; !errors.Is(err, ErrStopped) {
		t.Errorf("LinePong with no peer, stopped: %v, want ErrStopped", err)
	}
	mem := aligned(FlagSize(64))
	go func() { done <- FlagPong(mem, &stop, 64, true, 1, 0, 10, nil) }()
	if err := <-done; !errors.Is(err, ErrStopped) {
		t.Errorf("FlagPong with no peer, stopped: %v, want ErrStopped", err)
	}

	// Side 1 waiting for round 0 is handed a request of round 0 whose
	// bytes are not the ones side 0 would have written.
	stop = 0
	*(*uint64)(unsafe.Pointer(&mem[0])) = 1 // request sequence of round 0
	mem[256] = 0xff
	go func() { done <- FlagPong(mem, &stop, 64, true, 1, 0, 1, nil) }()
	if err := <-done; err == nil || errors.Is(err, ErrStopped) {
		t.Errorf("FlagPong of a broken message: %v, want a failure", err)
	}
	if err := LinePong(line[1:], &stop, 0, 0, 1, nil); err == nil {
		t.Error("LinePong accepted a line that is not aligned")
	}
}
