package memfile

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"runtime"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/testproc"
)

// waitRig is a ring and an event in one tracked shared mapping, for the
// WaitSet tests, with a flag word after them.
type waitRig struct {
	b    []byte
	env  []string
	r    *Ring
	ev   *Event
	flag int // offset of the flag word
}

const waitRigSlot, waitRigCap = 64, 8

func waitRigLayout() (ringEnd, evOff, flagOff, size int) {
	ringEnd = RingSize(waitRigSlot, waitRigCap)
	evOff = (ringEnd + 63) &^ 63
	flagOff = evOff + 64
	return ringEnd, evOff, flagOff, flagOff + 64
}

func newWaitRig(t *testing.T) *waitRig {
	t.Helper()
	ringEnd, evOff, flagOff, size := waitRigLayout()
	b, env := ringShared(t, size)
	r, err := InitRing(b[:ringEnd], waitRigSlot, waitRigCap)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := InitEvent(b[evOff:], AutoReset)
	if err != nil {
		t.Fatal(err)
	}
	return &waitRig{b: b, env: env, r: r, ev: ev, flag: flagOff}
}

func childWaitRig(t *testing.T) *waitRig {
	t.Helper()
	ringEnd, evOff, flagOff, _ := waitRigLayout()
	b := ringChildMem(t)
	r, err := RingAt(b[:ringEnd])
	if err != nil {
		t.Fatal(err)
	}
	ev, err := EventAt(b[evOff:])
	if err != nil {
		t.Fatal(err)
	}
	return &waitRig{b: b, r: r, ev: ev, flag: flagOff}
}

// watchedEvent returns a waitRig, a WaitSet and a Watcher of the rig's
// Event. The set is closed when the test ends, before the rig's memory
// is unmapped: cleanups run last-in first-out, so the rig comes first (a
// set still watching unmapped memory faults).
func watchedEvent(t *testing.T) (*WaitSet, *waitRig, *Watcher) {
	t.Helper()
	rig := newWaitRig(t)
	ws := NewWaitSet()
	t.Cleanup(func() { ws.Close() })
	ew, err := ws.AddEvent(rig.ev)
	if err != nil {
		t.Fatal(err)
	}
	return ws, rig, ew
}

// TestWaitSetSameProcess: an Event set and a message sent by other
// goroutines reach the select through the Watchers; nothing else does.
func TestWaitSetSameProcess(t *testing.T) {
	ws, rig, ew := watchedEvent(t)
	rw, err := ws.AddRecv(rig.r)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ew.C:
		t.Fatal("event watcher fired with the event not set")
	case <-rw.C:
		t.Fatal("ring watcher fired with the ring empty")
	case <-time.After(20 * time.Millisecond):
	}
	go func() { time.Sleep(5 * time.Millisecond); rig.ev.Set() }()
	select {
	case <-ew.C:
		if !rig.ev.TryWait() {
			t.Fatal("event watcher fired, TryWait found nothing")
		}
	case <-rw.C:
		t.Fatal("ring watcher fired for an event")
	case <-time.After(testproc.Scale(10 * time.Second)):
		t.Fatal("no notification of a Set")
	}
	go func() { time.Sleep(5 * time.Millisecond); rig.r.TrySend([]byte("hello")) }()
	buf := make([]byte, waitRigSlot)
	select {
	case <-rw.C:
		n, ok := rig.r.TryRecv(buf)
		if !ok || string(buf[:n]) != "hello" {
			t.Fatalf("TryRecv = %q, %v", buf[:n], ok)
		}
	case <-time.After(testproc.Scale(10 * time.Second)):
		t.Fatal("no notification of a Send")
	}
	if n := len(ws.shards); n != 1 {
		t.Fatalf("%d shards for 2 objects", n)
	}
	// Stop: the event is no longer watched, and the set is no longer
	// counted among its waiters.
	ew.Stop()
	ew.Stop()
	if n := rig.ev.waiters.n(); n != 0 {
		t.Fatalf("the event counts %d waiters after Stop", n)
	}
	rig.ev.Set()
	select {
	case <-ew.C:
		t.Fatal("a stopped watcher fired")
	case <-time.After(20 * time.Millisecond):
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.AddEvent(rig.ev); err == nil {
		t.Fatal("AddEvent on a closed WaitSet succeeded")
	}
	rw.Stop() // after Close: returns
}

// TestWaitSetProcesses: a child process sends 2,000 numbered messages on
// a ring (blocking when it is full) and then sets an event; the parent
// waits for both, a ticker and a channel in one select, receives every
// message in order and the event, with one goroutine for both objects.
func TestWaitSetProcesses(t *testing.T) {
	const total = 2000
	if testproc.Role() == "sender" {
		rig := childWaitRig(t)
		ctx := testproc.Context(t, 60*time.Second)
		var m [8]byte
		for i := range total {
			binary.LittleEndian.PutUint64(m[:], uint64(i))
			if err := rig.r.Send(ctx, m[:]); err != nil {
				t.Fatal(err)
			}
		}
		rig.ev.Set()
		return
	}
	rig := newWaitRig(t)
	ws := NewWaitSet()
	defer ws.Close()
	before := runtime.NumGoroutine()
	ew, _ := ws.AddEvent(rig.ev)
	rw, _ := ws.AddRecv(rig.r)
	if d := runtime.NumGoroutine() - before; d > 1 {
		t.Errorf("%d goroutines more for two watched objects", d)
	}
	other := make(chan int)
	go func() { other <- 42 }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	cmd := testproc.Command(t, "TestWaitSetProcesses", "sender", rig.env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	deadline := time.After(testproc.Scale(60 * time.Second))
	got, wakes, ticks, set, chanDone := 0, 0, 0, false, false
	buf := make([]byte, waitRigSlot)
	drain := func() {
		for {
			n, ok := rig.r.TryRecv(buf)
			if !ok {
				return
			}
			if v := binary.LittleEndian.Uint64(buf[:n]); v != uint64(got) {
				t.Fatalf("message %d arrived as number %d", got, v)
			}
			got++
		}
	}
	for !set || got < total || !chanDone {
		select {
		case <-rw.C:
			wakes++
			drain()
		case <-ew.C:
			if rig.ev.TryWait() {
				set = true
				drain() // every message came before the Set
			}
		case <-tick.C:
			ticks++
		case v := <-other:
			chanDone = v == 42
		case <-deadline:
			t.Fatalf("timed out: %d of %d messages, event set %v", got, total, set)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sender: %v", err)
	}
	t.Logf("%d messages in %d ring notifications, %d ticks meanwhile", got, wakes, ticks)
}

// TestWaitSetKilledProducer: a producer process claims a slot and is
// SIGKILLed before it commits; a message sent after it waits behind the
// dead claim. A program that only selects on the WaitSet must still get
// it: the set repairs the claim, as a blocked Recv would, once the kernel
// says its claimant is gone.
func TestWaitSetKilledProducer(t *testing.T) {
	if testproc.Role() == "claim" {
		rig := childWaitRig(t)
		ctx := testproc.Context(t, 30*time.Second)
		s, err := rig.r.BeginSend(ctx)
		if err != nil {
			t.Fatal(err)
		}
		copy(s.Bytes(), "half-written")
		ringWord32(rig.b, rig.flag).Store(1) // claimed: kill me now
		<-ctx.Done()
		t.Fatal("not killed")
	}
	rig := newWaitRig(t)
	ringDeadToken(t, rig.b) // skips where no domain judges anybody dead
	ws := NewWaitSet()
	defer ws.Close()
	rw, _ := ws.AddRecv(rig.r)
	cmd := testproc.Command(t, "TestWaitSetKilledProducer", "claim", rig.env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for ringWord32(rig.b, rig.flag).Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	killed := time.Now()
	if !rig.r.TrySend([]byte("after")) {
		t.Fatal("TrySend behind the dead claim failed")
	}
	buf := make([]byte, waitRigSlot)
	deadline := time.After(testproc.Scale(20 * time.Second))
	for {
		select {
		case <-rw.C:
			n, ok := rig.r.TryRecv(buf)
			if ok {
				if string(buf[:n]) != "after" {
					t.Fatalf("received %q", buf[:n])
				}
				t.Logf("the message behind the dead claim arrived %v after the kill", time.Since(killed).Round(time.Millisecond))
				return
			}
		case <-deadline:
			t.Fatal("the ring stayed wedged behind the killed producer's claim")
		}
	}
}

// TestWaitSetMemFileClose: closing the MemFile that holds a watched
// object makes its Watcher fire within a millisecond or so, and the
// blocking call then reports fs.ErrClosed; Stop still returns.
func TestWaitSetMemFileClose(t *testing.T) {
	f, err := Create(tempLink(t), LockNone, 4096, WithEvents(1))
	if err != nil {
		t.Fatal(err)
	}
	r, err := InitRing(f.Bytes()[:RingSize(64, 4)], 64, 4)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := f.Event(0)
	if err != nil {
		t.Fatal(err)
	}
	ws := NewWaitSet()
	defer ws.Close()
	rw, _ := ws.AddRecv(r)
	ew, _ := ws.AddEvent(ev)
	time.Sleep(10 * time.Millisecond) // the loop asleep in the kernel
	start := time.Now()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*Watcher{rw, ew} {
		select {
		case <-w.C:
		case <-time.After(testproc.Scale(5 * time.Second)):
			t.Fatalf("%v did not fire after Close", w)
		}
	}
	t.Logf("both watchers fired %v after Close began", time.Since(start))
	if _, err := r.Recv(context.Background(), make([]byte, 64)); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Recv after Close: %v, want fs.ErrClosed", err)
	}
	if _, err := ws.AddRecv(r); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("AddRecv of a closed MemFile's ring: %v", err)
	}
	rw.Stop()
	ew.Stop()
}

// TestWaitSetManyObjects: 300 events, three loops; setting any one of
// them fires its Watcher and no other.
func TestWaitSetManyObjects(t *testing.T) {
	const n = 300
	b := ringLiveMem(t, n*EventSize)
	ws := NewWaitSet()
	defer ws.Close()
	evs := make([]*Event, n)
	ww := make([]*Watcher, n)
	for i := range n {
		var err error
		if evs[i], err = EventAt(b[i*EventSize:]); err != nil {
			t.Fatal(err)
		}
		if ww[i], err = ws.AddEvent(evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := len(ws.shards), (n+maxPerShard-1)/maxPerShard; got != want {
		t.Fatalf("%d loops for %d objects, want %d", got, n, want)
	}
	for _, i := range []int{0, 126, 127, 200, 299} {
		go evs[i].Set()
		select {
		case <-ww[i].C:
			if !evs[i].TryWait() {
				t.Fatalf("event %d: watcher fired, TryWait found nothing", i)
			}
		case <-time.After(testproc.Scale(10 * time.Second)):
			t.Fatalf("event %d: no notification", i)
		}
		for j, w := range ww {
			select {
			case <-w.C:
				if j != i {
					t.Fatalf("event %d set, watcher %d fired", i, j)
				}
			default:
			}
		}
	}
	ww[5].Stop()
	if c := evs[5].waiters.n(); c != 0 {
		t.Fatalf("event 5 counts %d waiters after Stop", c)
	}
}

// TestWaitSetAutoResetPassesOn: an auto-reset event with a WaitSet and a
// goroutine blocked in Wait: a Set the set receives and nobody takes is
// passed on, so the blocked Wait returns.
func TestWaitSetAutoResetPassesOn(t *testing.T) {
	rig := newWaitRig(t)
	ws := NewWaitSet()
	defer ws.Close()
	if _, err := ws.AddEvent(rig.ev); err != nil {
		t.Fatal(err)
	}
	ctx := testproc.Context(t, 20*time.Second)
	done := make(chan error, 1)
	go func() { done <- rig.ev.Wait(ctx) }()
	for rig.ev.waiters.n() < 2 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond) // Wait asleep
	rig.ev.Set()                     // once: the set, asleep first, takes the wake-up and passes it on
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		return
	case <-time.After(testproc.Scale(2 * time.Second)):
	}
	t.Fatal("Wait never returned with the event set (the WaitSet kept the wake-up)")
}

// TestWatcherStopDrains: a notification the loop sent again while the
// object stayed ready is pending in C when Stop is called; once Stop has
// returned, C holds nothing (found on arm64 under qemu, where the second
// notification won the race against TestWaitSetSameProcess's TryWait).
func TestWatcherStopDrains(t *testing.T) {
	ws, rig, ew := watchedEvent(t)
	rig.ev.Set() // stays set: the loop finds it ready at every look
	select {
	case <-ew.C:
	case <-time.After(testproc.Scale(10 * time.Second)):
		t.Fatal("no notification of a Set")
	}
	// Adding a watcher kicks the loop, which looks at the event again and
	// notifies again.
	if _, err := ws.AddRecv(rig.r); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(testproc.Scale(10 * time.Second)); len(ew.C) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the loop did not notify the still-set event again")
		}
	}
	ew.Stop()
	if n := len(ew.C); n != 0 {
		t.Fatalf("C holds %d notification(s) after Stop", n)
	}
}
