package memfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/testproc"
)

// closeRig is a MemFile with a goroutine blocked on each kind of object
// in its memory: its own lock (held by this process), its event, and a
// Mutex, an RWMutex held for writing, a Semaphore with no unit, and two
// Rings (one empty, one full) placed in its data.
type closeRig struct {
	f      *MemFile
	mu     *Mutex
	rw     *RWMutex
	sem    *Semaphore
	empty  *Ring
	full   *Ring
	ev     *Event
	data   []byte
	starts []func(context.Context) error // each blocks until Close
	names  []string
}

// Offsets in the rig's data.
const (
	rigMutex   = 0
	rigRW      = 64
	rigCond    = 3072
	rigSem     = 4096
	rigEmpty   = 8192
	rigFull    = 16384
	rigDataLen = 32768
)

func newCloseRig(t testing.TB, lt LockType) *closeRig {
	f, err := Create(tempLink(t), lt, rigDataLen, WithEvents(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r := &closeRig{f: f, data: f.Bytes()}
	b := r.data
	r.mu, _ = MutexAt(b[rigMutex:])
	r.rw, _ = RWMutexAt(b[rigRW:])
	if r.sem, err = SemaphoreAt(b[rigSem:]); err != nil {
		t.Fatal(err)
	}
	if r.empty, err = InitRing(b[rigEmpty:rigFull], 64, 4); err != nil {
		t.Fatal(err)
	}
	if r.full, err = InitRing(b[rigFull:], 64, 4); err != nil {
		t.Fatal(err)
	}
	for r.full.TrySend([]byte("x")) {
	}
	if r.ev, err = f.Event(0); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.rw.Lock()
	f.Lock()
	buf := make([]byte, 64)
	r.add("MemFile.LockContext", f.LockContext)
	r.add("MemFile.Write", func(ctx context.Context) error { return f.Write(func([]byte) error { return nil }) })
	r.add("Event.Wait", r.ev.Wait)
	r.add("Mutex.LockContext", r.mu.LockContext)
	r.add("Mutex.LockRecover", func(ctx context.Context) error { _, err := r.mu.LockRecover(ctx); return err })
	r.add("RWMutex.RLockContext", r.rw.RLockContext)
	r.add("RWMutex.LockContext", r.rw.LockContext)
	r.add("Semaphore.Acquire", func(ctx context.Context) error { return r.sem.Acquire(ctx, 1) })
	r.add("Ring.Recv", func(ctx context.Context) error { _, err := r.empty.Recv(ctx, buf); return err })
	r.add("Ring.Send", func(ctx context.Context) error { return r.full.Send(ctx, []byte("y")) })
	cm, _ := MutexAt(b[rigCond:])
	cc, _ := CondAt(b[rigCond+MutexSize:])
	r.add("Cond.Wait", func(ctx context.Context) error { cm.Lock(); return cc.Wait(ctx, cm) })
	return r
}

func (r *closeRig) add(name string, fn func(context.Context) error) {
	r.names = append(r.names, name)
	r.starts = append(r.starts, fn)
}

// TestCloseWakesWaiters closes a MemFile while a goroutine waits on each
// kind of object in its memory, with and without a cancellable context:
// every wait returns an error matching fs.ErrClosed (none hangs, none
// faults, none succeeds), and afterwards every object can still be used
// through the pointers taken before Close without a fault.
func TestCloseWakesWaiters(t *testing.T) {
	for _, lt := range []LockType{LockMutex, LockRWMutex} {
		for _, withCtx := range []bool{false, true} {
			for _, strat := range []WaitStrategy{Backoff, BusySpin, Block} {
				t.Run(fmt.Sprintf("%v/ctx=%v/%v", lt, withCtx, strat), func(t *testing.T) {
					r := newCloseRig(t, lt)
					ctx := WithWaitStrategy(context.Background(), strat)
					if withCtx {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, time.Hour)
						defer cancel()
					}
					errs := make([]chan error, len(r.starts))
					for i, fn := range r.starts {
						errs[i] = make(chan error, 1)
						go func() { errs[i] <- fn(ctx) }()
					}
					// Every wait registers with the mapping when it passes its
					// fast path (a call that starts after Close acts on the
					// private zeros, as documented, and may succeed): wait
					// until all have, however slow the machine (qemu).
					for deadline := time.Now().Add(testproc.Scale(10 * time.Second)); r.f.tracked.Waiting() < len(r.starts); {
						if time.Now().After(deadline) {
							t.Fatalf("%d of %d waits reached their wait", r.f.tracked.Waiting(), len(r.starts))
						}
						time.Sleep(time.Millisecond)
					}
					time.Sleep(20 * time.Millisecond) // all past their spin, asleep
					for i, c := range errs {
						select {
						case err := <-c:
							t.Fatalf("%s returned %v before Close", r.names[i], err)
						default:
						}
					}
					if err := r.f.Close(); err != nil {
						t.Fatalf("Close: %v", err)
					}
					for i, c := range errs {
						select {
						case err := <-c:
							if !errors.Is(err, fs.ErrClosed) {
								t.Errorf("%s returned %v after Close, want an error matching fs.ErrClosed", r.names[i], err)
							}
						case <-time.After(10 * time.Second):
							t.Fatalf("%s still waits 10 s after Close", r.names[i])
						}
					}
					r.afterClose(t)
				})
			}
		}
	}
}

// afterClose uses the rig after Close: the MemFile's methods fail with
// fs.ErrClosed, waits fail with it at once, and every other call on the
// old pointers acts on private memory without a fault or a panic.
func (r *closeRig) afterClose(t *testing.T) {
	f := r.f
	ctx := context.Background()
	for name, err := range map[string]error{
		"LockContext":  f.LockContext(ctx),
		"RLockContext": f.RLockContext(ctx),
		"Read":         f.Read(func([]byte) error { return nil }),
		"Write":        f.Write(func([]byte) error { return nil }),
		"Close":        f.Close(),
	} {
		if !errors.Is(err, fs.ErrClosed) {
			t.Errorf("MemFile.%s after Close = %v, want fs.ErrClosed", name, err)
		}
	}
	if _, err := f.LockRecover(ctx); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("MemFile.LockRecover after Close = %v", err)
	}
	if _, err := f.Event(0); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("MemFile.Event after Close = %v", err)
	}
	if f.Bytes() != nil || f.Participants() != nil {
		t.Error("Bytes or Participants after Close is not nil")
	}
	for _, name := range []string{"Lock", "RLock"} {
		func() {
			defer func() {
				e, _ := recover().(error)
				if !errors.Is(e, fs.ErrClosed) {
					t.Errorf("MemFile.%s after Close panicked with %v, want fs.ErrClosed", name, e)
				}
			}()
			if name == "Lock" {
				f.Lock()
			} else {
				f.RLock()
			}
		}()
	}
	f.Unlock() // nothing: the lock went with the memory
	f.RUnlock()
	f.MarkConsistent()

	// The locks this test held were in the memory that is private zeros
	// now: unlocking them neither faults nor panics.
	r.mu.Unlock()
	r.rw.Unlock()
	r.mu.MarkConsistent()
	r.rw.MarkConsistent()
	r.rw.RUnlock()
	// Calls that do not wait act on the private memory.
	if !r.mu.TryLock() {
		t.Error("TryLock of the private zero Mutex failed")
	}
	r.mu.Unlock()
	r.ev.Set()
	r.ev.Reset()
	r.sem.Release(1)
	r.sem.TryAcquire(1)
	r.empty.TrySend([]byte("z"))
	r.empty.TryRecv(make([]byte, 64))
	r.data[0], r.data[len(r.data)-1] = 1, 2 // a slice from Bytes stays writable
	// Waits fail at once.
	for name, fn := range map[string]func(context.Context) error{
		"Event.Wait":        r.ev.Wait,
		"Semaphore.Acquire": func(ctx context.Context) error { return r.sem.Acquire(ctx, 5) },
		"Ring.Recv":         func(ctx context.Context) error { _, err := r.empty.Recv(ctx, make([]byte, 64)); return err },
	} {
		if err := fn(ctx); !errors.Is(err, fs.ErrClosed) {
			t.Errorf("%s after Close = %v, want fs.ErrClosed", name, err)
		}
	}
}

// TestCloseUnderLoad closes a MemFile while goroutines hammer its lock,
// its event and objects in its data: nothing faults, every error matches
// fs.ErrClosed, and every goroutine ends (run it with -race too).
func TestCloseUnderLoad(t *testing.T) {
	if runtime.GOOS == "windows" {
		// Documented on MemFile.Close: Windows cannot swap a view for
		// private memory in one step, and a call that does not wait
		// faults if it touches the memory in the microseconds between.
		t.Skip("Windows: Close unmaps before it commits private memory; a concurrent non-waiting access may fault (documented)")
	}
	for round := range 20 {
		f, err := Create(tempLink(t), LockRWMutex, rigDataLen, WithEvents(1))
		if err != nil {
			t.Fatal(err)
		}
		b := f.Bytes()
		mu, _ := MutexAt(b[rigMutex:])
		ev, _ := f.Event(0)
		var wg sync.WaitGroup
		errc := make(chan error, 64)
		work := []func() error{
			func() error { return f.Write(func(d []byte) error { d[100]++; return nil }) },
			func() error { return f.Read(func(d []byte) error { _ = d[100]; return nil }) },
			func() error {
				if err := mu.LockContext(context.Background()); err != nil {
					return err
				}
				b[200]++
				mu.Unlock()
				return nil
			},
			func() error {
				ev.Set()
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				defer cancel()
				if err := ev.Wait(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
					return err
				}
				ev.Reset()
				return nil
			},
		}
		var stop atomic.Bool
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					if err := work[i%len(work)](); err != nil {
						errc <- err
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(1+round%5) * time.Millisecond)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		// The users of the Mutex and Event in the memory do not learn of
		// Close unless they wait (they act on private zeros now): stop
		// them by hand once the MemFile's own users have stopped.
		for range 4 {
			select {
			case err := <-errc:
				if !errors.Is(err, fs.ErrClosed) {
					t.Fatalf("round %d: a user of the closed MemFile got %v, want fs.ErrClosed", round, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: a Read or Write user still runs 10 s after Close", round)
			}
		}
		stop.Store(true)
		wg.Wait()
		close(errc)
		for err := range errc {
			if !errors.Is(err, fs.ErrClosed) {
				t.Fatalf("round %d: a user of the closed MemFile got %v, want fs.ErrClosed", round, err)
			}
		}
	}
}

// BenchmarkCloseWake measures how long a goroutine asleep on an Event of
// a MemFile takes to return after another calls Close: p50, p99 and the
// maximum over the iterations (run -benchtime=1000x for 1,000 closes).
func BenchmarkCloseWake(b *testing.B) {
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		f, err := Create(tempLink(b), LockMutex, 64, WithEvents(1))
		if err != nil {
			b.Fatal(err)
		}
		ev, _ := f.Event(0)
		errc := make(chan error)
		var woke time.Time
		go func() { err := ev.Wait(nil); woke = time.Now(); errc <- err }()
		time.Sleep(300 * time.Microsecond) // past the spin: asleep in the kernel
		t0 := time.Now()
		f.Close()
		err = <-errc
		lat = append(lat, woke.Sub(t0))
		if !errors.Is(err, fs.ErrClosed) {
			b.Fatalf("Wait returned %v after Close", err)
		}
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[min(int(q*float64(len(lat))), len(lat)-1)].Nanoseconds()) }
	b.ReportMetric(at(0.5), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
}
