package memfile

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/internal/testproc"
)

// seqMem returns zeroed, 8-byte aligned heap memory of n bytes.
func seqMem(n int) []byte {
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), n)
}

// seqOdd has a size that is not a multiple of 8 and 1-byte alignment, to
// exercise the partial last word.
type seqOdd [13]byte

type seqVal struct {
	A, B, C uint64
	Sum     uint64
}

func TestSeqLockAt(t *testing.T) {
	if got := SeqLockSize[seqOdd](); got != 16+16 {
		t.Fatalf("SeqLockSize[[13]byte] = %d", got)
	}
	b := seqMem(SeqLockSize[seqVal]())
	if _, err := SeqLockAt[seqVal](b[:len(b)-1]); err == nil {
		t.Fatal("SeqLockAt on too few bytes succeeded")
	}
	if _, err := SeqLockAt[*int](seqMem(64)); err == nil {
		t.Fatal("SeqLockAt[*int] succeeded")
	}
	if _, err := SeqLockAt[struct{ S string }](seqMem(64)); err == nil {
		t.Fatal("SeqLockAt of a struct with a string succeeded")
	}
	if _, err := SeqLockAt[seqVal](b); err != nil {
		t.Fatal(err)
	}
	if _, err := SeqLockAt[seqOdd](b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("SeqLockAt with another T = %v, want ErrCorrupt", err)
	}
	if _, err := SeqLockAt[seqVal](seqMem(64)[4:]); err == nil {
		t.Fatal("SeqLockAt on unaligned bytes succeeded")
	}
}

func TestSeqLockOddSize(t *testing.T) {
	b := seqMem(SeqLockSize[seqOdd]() + 8)
	for i := range b {
		b[i] = 0
	}
	l, err := SeqLockAt[seqOdd](b)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := l.TryLoad(); !ok || v != (seqOdd{}) {
		t.Fatalf("zero SeqLock: %v, %v", v, ok)
	}
	v := seqOdd{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
	l.Store(v)
	if got := l.Load(); got != v {
		t.Fatalf("Load = %v, want %v", got, v)
	}
	if l.Sequence() != 2 {
		t.Fatalf("Sequence = %d after one Store", l.Sequence())
	}
	for _, x := range b[16+13:] {
		if x != 0 {
			t.Fatalf("Store wrote past the value: %v", b)
		}
	}
}

// TestSeqLockWriterDied leaves the counter odd with the token of a writer
// that the kernel says is gone, in a tracked mapping, as a writer killed in
// the middle of a Store would: TryLoad fails, LoadContext reports
// ErrOwnerDead, and the next Store takes over and finishes.
func TestSeqLockWriterDied(t *testing.T) {
	b, _ := parentMapping(t)
	l, err := SeqLockAt[seqVal](b)
	if err != nil {
		t.Fatal(err)
	}
	dead := deadToken(t, b)
	l.seq.Store(5 | uint64(dead)<<32)
	if _, ok := l.TryLoad(); ok {
		t.Fatal("TryLoad succeeded during a Store")
	}
	if _, err := l.LoadContext(timeoutCtx(t, 5*time.Second)); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("LoadContext with a dead writer = %v, want ErrOwnerDead", err)
	}
	l.Store(seqVal{A: 1})
	if v, ok := l.TryLoad(); !ok || v.A != 1 || l.Sequence() != 6 || l.seq.Load()>>32 != 0 {
		t.Fatalf("after recovery: %v, %v, word %#x", v, ok, l.seq.Load())
	}
}

// TestSeqLockOverlapNeverTorn: a Store that finds another Store of a live
// process (here: this one) in progress panics before it writes a byte, so
// no reader can accept a mix; in memory no kernel vouches for, an odd
// counter is never taken over either, and LoadContext only times out.
func TestSeqLockOverlapNeverTorn(t *testing.T) {
	for _, tracked := range []bool{true, false} {
		var b []byte
		var tok uint32
		if tracked {
			b, _ = parentMapping(t)
			tok = selfToken // a Store of ours in progress
		} else {
			b = seqMem(SeqLockSize[seqVal]())
			tok = selfToken ^ 0x5a5a5a5a // nobody vouches either way
		}
		l, _ := SeqLockAt[seqVal](b)
		l.Store(seqVal{A: 7})
		l.seq.Store(3 | uint64(tok)<<32)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("tracked=%v: overlapping Store did not panic", tracked)
				}
			}()
			l.Store(seqVal{A: 8})
		}()
		if v := *(*uint64)(l.value); v != 7 {
			t.Errorf("tracked=%v: the refused Store wrote %d", tracked, v)
		}
		if _, err := l.LoadContext(timeoutCtx(t, 20*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("tracked=%v: LoadContext with a live writer = %v, want DeadlineExceeded", tracked, err)
		}
	}
}

// TestSeqLockRefusesVersion1: a SeqLock of the old layout (bare size in
// the kind word) is refused, not misread.
func TestSeqLockRefusesVersion1(t *testing.T) {
	b := seqMem(SeqLockSize[seqVal]())
	*(*uint32)(unsafe.Pointer(&b[8])) = uint32(unsafe.Sizeof(seqVal{}))
	if _, err := SeqLockAt[seqVal](b); !errors.Is(err, ErrVersion) {
		t.Fatalf("SeqLockAt of a version-1 SeqLock = %v, want ErrVersion", err)
	}
}

// TestSeqLockKilledWriter: a real child process begins a Store and is
// SIGKILLed in the middle; the parent's LoadContext reports ErrOwnerDead
// and its Store completes the write.
func TestSeqLockKilledWriter(t *testing.T) {
	if testproc.Role() == "writer" {
		b := childMapping(t)
		l, _ := SeqLockAt[seqVal](b)
		l.begin() // and never finish
		word(b, 256).Store(1)
		time.Sleep(testproc.Scale(20 * time.Second))
		return
	}
	b, env := parentMapping(t)
	l, _ := SeqLockAt[seqVal](b)
	cmds := startChildren(t, 1, "TestSeqLockKilledWriter", "writer", env)
	waitFlag(t, b, 256, 1)
	if _, err := l.LoadContext(timeoutCtx(t, 30*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LoadContext while the writer lives = %v, want DeadlineExceeded", err)
	}
	killed := make(chan time.Time, 1)
	killAndReap(t, cmds[0], killed)
	_, err := l.LoadContext(timeoutCtx(t, testproc.Scale(5*time.Second)))
	t.Logf("dead writer noticed %v after the kill", time.Since(<-killed))
	if !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("LoadContext after the writer died = %v, want ErrOwnerDead", err)
	}
	l.Store(seqVal{A: 3})
	if v := l.Load(); v.A != 3 {
		t.Fatalf("Load after the takeover = %+v", v)
	}
}

// deadToken returns a token that no process holds in the liveness domain
// of the tracked mapping b.
func deadToken(t *testing.T, b []byte) uint32 {
	t.Helper()
	for tok := selfToken ^ 0x5a5a5a5a; ; tok++ {
		if tok != 0 && tok != selfToken && live.Judge(unsafe.Pointer(&b[0]), tok) == live.Dead {
			return tok
		}
	}
}

// TestSeqLockGoroutines races readers against a writer (in heap memory, so
// that -race checks every access): no torn value.
func TestSeqLockGoroutines(t *testing.T) {
	l, _ := SeqLockAt[seqVal](seqMem(SeqLockSize[seqVal]()))
	const writes = 20000
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				v := l.Load()
				if v.A+v.B+v.C != v.Sum {
					t.Errorf("torn value %+v", v)
					return
				}
			}
		})
	}
	for i := range uint64(writes) {
		l.Store(seqVal{A: i, B: 2 * i, C: 3 * i, Sum: 6 * i})
	}
	close(done)
	wg.Wait()
	if v := l.Load(); v.A != writes-1 {
		t.Fatalf("last value %+v", v)
	}
}

func TestSeqLockAllocs(t *testing.T) {
	l, _ := SeqLockAt[seqVal](seqMem(SeqLockSize[seqVal]()))
	if n := testing.AllocsPerRun(100, func() {
		l.Store(seqVal{A: 1})
		l.Load()
		l.TryLoad()
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkSeqLockLoad(b *testing.B) {
	l, _ := SeqLockAt[seqVal](seqMem(SeqLockSize[seqVal]()))
	l.Store(seqVal{A: 1})
	b.ReportAllocs()
	for b.Loop() {
		l.Load()
	}
}

func BenchmarkSeqLockStore(b *testing.B) {
	l, _ := SeqLockAt[seqVal](seqMem(SeqLockSize[seqVal]()))
	b.ReportAllocs()
	for b.Loop() {
		l.Store(seqVal{A: 1})
	}
}
