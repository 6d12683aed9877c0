package memfile

import (
	"context"
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
