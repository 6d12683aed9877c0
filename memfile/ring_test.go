package memfile

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// ringMem returns zeroed, 8-byte aligned heap memory of n bytes.
func ringMem(n int) []byte {
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), n)
}

func newTestRing(t testing.TB, slotSize, capacity int) *Ring {
	t.Helper()
	r, err := InitRing(ringMem(RingSize(slotSize, capacity)), slotSize, capacity)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRingSize(t *testing.T) {
	for _, c := range []struct{ slot, cap, want int }{
		{1, 2, RingHeaderSize + 2*64},
		{48, 4, RingHeaderSize + 4*64},
		{49, 4, RingHeaderSize + 4*128},
		{64, 1024, RingHeaderSize + 1024*128},
		{4096, 8, RingHeaderSize + 8*(4096+64)},
		{0, 2, 0}, {1, 1, 0}, {1, 3, 0}, {1, 0, 0}, {-1, 4, 0}, {math.MaxInt32, 2, 0},
	} {
		if got := RingSize(c.slot, c.cap); got != c.want {
			t.Errorf("RingSize(%d, %d) = %d, want %d", c.slot, c.cap, got, c.want)
		}
	}
}

func TestRingInitAt(t *testing.T) {
	b := ringMem(RingSize(100, 16))
	if _, err := RingAt(b); !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrNotReady) {
		t.Fatalf("RingAt(zero bytes) = %v, want ErrNotReady and ErrCorrupt", err)
	}
	r, err := InitRing(b, 100, 16)
	if err != nil {
		t.Fatal(err)
	}
	if r.SlotSize() != 100 || r.Cap() != 16 {
		t.Fatalf("geometry %d/%d", r.SlotSize(), r.Cap())
	}
	r2, err := RingAt(b)
	if err != nil || r2.SlotSize() != 100 || r2.Cap() != 16 {
		t.Fatalf("RingAt = %v, %v", r2, err)
	}
	if _, err := InitRing(b, 100, 16); err != nil {
		t.Fatalf("InitRing again with the same geometry: %v", err)
	}
	if _, err := InitRing(b, 100, 8); err == nil {
		t.Fatal("InitRing again with another geometry succeeded")
	}
	if _, err := InitRing(ringMem(100), 100, 16); err == nil {
		t.Fatal("InitRing on too few bytes succeeded")
	}
	if _, err := InitRing(ringMem(RingSize(8, 4) + 8)[1:], 8, 4); err == nil {
		t.Fatal("InitRing on unaligned bytes succeeded")
	}
	if _, err := RingAt(b[:len(b)-1]); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "capacity") {
		t.Fatalf("RingAt(short) = %v", err)
	}
}

// TestRingAtCorrupt damages each header field in turn: RingAt must name it
// and wrap ErrCorrupt (ErrVersion for the version), never panic.
func TestRingAtCorrupt(t *testing.T) {
	good := ringMem(RingSize(64, 8))
	if _, err := InitRing(good, 64, 8); err != nil {
		t.Fatal(err)
	}
	reseal := func(b []byte) { binary.NativeEndian.PutUint32(b[ringCheckOff:], ringChecksum(b)) }
	for _, c := range []struct {
		field string
		off   int
		val   uint32
		fix   bool // recompute the checksum, to reach the field's own check
		want  error
	}{
		{"state", ringStateOff, 1, false, ErrCorrupt},
		{"magic", ringMagicOff, 0x12345678, false, ErrCorrupt},
		{"check", ringSlotOff, 65, false, ErrCorrupt},
		{"version", ringVersionOff, 99, true, ErrVersion},
		{"slotSize", ringSlotOff, 0, true, ErrCorrupt},
		{"capacity", ringCapOff, 6, true, ErrCorrupt},
		{"capacity", ringCapOff, 1 << 20, true, ErrCorrupt},
		{"stride", ringStrideOff, 65, true, ErrCorrupt},
		{"slotsOff", ringSlotsOff, 0, true, ErrCorrupt},
	} {
		b := ringMem(len(good))
		copy(b, good)
		binary.NativeEndian.PutUint32(b[c.off:], c.val)
		if c.fix {
			reseal(b)
		}
		_, err := RingAt(b)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s=%d: RingAt = %v, want %v naming %q", c.field, c.val, err, c.want, c.field)
		}
	}
}

// TestRingAtGarbage feeds random headers: RingAt must fail cleanly or
// return a ring on which TrySend/TryRecv terminate.
func TestRingAtGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := ringMem(RingHeaderSize + rng.IntN(4096))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		binary.NativeEndian.PutUint32(b[ringStateOff:], ringReady)
		if _, err := RingAt(b); err == nil {
			t.Fatalf("RingAt accepted garbage")
		}
	}
}

// TestRingGarbageSlots fills the slot states of a valid ring with random
// words: TryRecv, TrySend and Reclaim must return, never panic or hang.
func TestRingGarbageSlots(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		r := newTestRing(t, 32, 8)
		for i := range 8 {
			s := r.slot(uint64(i))
			s.state.Store(rng.Uint64())
			s.length = rng.Uint32()
		}
		r.tail.Store(rng.Uint64())
		r.head.Store(rng.Uint64())
		buf := make([]byte, 32)
		for range 20 {
			r.TryRecv(buf)
			r.TrySend([]byte("x"))
			if s, ok := r.TryBeginRecv(); ok {
				_ = s.Bytes()
				s.Release()
			}
		}
		r.Reclaim()
	}
}

func TestRingFIFO(t *testing.T) {
	r := newTestRing(t, 16, 8)
	buf := make([]byte, 16)
	next, got := 0, 0
	for lap := range 10 {
		for r.TrySend([]byte{byte(next)}) {
			next++
		}
		if r.Len() != 8 {
			t.Fatalf("lap %d: full ring Len = %d", lap, r.Len())
		}
		for {
			n, ok := r.TryRecv(buf)
			if !ok {
				break
			}
			if n != 1 || buf[0] != byte(got) {
				t.Fatalf("got %d bytes %v, want message %d", n, buf[:n], got)
			}
			got++
		}
	}
	if got != next || got != 80 {
		t.Fatalf("sent %d, received %d", next, got)
	}
}

func TestRingMessageSizes(t *testing.T) {
	r := newTestRing(t, 100, 4)
	msg := bytes.Repeat([]byte{7}, 100)
	if !r.TrySend(msg) || !r.TrySend(nil) {
		t.Fatal("TrySend failed")
	}
	small := make([]byte, 10)
	if n, ok := r.TryRecv(small); !ok || n != 100 {
		t.Fatalf("TryRecv into 10 bytes = %d, %v; want 100 (truncated)", n, ok)
	}
	if n, ok := r.TryRecv(small); !ok || n != 0 {
		t.Fatalf("empty message: %d, %v", n, ok)
	}
	if err := r.Send(context.Background(), make([]byte, 101)); err == nil {
		t.Fatal("Send of 101 bytes into 100-byte slots succeeded")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("TrySend of an oversized message did not panic")
		}
	}()
	r.TrySend(make([]byte, 101))
}

func TestRingZeroCopy(t *testing.T) {
	r := newTestRing(t, 64, 4)
	a, ok := r.TryBeginSend() // position 0, aborted below
	if !ok {
		t.Fatal("TryBeginSend failed")
	}
	s, _ := r.TryBeginSend()
	copy(s.Bytes(), "hello")
	if _, ok := r.TryBeginRecv(); ok {
		t.Fatal("received before commit")
	}
	s.Commit(5)
	if _, ok := r.TryBeginRecv(); ok {
		t.Fatal("received past an uncommitted slot")
	}
	a.Abort() // consumers skip it
	if !r.TrySend([]byte("world")) {
		t.Fatal("TrySend failed")
	}
	for _, want := range []string{"hello", "world"} {
		m, err := r.BeginRecv(context.Background())
		if err != nil || string(m.Bytes()) != want {
			t.Fatalf("BeginRecv = %q, %v; want %q", m.Bytes(), err, want)
		}
		m.Release()
	}
	if _, ok := r.TryBeginRecv(); ok {
		t.Fatal("aborted slot delivered")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("second Commit did not panic")
			}
		}()
		s.Commit(1)
	}()
	r.TrySend([]byte("again"))
	m, _ := r.TryBeginRecv()
	if m.Len() != 5 {
		t.Fatalf("RecvSlot.Len = %d", m.Len())
	}
	m.Release()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("second Release did not panic")
			}
		}()
		m.Release()
	}()
}

func TestRingBlocking(t *testing.T) {
	r := newTestRing(t, 8, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Recv(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv on empty ring = %v", err)
	}
	r.TrySend([]byte("a"))
	r.TrySend([]byte("b"))
	if err := r.Send(ctx, []byte("c")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send on full ring = %v", err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Send(cctx, []byte("c")) }()
	time.Sleep(10 * time.Millisecond)
	ccancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Send = %v", err)
	}
	// A blocked Recv is woken by a Send, a blocked Send by a Recv.
	buf := make([]byte, 8)
	r.TryRecv(buf)
	r.TryRecv(buf)
	go func() {
		time.Sleep(20 * time.Millisecond)
		done <- r.Send(context.Background(), []byte("d"))
	}()
	if n, err := r.Recv(context.Background(), buf); err != nil || string(buf[:n]) != "d" {
		t.Fatalf("Recv = %q, %v", buf[:n], err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRingGoroutines moves numbered messages between 3 producer and 3
// consumer goroutines (heap memory, so -race sees every access): each
// arrives exactly once and in order per producer.
// Capacity 2 makes producers and consumers sleep and wake all the time.
func TestRingGoroutines(t *testing.T) {
	for _, capacity := range []int{2, 16} {
		t.Run(strconv.Itoa(capacity), func(t *testing.T) { ringGoroutines(t, capacity) })
	}
}

func ringGoroutines(t *testing.T, capacity int) {
	const producers, consumers = 3, 3
	per := 20000
	if testing.Short() {
		per = 2000
	}
	r := newTestRing(t, 16, capacity)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			var msg [16]byte
			for i := range per {
				binary.LittleEndian.PutUint32(msg[:], uint32(p))
				binary.LittleEndian.PutUint64(msg[4:], uint64(i))
				if err := r.Send(ctx, msg[:12]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	seen := make([][]bool, producers)
	for p := range seen {
		seen[p] = make([]bool, per)
	}
	var mu sync.Mutex
	var cw sync.WaitGroup
	for range consumers {
		cw.Go(func() {
			last := []int{-1, -1, -1}
			buf := make([]byte, 16)
			for {
				n, err := r.Recv(ctx, buf)
				if err != nil {
					t.Error(err)
					return
				}
				if n == 1 {
					return // stop
				}
				p, i := binary.LittleEndian.Uint32(buf), int(binary.LittleEndian.Uint64(buf[4:]))
				if i <= last[p] {
					t.Errorf("producer %d: message %d after %d", p, i, last[p])
				}
				last[p] = i
				mu.Lock()
				if seen[p][i] {
					t.Errorf("producer %d message %d twice", p, i)
				}
				seen[p][i] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for range consumers {
		r.Send(ctx, []byte{0})
	}
	cw.Wait()
	for p := range seen {
		for i, ok := range seen[p] {
			if !ok {
				t.Fatalf("producer %d message %d lost", p, i)
			}
		}
	}
}

func TestRingAllocs(t *testing.T) {
	r := newTestRing(t, 64, 8)
	msg, buf := make([]byte, 64), make([]byte, 64)
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() {
		r.TrySend(msg)
		r.TryRecv(buf)
		r.Send(ctx, msg)
		r.Recv(ctx, buf)
		s, _ := r.TryBeginSend()
		s.Commit(1)
		m, _ := r.TryBeginRecv()
		m.Release()
	}); n != 0 {
		t.Fatalf("%v allocations per send/recv round", n)
	}
}

// TestRingDeadClaimant plants, in a tracked mapping, slots claimed by a
// token that no process holds there (as a claimant that died leaves
// them): a blocked Recv and a blocked Send repair them, and so does
// Reclaim.
func TestRingDeadClaimant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	buf := make([]byte, 8)

	// A producer claimed position 1 and died; 0 and 2 are committed.
	r := newLiveRing(t, 8, 4)
	dead := ringDeadToken(t, r.b)
	r.TrySend([]byte("a"))
	r.slot(1).state.Store(ringPack(1, dead))
	r.tail.Store(2)
	r.TrySend([]byte("c"))
	for _, want := range []string{"a", "c"} {
		if n, err := r.Recv(ctx, buf); err != nil || string(buf[:n]) != want {
			t.Fatalf("Recv = %q, %v; want %q", buf[:n], err, want)
		}
	}

	// A consumer claimed position 0 and died; the ring is full behind it.
	r = newLiveRing(t, 8, 2)
	dead = ringDeadToken(t, r.b)
	r.TrySend([]byte("a"))
	r.TrySend([]byte("b"))
	r.slot(0).state.Store(ringPack(1, dead))
	if err := r.Send(ctx, []byte("c")); err != nil {
		t.Fatalf("Send past a dead consumer: %v", err)
	}
	for _, want := range []string{"b", "c"} {
		if n, err := r.Recv(ctx, buf); err != nil || string(buf[:n]) != want {
			t.Fatalf("Recv = %q, %v; want %q", buf[:n], err, want)
		}
	}

	// Reclaim, for pollers.
	r = newLiveRing(t, 8, 4)
	dead = ringDeadToken(t, r.b)
	r.slot(0).state.Store(ringPack(0, dead))
	r.tail.Store(1)
	r.TrySend([]byte("b"))
	if _, ok := r.TryRecv(buf); ok {
		t.Fatal("TryRecv passed an uncommitted slot")
	}
	if n := r.Reclaim(); n != 1 {
		t.Fatalf("Reclaim = %d, want 1", n)
	}
	if n, ok := r.TryRecv(buf); !ok || string(buf[:n]) != "b" {
		t.Fatalf("TryRecv after Reclaim = %q, %v", buf[:n], ok)
	}
}

// ringFullBehindDead lays out, in b (a tracked mapping), a ring of 4 slots
// whose position 0 is claimed by the consumer dead, which also moved head
// past it, and whose positions 1..3 hold the messages "1", "2" and "3":
// full, until the dead consumer's slot is repaired.
func ringFullBehindDead(t testing.TB, b []byte, dead uint32) *Ring {
	t.Helper()
	clear(b)
	r, err := InitRing(b, 8, 4)
	if err != nil {
		t.Fatal(err)
	}
	r.TrySend([]byte("0"))
	r.slot(0).state.Store(ringPack(1, dead))
	r.head.Store(1)
	for _, m := range []string{"1", "2", "3"} {
		if !r.TrySend([]byte(m)) {
			t.Fatalf("TrySend(%s) failed", m)
		}
	}
	return r
}

// ringReclaimRace runs 16 goroutines calling Reclaim against one that
// spins on TrySend("4"), on a ring like ringFullBehindDead's (position 0
// held by a dead consumer, "1".."3" queued behind it), then checks that
// "1".."4" come out in order and that the ring still carries a lap. It
// reports false, after logging why, if a message was lost or the ring
// wedged.
func ringReclaimRace(t testing.TB, r *Ring) bool {
	t.Helper()
	// A Reclaim preempted between its sighting of the dead consumer and
	// the repair acting on it is the case under test. Real threads hit it
	// now and then (the liveness check is a system call); the explorer
	// forces it (TestExploreRingReclaimRace, TestExploreRingRegressions).
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for !stop.Load() {
				r.Reclaim()
			}
		})
	}
	start := time.Now()
	sent := false
	for !sent && time.Since(start) < 10*time.Second {
		sent = r.TrySend([]byte("4"))
	}
	stop.Store(true)
	wg.Wait()
	if !sent {
		t.Logf("TrySend never got the dead consumer's slot")
		return false
	}
	buf := make([]byte, 8)
	for _, want := range []string{"1", "2", "3", "4"} {
		if n, ok := r.TryRecv(buf); !ok || string(buf[:n]) != want {
			t.Logf("TryRecv = %q, %v; want %q (head %d, tail %d)", buf[:n], ok, want, r.head.Load(), r.tail.Load())
			return false
		}
	}
	if n, ok := r.TryRecv(buf); ok {
		t.Logf("TryRecv of an empty ring = %q", buf[:n])
		return false
	}
	for i := range 2 * r.Cap() {
		if !r.TrySend([]byte{byte(i)}) {
			t.Logf("ring wedged: TrySend %d of an empty ring failed (head %d, tail %d)", i, r.head.Load(), r.tail.Load())
			return false
		}
		if n, ok := r.TryRecv(buf); !ok || n != 1 || buf[0] != byte(i) {
			t.Logf("TryRecv %d = %x, %v", i, buf[:n], ok)
			return false
		}
	}
	return true
}

// TestRingReclaimStaleSighting replays, step by step, a producer that saw
// the dead consumer's claim at tail but acts on it only after another
// producer repaired the slot and sent into it: its reclaimSend must change
// nothing. It used to move head over message "1" (head lagged tail by
// exactly one lap), losing it and wedging the ring.
func TestRingReclaimStaleSighting(t *testing.T) {
	b := ringLiveMem(t, RingSize(8, 4))
	dead := ringDeadToken(t, b)
	r := ringFullBehindDead(t, b, dead)
	if _, _, c := r.claimSendPeek(); c != dead {
		t.Fatalf("claimSendPeek sees %x at tail, want the dead consumer %x", c, dead)
	}
	if n := r.Reclaim(); n != 1 {
		t.Fatalf("Reclaim = %d, want 1", n)
	}
	if !r.TrySend([]byte("4")) {
		t.Fatal("TrySend into the repaired slot failed")
	}
	if r.reclaimSend(dead) {
		t.Fatal("a stale reclaimSend repaired a slot the dead consumer no longer held")
	}
	if h := r.head.Load(); h != 1 {
		t.Fatalf("a stale reclaimSend moved head from 1 to %d", h)
	}
	// The stale sleeper of a blocked Send, or a stale Reclaim, for the
	// producer's side too: nothing changes.
	if r.reclaimRecv(dead) {
		t.Fatal("a stale reclaimRecv repaired a committed slot")
	}
	buf := make([]byte, 8)
	for _, want := range []string{"1", "2", "3", "4"} {
		if n, ok := r.TryRecv(buf); !ok || string(buf[:n]) != want {
			t.Fatalf("TryRecv = %q, %v; want %q", buf[:n], ok, want)
		}
	}
	if !r.TrySend([]byte("5")) {
		t.Fatal("ring wedged")
	}
}

// TestRingReclaimRace is the report's reproduction in one process: a
// consumer (a token nobody holds, in a tracked mapping) died holding slot
// 0 of a full 4-slot ring, 16 goroutines call Reclaim while one spins on
// TrySend. No trial may lose a message or wedge.
func TestRingReclaimRace(t *testing.T) {
	trials := 200
	if testing.Short() {
		trials = 20
	}
	b := ringLiveMem(t, RingSize(8, 4))
	dead := ringDeadToken(t, b)
	failed := 0
	for range trials {
		if !ringReclaimRace(t, ringFullBehindDead(t, b, dead)) {
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d trials lost a message or wedged", failed, trials)
	}
}

// TestRingUntrackedNeverRepairs plants the same dead claims in heap
// memory, which lies in no tracked mapping: nothing vouches that their
// claimant is dead, so nobody repairs them (the rule of internal/live).
func TestRingUntrackedNeverRepairs(t *testing.T) {
	dead := selfToken ^ 0x5a5a5a5a
	buf := make([]byte, 8)
	r := newTestRing(t, 8, 4)
	r.slot(0).state.Store(ringPack(0, dead)) // a producer's claim
	r.tail.Store(1)
	r.TrySend([]byte("b"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*RingWaitSlice)
	defer cancel()
	if n, err := r.Recv(ctx, buf); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv past an untracked claim = %q, %v; want DeadlineExceeded", buf[:n], err)
	}
	if n := r.Reclaim(); n != 0 {
		t.Fatalf("Reclaim in untracked memory = %d, want 0", n)
	}

	r = newTestRing(t, 8, 2) // a consumer's claim, the ring full behind it
	r.TrySend([]byte("a"))
	r.TrySend([]byte("b"))
	r.slot(0).state.Store(ringPack(1, dead))
	ctx, cancel = context.WithTimeout(context.Background(), 3*RingWaitSlice)
	defer cancel()
	if err := r.Send(ctx, []byte("c")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send past an untracked claim = %v; want DeadlineExceeded", err)
	}
	if n := r.Reclaim(); n != 0 {
		t.Fatalf("Reclaim in untracked memory = %d, want 0", n)
	}
}

// TestRingInitRace has 16 goroutines initialise the same zeroed bytes at
// once, 100 times over: one lays the ring out, all get the same ring. Under
// -race it also checks that no InitRing reads the state word's bytes
// (magic included) but atomically: a late InitRing's failed
// compare-and-swap on it counts as a write.
func TestRingInitRace(t *testing.T) {
	for range 100 {
		b := ringMem(RingSize(24, 32))
		var wg sync.WaitGroup
		rings := make([]*Ring, 16)
		for i := range rings {
			wg.Go(func() {
				r, err := InitRing(b, 24, 32)
				if err != nil {
					t.Error(err)
					return
				}
				rings[i] = r
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		rings[0].TrySend([]byte("x"))
		if n, ok := rings[15].TryRecv(make([]byte, 24)); !ok || n != 1 {
			t.Fatalf("rings from concurrent InitRing differ: %d, %v", n, ok)
		}
	}
}

// TestRingVersion1Refused lays out a version 1 header byte for byte (a
// 32-bit state word, pids in the claims, otherwise the same offsets):
// RingAt and InitRing refuse it with ErrVersion.
func TestRingVersion1Refused(t *testing.T) {
	b := ringMem(RingSize(16, 8))
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], 2) // v1 ready
	ne.PutUint32(b[4:], ringMagic)
	ne.PutUint32(b[8:], 1)
	ne.PutUint32(b[12:], 16)
	ne.PutUint32(b[16:], 8)
	ne.PutUint32(b[20:], uint32(ringStride(16)))
	ne.PutUint32(b[24:], RingHeaderSize)
	h := fnv.New32a()
	h.Write(b[4:28])
	ne.PutUint32(b[28:], h.Sum32())
	if _, err := RingAt(b); !errors.Is(err, ErrVersion) {
		t.Fatalf("RingAt(v1) = %v, want ErrVersion", err)
	}
	if _, err := InitRing(b, 16, 8); !errors.Is(err, ErrVersion) {
		t.Fatalf("InitRing(v1) = %v, want ErrVersion", err)
	}
}

// TestRingInitDeadInitialiser leaves, in a tracked mapping, the header of
// an initialiser that died between "being initialised" and "ready": its
// token (one nobody holds) in the state word, garbage in the rest. RingAt
// says it is gone; InitRing, called by 8 goroutines at once, takes over
// at once (no waiting out ringInitWait), lays the ring out again, and all
// get the same working ring.
func TestRingInitDeadInitialiser(t *testing.T) {
	b := ringLiveMem(t, RingSize(16, 8))
	dead := ringDeadToken(t, b)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 8; i < len(b); i++ {
		b[i] = byte(rng.Uint32())
	}
	ringWord64(b, ringStateOff).Store(ringInitState(dead))
	if _, err := RingAt(b); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("RingAt with a dead initialiser = %v, want ErrNotReady saying it is gone", err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	rings := make([]*Ring, 8)
	for i := range rings {
		wg.Go(func() {
			r, err := InitRing(b, 16, 8)
			if err != nil {
				t.Error(err)
			}
			rings[i] = r
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if d := time.Since(start); d >= ringInitWait {
		t.Fatalf("InitRing took %v: it waited for the dead initialiser", d)
	}
	if w := ringWord64(b, ringStateOff).Load(); w != ringReadyState {
		t.Fatalf("state word %#x after the takeover", w)
	}
	if n := rings[0].Len(); n != 0 {
		t.Fatalf("Len of the re-initialised ring = %d", n)
	}
	buf := make([]byte, 16)
	for i := range 3 * 8 {
		if !rings[i%8].TrySend([]byte{byte(i)}) {
			t.Fatalf("TrySend %d failed", i)
		}
		if n, ok := rings[7-i%8].TryRecv(buf); !ok || n != 1 || buf[0] != byte(i) {
			t.Fatalf("TryRecv %d = %x, %v", i, buf[:n], ok)
		}
	}
}

// TestRingInitAliveInitialiser: an initialiser that is alive, or not known
// to be dead, is never taken over: InitRing waits for it, then fails with
// ErrNotReady, and the state word still names it. Our own token (another
// goroutine of this process), a version 1 initialiser's leftover (the
// magic where v2 keeps the token) in a tracked mapping, and any token in
// untracked memory. (A live child process: TestRingInitialiserChild.)
func TestRingInitAliveInitialiser(t *testing.T) {
	defer func(d time.Duration) { ringInitWait = d }(ringInitWait)
	ringInitWait = 100 * time.Millisecond
	size := RingSize(16, 8)
	for _, c := range []struct {
		name  string
		b     []byte
		token uint32
	}{
		{"self", ringLiveMem(t, size), selfToken},
		{"v1-leftover", ringLiveMem(t, size), ringMagic},
		{"untracked", ringMem(size), selfToken ^ 0x5a5a5a5a},
	} {
		want := ringInitState(c.token)
		ringWord64(c.b, ringStateOff).Store(want)
		start := time.Now()
		if _, err := InitRing(c.b, 16, 8); !errors.Is(err, ErrNotReady) {
			t.Errorf("%s: InitRing = %v, want ErrNotReady", c.name, err)
		} else if d := time.Since(start); d < ringInitWait {
			t.Errorf("%s: InitRing gave up after %v, before ringInitWait", c.name, d)
		}
		if w := ringWord64(c.b, ringStateOff).Load(); w != want {
			t.Errorf("%s: state word %#x, want %#x: the initialiser was taken over", c.name, w, want)
		}
	}
}

// TestRingNoWakeWithoutSleepers checks the fast-path promise: with nobody
// asleep, sends and receives never touch the epochs (so never call
// futex.Wake); with a sleeper, a commit changes the epoch.
func TestRingNoWakeWithoutSleepers(t *testing.T) {
	r := newTestRing(t, 8, 4)
	buf := make([]byte, 8)
	for range 100 {
		r.TrySend([]byte("a"))
		r.Send(context.Background(), []byte("b"))
		r.TryRecv(buf)
		r.Recv(context.Background(), buf)
	}
	if r.recvEpoch.Load() != 0 || r.sendEpoch.Load() != 0 {
		t.Fatalf("epochs moved without sleepers: recv %d, send %d", r.recvEpoch.Load(), r.sendEpoch.Load())
	}
	got := make(chan error)
	go func() {
		_, err := r.Recv(context.Background(), buf)
		got <- err
	}()
	for r.recvEpoch.Load()&ringSleeper == 0 {
		time.Sleep(time.Millisecond)
	}
	r.TrySend([]byte("c"))
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if r.recvEpoch.Load() == 0 {
		t.Fatal("a commit with a sleeper did not change the epoch")
	}
}
