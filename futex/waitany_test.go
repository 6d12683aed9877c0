package futex_test

import (
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/internal/testproc"
)

// watches returns Watches of the n words at offsets 0, 64, 128... of mem,
// each expected to hold 0.
func watches(mem []byte, n int) []futex.Watch {
	ws := make([]futex.Watch, n)
	for i := range ws {
		ws[i].Set(word(mem, 64*i), 0)
	}
	return ws
}

func TestWaitAnyArgs(t *testing.T) {
	var x [2]uint32
	if _, err := futex.WaitAny(nil, time.Millisecond); err == nil {
		t.Error("WaitAny of no word: nil error")
	}
	many := make([]futex.Watch, futex.MaxWatches+1)
	for i := range many {
		many[i].Set(&x[0], 1)
	}
	if _, err := futex.WaitAny(many, time.Millisecond); err == nil {
		t.Errorf("WaitAny of %d words: nil error", len(many))
	}
	b := make([]byte, 16)
	var w [1]futex.Watch
	w[0].Set(word(b, 1), 0)
	if _, err := futex.WaitAny(w[:], time.Millisecond); !errors.Is(err, futex.ErrUnaligned) {
		t.Errorf("WaitAny of a misaligned word: %v, want ErrUnaligned", err)
	}
	if got := w[0].Val(); got != 0 {
		t.Errorf("Val = %d, want 0", got)
	}
}

// TestWaitAnyDiffers: a word that differs at entry ends the wait at once
// with its index, on the kernel path and on the polling one.
func TestWaitAnyDiffers(t *testing.T) {
	each(t, func(t *testing.T) {
		mem := make([]byte, mapSize)
		ws := watches(mem, 5)
		atomic.StoreUint32(word(mem, 64*3), 7)
		start := time.Now()
		i, err := futex.WaitAny(ws, 10*time.Second)
		if err != nil || i != 3 {
			t.Fatalf("WaitAny = %d, %v; want 3, nil", i, err)
		}
		if d := time.Since(start); d > testproc.Scale(time.Second) {
			t.Fatalf("WaitAny took %v with a word differing", d)
		}
	})
}

// TestWaitAnyTimeout: with nothing happening WaitAny returns
// os.ErrDeadlineExceeded, never before the timeout.
func TestWaitAnyTimeout(t *testing.T) {
	each(t, func(t *testing.T) {
		mem := make([]byte, mapSize)
		ws := watches(mem, 3)
		const d = 20 * time.Millisecond
		start := time.Now()
		i, err := futex.WaitAny(ws, d)
		if !errors.Is(err, os.ErrDeadlineExceeded) || i != -1 {
			t.Fatalf("WaitAny = %d, %v; want -1, ErrDeadlineExceeded", i, err)
		}
		if el := time.Since(start); el < d {
			t.Fatalf("WaitAny returned after %v, before its %v timeout", el, d)
		}
		if i, err := futex.WaitAny(ws, 0); !errors.Is(err, os.ErrDeadlineExceeded) || i != -1 {
			t.Fatalf("WaitAny(timeout 0) = %d, %v", i, err)
		}
	})
}

// each runs f on the kernel path and, on Linux, on the polling fallback.
func each(t *testing.T, f func(t *testing.T)) {
	t.Run("native", f)
	if restore := forcePoll(); restore != nil {
		t.Run("poll", func(t *testing.T) { defer restore(); f(t) })
	}
}

// TestWaitAnyCrossProcess: a child waits on 8 words of a shared mapping
// with WaitAny; the parent wakes word 5 without changing it (where Wakes
// reach a WaitAny) or changes it (where WaitAny polls). The child must
// return with index 5, and, where Wake counts, the parent's Wakes must
// have woken exactly one waiter in all.
func TestWaitAnyCrossProcess(t *testing.T) {
	const n, k = 8, 5
	if testproc.Role() == "child" {
		mem := childShared(t)
		ws := watches(mem, n)
		atomic.StoreUint32(word(mem, 64*n), 1) // ready
		for {
			i, err := futex.WaitAny(ws, testproc.Scale(30*time.Second))
			if err != nil {
				t.Fatalf("child: WaitAny = %d, %v", i, err)
			}
			if i >= 0 || !futex.WaitAnyWakes() {
				atomic.StoreUint32(word(mem, 64*(n+1)), uint32(i+1)) // done: which
				return
			}
		}
	}
	mem, env := newShared(t)
	cmd := testproc.Command(t, "TestWaitAnyCrossProcess", "child", env)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "child ready", 30*time.Second, func() bool { return load(word(mem, 64*n)) == 1 })
	woken := 0
	waitFor(t, "child woken", 30*time.Second, func() bool {
		if futex.WaitAnyWakes() {
			c, err := futex.Wake(word(mem, 64*k), 1)
			if err != nil {
				t.Fatalf("Wake: %v", err)
			}
			woken += c
		} else {
			atomic.StoreUint32(word(mem, 64*k), 1)
		}
		time.Sleep(time.Millisecond)
		return load(word(mem, 64*(n+1))) != 0
	})
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if got := load(word(mem, 64*(n+1))) - 1; got != k {
		t.Fatalf("the child's WaitAny returned index %d, want %d", int32(got), k)
	}
	t.Logf("WaitAnyWakes %v; Wakes reported %d woken", futex.WaitAnyWakes(), woken)
	if futex.WaitAnyWakes() && futex.WakeCounts && woken != 1 {
		t.Fatalf("Wakes reported %d woken for one WaitAny", woken)
	}
}

// TestWaitAnyWakesNoOther: a Wake of a word nobody watches does not end a
// WaitAny (it returns only for its own words).
func TestWaitAnyWakesNoOther(t *testing.T) {
	if !futex.WaitAnyWakes() {
		t.Skip("WaitAny polls here")
	}
	mem := make([]byte, mapSize)
	ws := watches(mem, 4)
	done := make(chan int, 1)
	go func() {
		i, _ := futex.WaitAny(ws, 2*time.Second)
		done <- i
	}()
	time.Sleep(10 * time.Millisecond)
	for range 10 {
		futex.Wake(word(mem, 64*10), 1) // not watched
	}
	select {
	case i := <-done:
		t.Fatalf("WaitAny returned %d after Wakes of another word", i)
	case <-time.After(50 * time.Millisecond):
	}
	for {
		if c, _ := futex.Wake(word(mem, 64*2), 1); c == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if i := <-done; i != 2 {
		t.Fatalf("WaitAny = %d after a Wake of word 2", i)
	}
}
