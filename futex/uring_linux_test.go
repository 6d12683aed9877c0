package futex

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRingWait drives the io_uring path directly: a wait on a changed word
// returns at once, a timed wait times out no earlier than asked, and a
// Wake finds and counts every parked waiter, exactly as futex(2) does.
func TestRingWait(t *testing.T) {
	r := getRing()
	if r == nil {
		t.Skip("io_uring futex waits are not available here")
	}
	var w uint32 = 1
	if err, ok := r.wait(&w, 0, -1, nil, nil); !ok || err != nil {
		t.Fatalf("changed word: %v %v", err, ok)
	}
	start := time.Now()
	if err, ok := r.wait(&w, 1, 20*time.Millisecond, nil, nil); !ok || err != errTimeout {
		t.Fatalf("timeout: %v %v", err, ok)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("timed out after %v", d)
	}
	const n = 200
	var wg sync.WaitGroup
	var back atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.LoadUint32(&w) == 1 {
				if err, ok := r.wait(&w, 1, 10*time.Second, nil, nil); !ok || err != nil {
					t.Errorf("wait: %v %v", err, ok)
					return
				}
			}
			back.Add(1)
		}()
	}
	// Wake counts the parked waiters exactly: wake them 50 at a time.
	deadline := time.Now().Add(10 * time.Second)
	woken := 0
	for woken < n && time.Now().Before(deadline) {
		k, err := Wake(&w, 50)
		if err != nil {
			t.Fatal(err)
		}
		if k > 50 {
			t.Fatalf("Wake(50) woke %d", k)
		}
		woken += k
		if k == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	// Those woken saw w == 1 and parked again: now change it for all.
	atomic.StoreUint32(&w, 2)
	WakeAll(&w)
	wg.Wait()
	if back.Load() != n || woken < n {
		t.Fatalf("back %d, woken %d of %d", back.Load(), woken, n)
	}
	if got := threadSleepers.Load(); got != 0 {
		t.Fatalf("threadSleepers %d", got)
	}
}

// BenchmarkWakeToRun is the cost a parked wait adds: two goroutines hand
// a turn back and forth through two words, each sleeping in Wait until
// the other wakes it (ns/op is one round trip: two sleeps, two wakes),
// with every wait on its own thread and with every wait parked.
func BenchmarkWakeToRun(b *testing.B) {
	for _, m := range []struct {
		name string
		mode int
	}{{"thread", parkNever}, {"ring", parkAlways}} {
		b.Run(m.name, func(b *testing.B) {
			if m.mode == parkAlways && getRing() == nil {
				b.Skip("no io_uring futex waits here")
			}
			old := parkMode
			parkMode = m.mode
			defer func() { parkMode = old }()
			var turn uint32 // even: ping's, odd: pong's
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := uint32(1); i < uint32(2*b.N); i += 2 {
					for atomic.LoadUint32(&turn) != i {
						Wait(&turn, i-1, -1)
					}
					atomic.StoreUint32(&turn, i+1)
					Wake(&turn, 1)
				}
			}()
			b.ReportAllocs()
			b.ResetTimer()
			for i := uint32(0); i < uint32(2*b.N); i += 2 {
				atomic.StoreUint32(&turn, i+1)
				Wake(&turn, 1)
				for atomic.LoadUint32(&turn) != i+2 {
					Wait(&turn, i+1, -1)
				}
			}
			<-done
		})
	}
}

// TestParksRequired fails where the CI asks for parked waits
// (SHMX_REQUIRE_PARKS=1) and io_uring cannot give them, so that the
// parked step never passes by quietly sleeping on threads.
func TestParksRequired(t *testing.T) {
	if os.Getenv("SHMX_REQUIRE_PARKS") != "1" {
		t.Skip("SHMX_REQUIRE_PARKS is not 1")
	}
	if !Parks() {
		t.Fatal("SHMX_REQUIRE_PARKS=1 but io_uring cannot park a futex wait here (or SHMX_FUTEX=thread)")
	}
}

// TestRingOverflow wakes more waits of one ring at once than its
// completion queue holds: the rest wait in the kernel's overflow list, and
// the reaper must bring them in.
func TestRingOverflow(t *testing.T) {
	if getRing() == nil {
		t.Skip("io_uring futex waits are not available here")
	}
	r := (*rings.Load())[0]
	const n = 3 * uringCQEntries
	var w uint32
	var wg sync.WaitGroup
	var parked atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.LoadUint32(&w) == 0 {
				parked.Add(1)
				r.wait(&w, 0, 30*time.Second, nil, nil)
			}
		}()
	}
	for parked.Load() < n {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the last ones into the kernel
	atomic.StoreUint32(&w, 1)
	WakeAll(&w)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("woken waits lost in the completion queue's overflow")
	}
}

// TestRingGrowth: the rings grow with the parked waits in flight, one per
// waitsPerRing, so that no ring's list of waits (which the kernel walks
// at every timeout) grows long, while a process with few waits keeps one.
func TestRingGrowth(t *testing.T) {
	if getRing() == nil {
		t.Skip("io_uring futex waits are not available here")
	}
	const n = 10 * waitsPerRing
	base := ringWaits.Load()
	var w uint32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.LoadUint32(&w) == 0 {
				getRing().wait(&w, 0, 30*time.Second, nil, nil)
			}
		}()
		for deadline := time.Now().Add(10 * time.Second); ringWaits.Load() < base+int32(i)+1; time.Sleep(50 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatalf("wait %d never went in flight", i)
			}
		}
	}
	got := len(*rings.Load())
	atomic.StoreUint32(&w, 1)
	WakeAll(&w)
	wg.Wait()
	if want := n / waitsPerRing; got < want {
		t.Fatalf("%d rings for %d waits in flight, want at least %d", got, n, want)
	}
	if got > uringShards {
		t.Fatalf("%d rings, more than %d", got, uringShards)
	}
}

// TestRingWaitCancel: a parked wait whose cancel channel is closed ends
// alone, without a Wake and without calling wakeAll, and the kernel no
// longer holds it: a WakeAll afterwards counts exactly the other waiters.
func TestRingWaitCancel(t *testing.T) {
	r := getRing()
	if r == nil {
		t.Skip("io_uring futex waits are not available here")
	}
	var w uint32 = 1
	const others = 5
	base := ringWaits.Load()
	var wg sync.WaitGroup
	for range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.LoadUint32(&w) == 1 {
				r.wait(&w, 1, 30*time.Second, nil, nil)
			}
		}()
	}
	cancel := make(chan struct{})
	res := make(chan error, 1)
	var wokeAll atomic.Bool
	go func() {
		err, ok := r.wait(&w, 1, 30*time.Second, cancel, func() { wokeAll.Store(true) })
		if !ok {
			err = os.ErrInvalid
		}
		res <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ringWaits.Load() < base+others+1; time.Sleep(50 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatal("the waits never went in flight")
		}
	}
	close(cancel)
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("cancelled wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled parked wait did not end")
	}
	if wokeAll.Load() {
		t.Error("a parked wait called wakeAll although its cancellation went in")
	}
	atomic.StoreUint32(&w, 0)
	k, err := WakeAll(&w)
	if err != nil {
		t.Fatal(err)
	}
	if k != others {
		t.Errorf("WakeAll after the cancellation woke %d, want the %d others", k, others)
	}
	wg.Wait()
}
