package memfile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/testproc"
)

// semState describes what a Semaphore's state means (not the ticket
// counter or a spent journal, which change without changing it).
func semState(s *Semaphore) string {
	ld := func(p *uint32) uint32 { return atomic.LoadUint32(p) }
	var b strings.Builder
	fmt.Fprintf(&b, "count %d capacity %d waiters %d unowned %d version %d journal %d", ld(&s.count), ld(&s.capacity), ld(&s.waiters), ld(&s.unowned), ld(&s.version), ld(&s.jlen))
	for i := range s.holders {
		h := &s.holders[i]
		if t, u := ld(&h.token), ld(&h.units); t|u != 0 {
			fmt.Fprintf(&b, " holder%d={%#x %d}", i, t, u)
		}
	}
	for i := range s.slots {
		sl := &s.slots[i]
		if t, n, tk, st := ld(&sl.token), ld(&sl.n), ld(&sl.ticket), ld(&sl.state); t|n|tk|st != 0 {
			fmt.Fprintf(&b, " slot%d={token %#x n %d ticket %d state %d}", i, t, n, tk, st)
		}
	}
	return b.String()
}

// waitWaiters waits until n Acquires are queued on s, or fails.
func waitWaiters(t *testing.T, s *Semaphore, n uint32) {
	t.Helper()
	deadline := time.Now().Add(testproc.Scale(20 * time.Second))
	for s.Waiters() != n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d waiters: %s", n, semState(s))
		}
		time.Sleep(time.Millisecond)
	}
}

// acquireAsync runs Acquire(ctx, n) in a goroutine and returns where its
// result arrives.
func acquireAsync(s *Semaphore, ctx context.Context, n int64) <-chan error {
	c := make(chan error, 1)
	go func() { c <- s.Acquire(ctx, n) }()
	return c
}

// pending fails if c has a result: the Acquire must still wait.
func pending(t *testing.T, what string, c <-chan error) {
	t.Helper()
	select {
	case err := <-c:
		t.Fatalf("%s returned %v while it should still wait", what, err)
	default:
	}
}

// TestSemaphoreFIFO: a waiter that does not fit at the head blocks the
// ones behind it, even when they would fit; TryAcquire fails while
// anybody waits; waiters are served in the order they came. The
// decisions are made by Release under the lock, so the checks are exact.
func TestSemaphoreFIFO(t *testing.T) {
	var s Semaphore
	s.Init(3, 0) // 3 units out, unowned: this process may release them
	ctx := timeoutCtx(t, testproc.Scale(20*time.Second))
	big := acquireAsync(&s, ctx, 2)
	waitWaiters(t, &s, 1)
	small := acquireAsync(&s, ctx, 1)
	waitWaiters(t, &s, 2)
	s.Release(1)
	if s.Count() != 1 || s.Waiters() != 2 {
		t.Fatalf("one unit released to a head waiting for 2: %s; want it kept for the head, nobody served", semState(&s))
	}
	pending(t, "Acquire(1) behind an Acquire(2)", small)
	if s.TryAcquire(1) {
		t.Fatal("TryAcquire succeeded while others wait")
	}
	s.Release(1)
	if err := <-big; err != nil {
		t.Fatal(err)
	}
	if s.Waiters() != 1 {
		t.Fatalf("after the head was served: %s", semState(&s))
	}
	pending(t, "Acquire(1) with no unit left", small)
	s.Release(1)
	if err := <-small; err != nil {
		t.Fatal(err)
	}
	s.Release(3)
	if got := semState(&s); s.Count() != 3 || s.Waiters() != 0 || s.unowned != 0 {
		t.Fatalf("after everybody released: %s", got)
	}
}

// TestSemaphoreServesInOrder: waiters queued one after another are
// granted in that order, one unit at a time.
func TestSemaphoreServesInOrder(t *testing.T) {
	const n = 8
	var s Semaphore
	s.Init(n, 0)
	ctx := timeoutCtx(t, testproc.Scale(20*time.Second))
	var order []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.Acquire(ctx, 1); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		waitWaiters(t, &s, uint32(i+1))
	}
	for i := range n {
		s.Release(1)
		// The grant is made under the lock: waiter i holds its slot in
		// state granted now, and the rest are still queued.
		if w := s.Waiters(); w != uint32(n-1-i) {
			t.Fatalf("after %d releases %d waiters: %s", i+1, w, semState(&s))
		}
		s.mu.Lock()
		for j, sl := range s.slots {
			if sl.state == semGranted && sl.ticket != s.ticket-uint32(n-i) {
				s.mu.Unlock()
				t.Fatalf("release %d granted slot %d with ticket %d, want the oldest, %d", i+1, j, sl.ticket, s.ticket-uint32(n-i))
			}
		}
		s.mu.Unlock()
		// Let waiter i collect its grant and record itself before the
		// next grant: the order is of grants, and a goroutine that has
		// collected may still be descheduled before its append.
		until(t, "the granted waiter recorded", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(order) == i+1
		})
	}
	wg.Wait()
	for i, v := range order {
		if v != i {
			t.Fatalf("served in order %v, want 0..%d", order, n-1)
		}
	}
}

// TestSemaphoreLargeNotStarved: while goroutines keep taking one unit
// each, an Acquire of all the units still gets them (with waiters served
// out of order it waited as long as the small ones overlapped).
func TestSemaphoreLargeNotStarved(t *testing.T) {
	var s Semaphore
	s.Init(4, 4)
	ctx := timeoutCtx(t, testproc.Scale(30*time.Second))
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				if err := s.Acquire(ctx, 1); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(10 * time.Microsecond)
				s.Release(1)
			}
		})
	}
	for range 20 {
		if err := s.Acquire(ctx, 4); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("Acquire(4) among Acquire(1)s: %v", err)
		}
		s.Release(4)
	}
	stop.Store(true)
	wg.Wait()
}

// TestSemaphoreCancelHeadLetsOthersThrough: the head waiter, waiting for
// more than there is, gives up; the one behind it fits and is served.
func TestSemaphoreCancelHeadLetsOthersThrough(t *testing.T) {
	var s Semaphore
	s.Init(3, 1)
	ctx := timeoutCtx(t, testproc.Scale(20*time.Second))
	headCtx, cancelHead := context.WithCancel(ctx)
	head := acquireAsync(&s, headCtx, 3)
	waitWaiters(t, &s, 1)
	next := acquireAsync(&s, ctx, 1)
	waitWaiters(t, &s, 2)
	pending(t, "Acquire(1) behind Acquire(3)", next)
	cancelHead()
	if err := <-head; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled head Acquire = %v", err)
	}
	if err := <-next; err != nil {
		t.Fatalf("Acquire behind a cancelled head = %v", err)
	}
	if s.Count() != 0 || s.Waiters() != 0 {
		t.Fatalf("after the second waiter was served: %s", semState(&s))
	}
	s.Release(1)
}

// TestSemaphoreCancelAfterGrant: units granted to a waiter whose context
// is done by the time it collects them are given back, and it reports
// the context's error. The test holds the internal lock so that the
// grant lands after the cancellation, whichever the waiter sees first.
func TestSemaphoreCancelAfterGrant(t *testing.T) {
	var s Semaphore
	s.Init(2, 0)
	ctx, cancel := context.WithCancel(context.Background())
	got := acquireAsync(&s, ctx, 2)
	waitWaiters(t, &s, 1)
	s.mu.Lock()
	cancel()
	var tx semTx
	if !s.giveBack(&tx, self(), 2) {
		t.Fatal("giveBack of unowned units failed")
	}
	s.commit(&tx)
	var w semWakes
	s.grant(&w)
	if s.Waiters() != 0 || s.Count() != 0 {
		t.Fatalf("the release did not grant: %s", semState(&s))
	}
	s.unlock(&w)
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire granted after its cancellation = %v, want context.Canceled", err)
	}
	if s.Count() != 2 || s.Waiters() != 0 || atomic.LoadUint32(&s.holders[0].units) != 0 {
		t.Fatalf("the granted units were not given back: %s", semState(&s))
	}
	if !s.TryAcquire(2) {
		t.Fatal("TryAcquire(2) after the give-back failed")
	}
}

// TestSemaphoreHopeless: an Acquire of more than the capacity waits for
// its context without queueing (others are not held up).
func TestSemaphoreHopeless(t *testing.T) {
	var s Semaphore
	s.Init(2, 2)
	ctx, cancel := context.WithCancel(context.Background())
	got := acquireAsync(&s, ctx, 3)
	time.Sleep(5 * time.Millisecond)
	if s.Waiters() != 0 || !s.TryAcquire(2) {
		t.Fatalf("an Acquire beyond the capacity queued: %s", semState(&s))
	}
	s.Release(2)
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire beyond the capacity = %v", err)
	}
}

// TestSemaphoreReleasePanics: over-release, by count or by a process
// that does not hold the units, panics and changes nothing; so does
// Init with a count above the capacity.
func TestSemaphoreReleasePanics(t *testing.T) {
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", what)
			}
		}()
		f()
	}
	var s Semaphore
	mustPanic("Init(2, 3)", func() { s.Init(2, 3) })
	s.Init(2, 1)
	mustPanic("Release(2) of 1 unowned unit", func() { s.Release(2) })
	s.Release(1)
	before := semState(&s)
	mustPanic("Release(1) at capacity", func() { s.Release(1) })
	if after := semState(&s); after != before {
		t.Fatalf("a refused Release changed the state: %s -> %s", before, after)
	}
	var u Semaphore
	mustPanic("Release(2^32)", func() { u.Release(1 << 32) })
	mustPanic("Acquire(-1)", func() { u.Acquire(nil, -1) })
	u.Release(1<<32 - 1)
	mustPanic("unbounded count overflow", func() { u.Release(1) })
}

// TestSemaphoreQueueFull: more waiters than queue slots all get their
// units (the extra ones poll for a slot).
func TestSemaphoreQueueFull(t *testing.T) {
	const n = semSlots + 4
	var s Semaphore
	s.Init(1, 0)
	ctx := timeoutCtx(t, testproc.Scale(30*time.Second))
	var done atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := s.Acquire(ctx, 1); err != nil {
				t.Error(err)
				return
			}
			done.Add(1)
			s.Release(1)
		})
	}
	waitWaiters(t, &s, semSlots)
	s.Release(1)
	wg.Wait()
	if done.Load() != n || s.Count() != 1 || s.Waiters() != 0 {
		t.Fatalf("%d of %d served: %s", done.Load(), n, semState(&s))
	}
}

// TestSemaphoreHoldersFull: with the holder table taken by other
// processes that hold units, this process's units are unowned; they are
// still acquired and released, and the invariants hold throughout.
func TestSemaphoreHoldersFull(t *testing.T) {
	var s Semaphore
	s.Init(semHolders+2, 0)
	for i := range s.holders {
		s.holders[i] = semHolder{token: uint32(1000 + i), units: 1} // alive: not in a tracked mapping
	}
	s.unowned = 2
	s.Release(2)
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	if err := s.Acquire(nil, 2); err != nil {
		t.Fatal(err)
	}
	if s.unowned != 2 || s.Count() != 0 {
		t.Fatalf("units taken with the table full: %s", semState(&s))
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	s.Release(2)
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
}

// TestSemaphoreAtLayout: the 16-byte layout and unknown versions are
// refused with ErrVersion, garbage with ErrCorrupt, all-zero accepted.
func TestSemaphoreAtLayout(t *testing.T) {
	b := make([]byte, SemaphoreSize+8)
	b = b[int(-uintptr(unsafe.Pointer(&b[0]))%8):][:SemaphoreSize]
	le := func(off int, v uint32) {
		b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	for _, c := range []struct {
		name string
		set  func()
		want error
	}{
		{"zero", func() {}, nil},
		{"old layout with units", func() { le(0, 3); le(4, 5) }, ErrVersion},
		{"old layout waiter count", func() { le(8, 1) }, ErrVersion},
		{"version 2 (Mutex without epochs)", func() { le(12, 2) }, ErrVersion},
		{"version 4", func() { le(12, 4) }, ErrVersion},
		{"version 0 with a holder", func() { le(128, 7) }, ErrCorrupt},
		{"count above capacity", func() { le(12, semVersion); le(0, 3); le(4, 2) }, ErrCorrupt},
		{"units do not add up", func() { le(12, semVersion); le(0, 1); le(4, 2) }, ErrCorrupt},
		{"pending journal, lock consistent", func() { le(12, semVersion); le(40, 1) }, ErrCorrupt},
		{"slot state 3", func() { le(12, semVersion); le(256, 1); le(268, 3) }, ErrCorrupt},
		{"waiters without a slot", func() { le(12, semVersion); le(8, 1) }, ErrCorrupt},
		{"valid queued slot", func() {
			le(12, semVersion)
			le(8, 1)
			le(36, 1)
			le(256, 9)
			le(260, 1)
			le(268, 1)
		}, nil},
	} {
		clear(b)
		c.set()
		_, err := SemaphoreAt(b)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: SemaphoreAt = %v, want %v", c.name, err, c.want)
		}
	}
}

// TestSemaphoreRepair: a critical section that died after marking its
// journal is redone by the next locker; one that died before marking it
// is ignored. The dead process is simulated by the Mutex's dirty mark,
// which is what the takeover of its lock leaves.
func TestSemaphoreRepair(t *testing.T) {
	var s Semaphore
	s.Init(4, 4)
	// A take of 3 by token 77, journalled and marked, half applied.
	s.journal[0] = 0<<32 | 1                                    // count = 1
	s.journal[1] = uint64(unsafe.Offsetof(s.holders))<<32 | 77  // holder 0 token
	s.journal[2] = uint64(unsafe.Offsetof(s.holders)+4)<<32 | 3 // holder 0 units
	s.jlen = 3
	s.count = 1
	s.mu.state = mutexDirty
	if !s.TryAcquire(1) {
		t.Fatalf("TryAcquire after a repair: %s", semState(&s))
	}
	if s.holders[0] != (semHolder{77, 3}) || s.Count() != 0 || s.jlen != 0 || s.mu.State().Inconsistent {
		t.Fatalf("journal not redone: %s", semState(&s))
	}
	s.Release(1)
	// An unmarked journal is ignored.
	s.journal[0] = 0<<32 | 4 // count = 4: wrong, if it were applied
	s.mu.state = mutexDirty
	if !s.TryAcquire(1) || s.Count() != 0 {
		t.Fatalf("an unmarked journal was applied: %s", semState(&s))
	}
	// A journal naming a word outside the state is corrupt, never used.
	s.journal[0] = 20<<32 | 5 // inside the Mutex
	s.jlen = 1
	s.mu.state = mutexDirty
	if err := s.Acquire(nil, 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Acquire over a journal into the Mutex = %v, want ErrCorrupt", err)
	}
}
