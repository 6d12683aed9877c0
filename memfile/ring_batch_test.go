package memfile

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestRingBatchFIFO fills and drains a ring with batches larger and
// smaller than what fits, across laps: messages come out in order, a
// batch stops at a full (empty) ring, and single sends and receives mix
// with batches.
func TestRingBatchFIFO(t *testing.T) {
	r := newTestRing(t, 16, 8)
	msgs := make([][]byte, 5)
	bufs := make([][]byte, 3)
	for i := range bufs {
		bufs[i] = make([]byte, 16)
	}
	next, want := 0, 0
	for lap := range 20 {
		for {
			for i := range msgs {
				msgs[i] = []byte{byte(next + i), byte(lap)}
			}
			k := r.TrySendBatch(msgs)
			next += k
			if k < len(msgs) {
				break
			}
		}
		if r.Len() != 8 {
			t.Fatalf("lap %d: full ring Len = %d", lap, r.Len())
		}
		if r.TrySendBatch(msgs) != 0 || r.TrySend([]byte{1}) {
			t.Fatalf("lap %d: sent into a full ring", lap)
		}
		if lap%2 == 1 { // a single receive between batches
			buf := make([]byte, 16)
			if n, ok := r.TryRecv(buf); !ok || n != 2 || buf[0] != byte(want) {
				t.Fatalf("lap %d: TryRecv = %d %v %v, want message %d", lap, n, ok, buf[:n], want)
			}
			want++
		}
		for {
			n, err := r.TryRecvBatch(bufs)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bufs[:n] {
				if len(b) != 2 || b[0] != byte(want) {
					t.Fatalf("lap %d: got %v, want message %d", lap, b, want)
				}
				want++
			}
			if n < len(bufs) {
				break
			}
		}
		if want != next || r.Len() != 0 {
			t.Fatalf("lap %d: received %d of %d, Len %d", lap, want, next, r.Len())
		}
	}
}

// TestRingBatchSkipAndTruncate: a batch receive skips aborted sends
// without counting them, and truncates a message longer than its buffer
// with io.ErrShortBuffer.
func TestRingBatchSkipAndTruncate(t *testing.T) {
	r := newTestRing(t, 16, 8)
	r.TrySend([]byte("a"))
	s, _ := r.TryBeginSend()
	s.Abort()
	r.TrySend([]byte("bbbbbb"))
	r.TrySend([]byte("c"))
	bufs := [][]byte{make([]byte, 4), make([]byte, 4), make([]byte, 4)}
	n, err := r.TryRecvBatch(bufs)
	if n != 3 || !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("TryRecvBatch = %d, %v; want 3 and io.ErrShortBuffer", n, err)
	}
	if string(bufs[0]) != "a" || string(bufs[1]) != "bbbb" || string(bufs[2]) != "c" {
		t.Fatalf("got %q", bufs)
	}
	if n, err := r.TryRecvBatch(bufs); n != 0 || err != nil {
		t.Fatalf("empty ring: TryRecvBatch = %d, %v", n, err)
	}
	// Empty batches claim nothing.
	if r.TrySendBatch(nil) != 0 || r.Len() != 0 {
		t.Fatal("TrySendBatch(nil) sent something")
	}
	if n, err := r.SendBatch(context.Background(), nil); n != 0 || err != nil || r.Len() != 0 {
		t.Fatalf("SendBatch(nil) = %d, %v", n, err)
	}
	r.TrySend([]byte("x"))
	if n, _ := r.TryRecvBatch(nil); n != 0 {
		t.Fatal("TryRecvBatch(nil) received something")
	}
	if n, err := r.RecvBatch(context.Background(), nil); n != 0 || err != nil || r.Len() != 1 {
		t.Fatalf("RecvBatch(nil) = %d, %v", n, err)
	}
	r.TryRecv(make([]byte, 16))
	if _, err := r.SendBatch(context.Background(), [][]byte{make([]byte, 17)}); err == nil {
		t.Fatal("SendBatch of a message longer than the slot succeeded")
	}
	if r.Len() != 0 {
		t.Fatal("a refused SendBatch sent something")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("TrySendBatch of a message longer than the slot did not panic")
		}
		if r.Len() != 0 {
			t.Fatal("a refused TrySendBatch sent something")
		}
	}()
	r.TrySendBatch([][]byte{{1}, make([]byte, 17)})
}

// TestRingBatchBlocking: RecvBatch waits for the first message and
// returns what is there; SendBatch waits for room for all; both give up
// with ctx.
func TestRingBatchBlocking(t *testing.T) {
	r := newTestRing(t, 8, 4)
	bufs := [][]byte{make([]byte, 8), make([]byte, 8)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if n, err := r.RecvBatch(ctx, bufs); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RecvBatch on an empty ring = %d, %v", n, err)
	}
	cancel()
	msgs := make([][]byte, 10)
	for i := range msgs {
		msgs[i] = []byte{byte(i)}
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	if n, err := r.SendBatch(ctx, msgs); n != 4 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendBatch of 10 into 4 slots = %d, %v", n, err)
	}
	cancel()
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := r.SendBatch(ctx, msgs[4:]); done <- err }()
	for want := 0; want < 10; {
		n, err := r.RecvBatch(ctx, bufs)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bufs[:n] {
			if len(b) != 1 || int(b[0]) != want {
				t.Fatalf("got %v, want message %d", b, want)
			}
			want++
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRingBatchGoroutines is TestRingGoroutines with batches: 3 producer
// goroutines SendBatch numbered messages, 3 consumers RecvBatch them and
// 1 more uses single Recv; each arrives exactly once and in order per
// producer.
func TestRingBatchGoroutines(t *testing.T) {
	for _, capacity := range []int{2, 16} {
		t.Run(strconv.Itoa(capacity), func(t *testing.T) { ringBatchGoroutines(t, capacity) })
	}
}

func ringBatchGoroutines(t *testing.T, capacity int) {
	const producers, consumers, batch = 3, 4, 5
	per := 20000
	if testing.Short() {
		per = 2000
	}
	r := newTestRing(t, 16, capacity)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			msgs := make([][]byte, batch)
			for i := range msgs {
				msgs[i] = make([]byte, 12)
			}
			for i := 0; i < per; i += batch {
				for j, m := range msgs {
					binary.LittleEndian.PutUint32(m, uint32(p))
					binary.LittleEndian.PutUint64(m[4:], uint64(i+j))
				}
				if _, err := r.SendBatch(ctx, msgs); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	seen := make([][]bool, producers)
	for p := range seen {
		seen[p] = make([]bool, per)
	}
	var mu sync.Mutex
	var cw sync.WaitGroup
	for c := range consumers {
		cw.Go(func() {
			last := []int{-1, -1, -1}
			bufs := make([][]byte, batch)
			for i := range bufs {
				bufs[i] = make([]byte, 16)
			}
			for {
				var n int
				var err error
				if c == 0 {
					n, err = r.Recv(ctx, bufs[0][:16])
					bufs[0] = bufs[0][:n]
					n = 1
				} else {
					n, err = r.RecvBatch(ctx, bufs)
				}
				if err != nil {
					t.Error(err)
					return
				}
				for j, buf := range bufs[:n] {
					if len(buf) == 1 {
						// Stop. The rest of the batch can only be other
						// consumers' stops (every producer was done):
						// pass them on.
						for range n - j - 1 {
							r.Send(ctx, []byte{0})
						}
						return
					}
					p, i := binary.LittleEndian.Uint32(buf), int(binary.LittleEndian.Uint64(buf[4:]))
					if i <= last[p] {
						t.Errorf("producer %d: message %d after %d", p, i, last[p])
					}
					last[p] = i
					mu.Lock()
					if seen[p][i] {
						t.Errorf("producer %d message %d twice", p, i)
					}
					seen[p][i] = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for range consumers {
		r.Send(ctx, []byte{0})
	}
	cw.Wait()
	for p := range seen {
		for i, ok := range seen[p] {
			if !ok {
				t.Fatalf("producer %d message %d lost", p, i)
			}
		}
	}
}

func TestRingBatchAllocs(t *testing.T) {
	r := newTestRing(t, 64, 8)
	msgs, bufs := make([][]byte, 4), make([][]byte, 4)
	for i := range msgs {
		msgs[i], bufs[i] = make([]byte, 64), make([]byte, 64)
	}
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() {
		r.TrySendBatch(msgs)
		r.TryRecvBatch(bufs)
		r.SendBatch(ctx, msgs)
		r.RecvBatch(ctx, bufs)
	}); n != 0 {
		t.Fatalf("%v allocations per batch round", n)
	}
}

// TestRingDeadBatchClaimant plants, in a tracked mapping, what a batch
// claimant that died leaves: several consecutive claimed slots, with
// tail (head) not yet moved past them. A blocked RecvBatch repairs a dead
// producer's slots and delivers what was sent behind them; a blocked
// SendBatch frees a dead consumer's; Reclaim repairs them all for
// pollers.
func TestRingDeadBatchClaimant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bufs := func() [][]byte { return [][]byte{make([]byte, 8), make([]byte, 8), make([]byte, 8), make([]byte, 8)} }

	// A producer claimed positions 0..2 in one batch and died before
	// moving tail.
	r := newLiveRing(t, 8, 8)
	dead := ringDeadToken(t, r.b)
	for i := range 3 {
		r.slot(uint64(i)).state.Store(ringPack(uint32(i), dead))
	}
	if !r.TrySend([]byte("d")) {
		t.Fatal("TrySend behind a dead batch producer failed")
	}
	b := bufs()
	if n, err := r.RecvBatch(ctx, b); err != nil || n != 1 || string(b[0]) != "d" {
		t.Fatalf("RecvBatch = %d %q, %v; want \"d\"", n, b[:n], err)
	}

	// The same for pollers.
	r = newLiveRing(t, 8, 8)
	for i := range 3 {
		r.slot(uint64(i)).state.Store(ringPack(uint32(i), dead))
	}
	r.TrySend([]byte("d"))
	if n, _ := r.TryRecvBatch(bufs()); n != 0 {
		t.Fatal("TryRecvBatch passed uncommitted slots")
	}
	if n := r.Reclaim(); n != 3 {
		t.Fatalf("Reclaim = %d, want 3", n)
	}
	if n, _ := r.TryRecvBatch(bufs()); n != 1 {
		t.Fatalf("TryRecvBatch after Reclaim = %d, want 1", n)
	}

	// A consumer claimed positions 0..2 of a full ring in one batch and
	// died before moving head.
	r = newLiveRing(t, 8, 4)
	dead = ringDeadToken(t, r.b)
	r.TrySendBatch([][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")})
	for i := range 3 {
		r.slot(uint64(i)).state.Store(ringPack(uint32(i+1), dead))
	}
	if n, err := r.SendBatch(ctx, [][]byte{[]byte("e"), []byte("f"), []byte("g")}); n != 3 || err != nil {
		t.Fatalf("SendBatch past a dead batch consumer = %d, %v", n, err)
	}
	b = bufs()
	if n, err := r.RecvBatch(ctx, b); err != nil || n != 4 || string(bytesJoin(b[:n])) != "defg" {
		t.Fatalf("RecvBatch = %d %q, %v; want d e f g", n, b[:n], err)
	}
}

func bytesJoin(bs [][]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}
