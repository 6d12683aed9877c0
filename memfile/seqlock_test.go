package memfile

import (
	"errors"
	"sync"
	"testing"
	"unsafe"
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

// TestSeqLockWriterDied leaves the counter odd, as a writer that died in
// the middle of a Store would: TryLoad fails until the next Store.
func TestSeqLockWriterDied(t *testing.T) {
	l, _ := SeqLockAt[seqVal](seqMem(SeqLockSize[seqVal]()))
	l.seq.Store(5)
	if _, ok := l.TryLoad(); ok {
		t.Fatal("TryLoad succeeded during a Store")
	}
	l.Store(seqVal{A: 1})
	if v, ok := l.TryLoad(); !ok || v.A != 1 || l.Sequence() != 6 {
		t.Fatalf("after recovery: %v, %v, seq %d", v, ok, l.Sequence())
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
