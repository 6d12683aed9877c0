package memfile

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/testproc"
)

func TestSemaphoreBasics(t *testing.T) {
	b := make([]byte, SemaphoreSize+8)
	al := int(-uintptr(unsafe.Pointer(&b[0])) % 8)
	s, err := InitSemaphore(b[al:], 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !s.TryAcquire(2) || s.TryAcquire(2) || !s.TryAcquire(1) || s.TryAcquire(1) {
		t.Fatal("TryAcquire does not follow the count")
	}
	s.Release(3)
	if s.Count() != 3 {
		t.Fatalf("count %d after releasing all, want 3", s.Count())
	}
	defer func() {
		if r, _ := recover().(string); !strings.Contains(r, "released more than held") {
			t.Fatalf("over-release panicked with %q", r)
		}
		if s.Count() != 3 {
			t.Fatalf("over-release changed the count to %d", s.Count())
		}
	}()
	s.Release(1)
}

func TestSemaphoreUnbounded(t *testing.T) {
	var s Semaphore
	if s.TryAcquire(1) {
		t.Fatal("zero Semaphore had a unit")
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		s.Release(5)
	}()
	if err := s.Acquire(timeoutCtx(t, testproc.Scale(5*time.Second)), 5); err != nil {
		t.Fatal(err)
	}
	if s.Count() != 0 {
		t.Fatal("count not 0")
	}
}

func TestSemaphoreCancelLeavesUnchanged(t *testing.T) {
	var s Semaphore
	s.Init(10, 2)
	before := semState(&s)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			err := s.Acquire(timeoutCtx(t, time.Duration(10+10*i)*time.Millisecond), 3+int64(i))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Acquire beyond the count = %v", err)
			}
		})
	}
	wg.Wait()
	if after := semState(&s); after != before {
		t.Fatalf("timed-out Acquires changed the state:\n%s\n->\n%s", before, after)
	}
}

// TestSemaphoreProcesses: 4 processes x 3 goroutines share a semaphore of
// 2 units; never more than 2 are inside at once.
func TestSemaphoreProcesses(t *testing.T) {
	const procs, gs, units = 4, 3, 2
	if testproc.Role() == "user" {
		b := childMapping(t)
		s, _ := SemaphoreAt(b)
		inside, total := word(b, 1024), word(b, 1028)
		iters := iterations(t, 2000)
		ctx := testproc.Context(t, 60*time.Second)
		var wg sync.WaitGroup
		for range gs {
			wg.Go(func() {
				for range iters {
					if err := s.Acquire(ctx, 1); err != nil {
						t.Error(err)
						return
					}
					if inside.Add(1) > units {
						t.Error("more holders inside than units")
					}
					total.Add(1)
					inside.Add(^uint32(0))
					s.Release(1)
				}
			})
		}
		wg.Wait()
		return
	}
	b, env := parentMapping(t)
	if _, err := InitSemaphore(b, units, units); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, startChildren(t, procs, "TestSemaphoreProcesses", "user", env))
	if got, want := word(b, 1028).Load(), uint32(procs*gs*iterations(t, 2000)); got != want {
		t.Fatalf("%d acquisitions, want %d", got, want)
	}
}

func TestSemaphoreZeroAllocs(t *testing.T) {
	var s Semaphore
	s.Init(4, 4)
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() {
		s.Acquire(ctx, 2)
		s.TryAcquire(2)
		s.Release(4)
	}); n != 0 {
		t.Fatalf("%v allocations per round", n)
	}
}
