package cbench

import (
	"testing"
	"unsafe"
)

// TestLoops runs each C loop once in one process: the mutex works and the
// counter is exact.
func TestLoops(t *testing.T) {
	if !Available {
		t.Skip("C baselines need cgo on Linux or FreeBSD")
	}
	mem := make([]uint64, (SharedSize+64)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8)
	if err := InitShared(b); err != nil {
		t.Fatal(err)
	}
	LockLoop(b, 1000)
	var n uint64
	TimedLockLoop(b, 1000, &n)
	if n != 1000 {
		t.Fatalf("counter %d, want 1000", n)
	}
	done := make(chan bool)
	go func() { PingPong(b, 1, 100); done <- true }()
	PingPong(b, 0, 100)
	<-done
	go func() { PollPong(b, 1, 100); done <- true }()
	PollPong(b, 0, 100)
	<-done
}
