package memfile

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/testproc"
)

// lockTypes are the lock types with a lock.
var lockTypes = []LockType{LockMutex, LockRWMutex}

// TestWritePanicUnlocks: a panic in Write's or Read's function leaves the
// lock free.
func TestWritePanicUnlocks(t *testing.T) {
	for _, lt := range lockTypes {
		f := mustCreate(t, tempLink(t), lt, 64)
		for _, op := range []func(func([]byte) error) error{f.Write, f.Read} {
			func() {
				defer func() {
					if recover() == nil {
						t.Fatalf("%v: the panic did not propagate", lt)
					}
				}()
				op(func([]byte) error { panic("boom") })
			}()
			ctx, cancel := context.WithTimeout(context.Background(), testproc.Scale(time.Second))
			if err := f.LockContext(ctx); err != nil {
				t.Fatalf("%v: lock after a panicking fn: %v", lt, err)
			}
			cancel()
			f.Unlock()
		}
	}
}

// TestReadWriteReturnsFnError: Read and Write return what fn returns.
func TestReadWriteReturnsFnError(t *testing.T) {
	f := mustCreate(t, tempLink(t), LockRWMutex, 64)
	want := errors.New("mine")
	if err := f.Write(func([]byte) error { return want }); err != want {
		t.Fatalf("Write = %v", err)
	}
	if err := f.Read(func([]byte) error { return want }); err != want {
		t.Fatalf("Read = %v", err)
	}
}

// TestLockContextCancel: a cancelled LockContext returns ctx.Err() itself.
func TestLockContextCancel(t *testing.T) {
	for _, lt := range lockTypes {
		f := mustCreate(t, tempLink(t), lt, 64)
		f.Lock()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := f.LockContext(ctx)
		cancel()
		if err != context.DeadlineExceeded {
			t.Errorf("%v: LockContext of a held lock = %v, want context.DeadlineExceeded", lt, err)
		}
		f.Unlock()
	}
}

// TestOwnerDead: a child takes the lock and exits without unlocking. Write
// and Read then refuse to run fn and return ErrOwnerDead (and keep doing
// so); LockContext refuses with ErrOwnerDead, nothing held; after
// LockRecover, MarkConsistent and Unlock, Write works again.
func TestOwnerDead(t *testing.T) {
	if testproc.Role() == "die" {
		f, err := Open(os.Getenv("LINK"))
		if err != nil {
			t.Fatal(err)
		}
		f.Lock()
		os.Exit(0) // holding the lock
	}
	for _, lt := range lockTypes {
		t.Run(lt.String(), func(t *testing.T) {
			link := tempLink(t)
			f := mustCreate(t, link, lt, 64)
			if out, err := testproc.Command(t, "TestOwnerDead", "die", "LINK="+link).Output(); err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			for range 2 {
				called := false
				err := f.Write(func([]byte) error { called = true; return nil })
				if !errors.Is(err, ErrOwnerDead) || called {
					t.Fatalf("Write after the owner died = %v (fn called: %v), want ErrOwnerDead", err, called)
				}
				err = f.Read(func([]byte) error { called = true; return nil })
				if !errors.Is(err, ErrOwnerDead) || called {
					t.Fatalf("Read after the owner died = %v (fn called: %v), want ErrOwnerDead", err, called)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), testproc.Scale(5*time.Second))
			defer cancel()
			if err := f.LockContext(ctx); !errors.Is(err, ErrOwnerDead) {
				t.Fatalf("LockContext = %v, want ErrOwnerDead", err)
			}
			mustRecover(t, f)
			if err := f.Write(func([]byte) error { return nil }); err != nil {
				t.Fatalf("Write after recovery: %v", err)
			}
		})
	}
}

func TestLockNoneIsNoop(t *testing.T) {
	f := mustCreate(t, tempLink(t), LockNone, 64)
	f.Lock()
	f.Lock() // no lock: never blocks
	f.Unlock()
	f.RLock()
	f.RUnlock()
	if err := f.LockContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.MarkConsistent()
}

// TestReadWriteAllocs: the uncontended Read and Write paths do not
// allocate.
func TestReadWriteAllocs(t *testing.T) {
	for _, lt := range []LockType{LockNone, LockMutex, LockRWMutex} {
		f := mustCreate(t, tempLink(t), lt, 64)
		fn := func(b []byte) error { b[0]++; return nil }
		if n := testing.AllocsPerRun(1000, func() { f.Write(fn); f.Read(fn) }); n != 0 {
			t.Errorf("%v: %v allocations per Write+Read", lt, n)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, lt := range []LockType{LockNone, LockMutex, LockRWMutex} {
		b.Run(lt.String(), func(b *testing.B) {
			f, err := Create(tempLink(b), lt, 64)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			fn := func(d []byte) error { d[0]++; return nil }
			b.ReportAllocs()
			for b.Loop() {
				f.Write(fn)
			}
		})
	}
}

// TestEventsCrossProcess: the header's events reach another process that
// opened the link: the child waits on event 0 and answers on event 1, a
// hundred times.
func TestEventsCrossProcess(t *testing.T) {
	const rounds = 100
	if testproc.Role() == "child" {
		f, err := Open(os.Getenv("LINK"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		req, _ := f.Event(0)
		resp, err := f.Event(1)
		if err != nil {
			t.Fatal(err)
		}
		ctx := testproc.Context(t, 30*time.Second)
		for range rounds {
			if err := req.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			f.Write(func(b []byte) error { b[1] = b[0]; return nil })
			resp.Set()
		}
		return
	}
	link := tempLink(t)
	f := mustCreate(t, link, LockMutex, 64, WithEvents(2))
	req, _ := f.Event(0)
	resp, _ := f.Event(1)
	cmd := testproc.Command(t, "TestEventsCrossProcess", "child", "LINK="+link)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := testproc.Context(t, 30*time.Second)
	for i := range rounds {
		f.Write(func(b []byte) error { b[0] = byte(i); return nil })
		req.Set()
		if err := resp.Wait(ctx); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		f.Read(func(b []byte) error {
			if b[1] != byte(i) {
				t.Fatalf("round %d: child echoed %d", i, b[1])
			}
			return nil
		})
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// BenchmarkWriteSyncMutex is the in-process baseline for BenchmarkWrite:
// the same closure under a sync.Mutex.
func BenchmarkWriteSyncMutex(b *testing.B) {
	var mu sync.Mutex
	data := make([]byte, 64)
	fn := func(d []byte) error { d[0]++; return nil }
	write := func() error {
		mu.Lock()
		defer mu.Unlock()
		return fn(data)
	}
	b.ReportAllocs()
	for b.Loop() {
		write()
	}
}
