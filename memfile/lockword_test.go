package memfile

import (
	"context"
	"encoding/binary"
	sw "github.com/shmx/shmx/internal/word"
	"testing"
	"time"
	"unsafe"
)

// TestLayouts checks the documented byte layouts, which every process of
// every GOARCH must agree on, against the bytes the objects write.
func TestLayouts(t *testing.T) {
	le := binary.LittleEndian
	tok := selfToken
	mem := make([]uint64, RWMutexSize/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8)

	m, _ := MutexAt(b)
	m.Lock()
	if b[0]&1 == 0 || le.Uint32(b[4:]) != tok || le.Uint64(b[8:]) != 0 {
		t.Errorf("locked Mutex bytes % x: want bit 0 of byte 0 set, token %#x at 4 and 0 at 8", b[:16], tok)
	}
	m.Unlock()
	if le.Uint64(b[0:]) != 0 {
		t.Errorf("unlocked Mutex state % x, want 0", b[:8])
	}

	clear(mem)
	rw, _ := RWMutexAt(b)
	rw.RLock()
	// The hold is in one of this process's home slots (which one depends
	// on the CPU the goroutine runs on, see rwStripes).
	held := 0
	for i := range rwSlots {
		slot := 64 + 64*i
		switch w := le.Uint64(b[slot:]); {
		case w == 0:
		case (i-slotStart(tok))&(rwSlots-1) < rwStripes && le.Uint32(b[slot:]) == tok && le.Uint32(b[slot+4:]) == 1:
			held++
		default:
			t.Errorf("read-locked RWMutex slot %d bytes % x: want 0, or token %#x with 1 hold in a home slot", i, b[slot:slot+8], tok)
		}
	}
	if held != 1 {
		t.Errorf("read-locked RWMutex: %d slots hold the token %#x, want 1", held, tok)
	}
	rw.RUnlock()
	rw.Lock()
	if b[0]&1 == 0 || b[16]&1 == 0 {
		t.Errorf("write-locked RWMutex bytes % x: want bit 0 of bytes 0 and 16", b[:32])
	}
	rw.Unlock()

	clear(mem)
	e, _ := InitEvent(b, ManualReset)
	e.Set()
	if b[0] != 3 {
		t.Errorf("set manual-reset Event byte 0 = %d, want 3", b[0])
	}

	clear(mem)
	InitSemaphore(b, 5, 3)
	if le.Uint32(b[0:]) != 3 || le.Uint32(b[4:]) != 5 {
		t.Errorf("Semaphore bytes % x: want count 3 at 0, capacity 5 at 4", b[:16])
	}
}

// TestSlowPathsZeroAllocs: the waiting paths allocate nothing either
// (measured with a context that has expired, so each call registers as a
// waiter, gives up and unregisters).
func TestSlowPathsZeroAllocs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	var m Mutex
	var rw RWMutex
	var e Event
	var s Semaphore
	m.Lock()
	defer m.Unlock()
	for name, f := range map[string]func(){
		"Mutex.LockContext":    func() { m.LockContext(ctx) },
		"RWMutex.RLockContext": func() { rw.RLockContext(ctx) },
		"Event.Wait":           func() { e.Wait(ctx) },
		"Semaphore.Acquire":    func() { s.Acquire(ctx, 1) },
	} {
		if name == "RWMutex.RLockContext" {
			rw.Lock()
		}
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per timed-out wait", name, n)
		}
		if name == "RWMutex.RLockContext" {
			rw.Unlock()
		}
	}
	rw.RLock()
	if n := testing.AllocsPerRun(100, func() { rw.LockContext(ctx) }); n != 0 {
		t.Errorf("RWMutex.LockContext: %v allocations per timed-out wait", n)
	}
	rw.RUnlock()
}

// TestStretch pins the waiting policy's slice stretch: slices keep their
// length up to sliceSleepers sleepers of the process, grow in proportion
// beyond (a poll slice, shortWait, to the same total rate as the others),
// and the Mutex's short hand-off slices never grow.
func TestStretch(t *testing.T) {
	if sw.Exploring {
		t.Skip("the stretch is off in the explorer build")
	}
	old := sleepers.Load()
	defer sleepers.Store(old)
	sleepers.Store(0)
	if got := stretch(sliceWait); got != sliceWait {
		t.Fatalf("alone: %v", got)
	}
	sleepers.Store(999) // with the caller, 1,000
	// stretch reads the clock between before and after: its slice ends
	// on the grid, so before+got lies at most after-before short of it.
	onGrid := func(what string, slice, want time.Duration) {
		t.Helper()
		before := time.Since(gridEpoch)
		got := stretch(slice)
		after := time.Since(gridEpoch)
		if got < want || got > want+sliceGrid+(after-before) {
			t.Fatalf("%s: %v, want %v plus at most %v", what, got, want, sliceGrid)
		}
		if short := (sliceGrid - (before+got)%sliceGrid) % sliceGrid; short > after-before {
			t.Fatalf("%s: the slice ends %v off the grid", what, short)
		}
	}
	onGrid("1,000 sleepers", sliceWait, sliceWait*1000/sliceSleepers)
	onGrid("shortWait with 1,000 sleepers", shortWait, sliceWait*1000/sliceSleepers)
	sleepers.Store(10) // with the caller, 11: stretched, on the grid
	onGrid("11 sleepers", sliceWait, sliceWait*11/sliceSleepers)
	if got := stretch(time.Millisecond); got != time.Millisecond {
		t.Fatalf("hand-off slice stretched to %v", got)
	}
}
