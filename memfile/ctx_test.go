package memfile

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestNilContext: every blocking call takes a nil ctx as
// context.Background(), never panics on it, and then waits as long as it
// takes (here: until another goroutine makes it possible).
func TestNilContext(t *testing.T) {
	b, _ := parentMapping(t)
	var nilCtx context.Context // the case under test
	later := func(f func()) { time.AfterFunc(20*time.Millisecond, f) }

	m, _ := MutexAt(b[0:])
	m.Lock()
	later(m.Unlock)
	if err := m.LockContext(nilCtx); err != nil {
		t.Fatalf("Mutex.LockContext(nil) = %v", err)
	}
	m.Unlock()

	rw, _ := RWMutexAt(b[64:])
	rw.Lock()
	later(rw.Unlock)
	if err := rw.RLockContext(nilCtx); err != nil {
		t.Fatalf("RWMutex.RLockContext(nil) = %v", err)
	}
	rw.RUnlock()
	if err := rw.LockContext(nilCtx); err != nil {
		t.Fatalf("RWMutex.LockContext(nil) = %v", err)
	}
	rw.Unlock()

	e, _ := EventAt(b[512:])
	later(e.Set)
	if err := e.Wait(nilCtx); err != nil {
		t.Fatalf("Event.Wait(nil) = %v", err)
	}

	s, _ := InitSemaphore(b[2048:], 1, 0)
	later(func() { s.Release(1) })
	if err := s.Acquire(nilCtx, 1); err != nil {
		t.Fatalf("Semaphore.Acquire(nil) = %v", err)
	}

	r, err := InitRing(b[1024:], 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	later(func() { r.TrySend([]byte("x")) })
	buf := make([]byte, 8)
	if n, err := r.Recv(nilCtx, buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("Ring.Recv(nil) = %q, %v", buf[:n], err)
	}
	if err := r.Send(nilCtx, []byte("y")); err != nil {
		t.Fatalf("Ring.Send(nil) = %v", err)
	}
	rs, err := r.BeginRecv(nilCtx)
	if err != nil {
		t.Fatalf("Ring.BeginRecv(nil) = %v", err)
	}
	rs.Release()
	ss, err := r.BeginSend(nilCtx)
	if err != nil {
		t.Fatalf("Ring.BeginSend(nil) = %v", err)
	}
	ss.Abort()

	l, _ := SeqLockAt[uint64](b[4096:])
	l.Store(7)
	if v, err := l.LoadContext(nilCtx); err != nil || v != 7 {
		t.Fatalf("SeqLock.LoadContext(nil) = %v, %v", v, err)
	}
}

// lateDeadline is a context that reports DeadlineExceeded without a
// deadline (a custom Context): nothing bounds a sleep by it, so its end
// must wake the sleep.
type lateDeadline struct{ context.Context }

func (lateDeadline) Err() error { return context.DeadlineExceeded }

// TestCancelWakes: a sleep's ctx that was cancelled wakes it; one that
// ended at its deadline does not (the sleep's timeout ends there), also
// when the deadline is a parent's; a context that says DeadlineExceeded
// without a deadline does. And a wait with a deadline still returns at
// it, with no wake-up: on an Event, a Mutex, a Ring.
func TestCancelWakes(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel2()
	<-expired.Done()
	child, cancel3 := context.WithCancel(expired)
	defer cancel3()
	before, cancel4 := context.WithTimeout(context.Background(), time.Hour)
	cancel4()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"cancelled", cancelled, true},
		{"expired", expired, false},
		{"child of expired", child, false},
		{"cancelled before its deadline", before, true},
		{"DeadlineExceeded without a deadline", lateDeadline{cancelled}, true},
	} {
		if got := cancelWakes(c.ctx); got != c.want {
			t.Errorf("%s: cancelWakes = %v, want %v", c.name, got, c.want)
		}
	}

	b, _ := parentMapping(t)
	e, _ := EventAt(b[0:])
	m, _ := MutexAt(b[64:])
	m.Lock()
	defer m.Unlock()
	r, err := InitRing(b[128:128+RingSize(8, 2)], 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	for name, wait := range map[string]func(context.Context) error{
		"Event": e.Wait,
		"Mutex": m.LockContext,
		"Ring":  func(ctx context.Context) error { _, err := r.Recv(ctx, make([]byte, 8)); return err },
	} {
		for _, strat := range []WaitStrategy{Backoff, Block} {
			ctx, cancel := context.WithTimeout(WithWaitStrategy(context.Background(), strat), 20*time.Millisecond)
			t0 := time.Now()
			err := wait(ctx)
			took := time.Since(t0)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s %v: %v, want DeadlineExceeded", name, strat, err)
			}
			if took < 20*time.Millisecond {
				t.Fatalf("%s %v: returned after %v, before its deadline", name, strat, took)
			}
		}
	}
}
