package memfile

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// bcMem returns n zeroed, 8-byte aligned bytes of Go memory.
func bcMem(n int) []byte {
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), n)
}

func newBroadcast(t testing.TB, b []byte, c BroadcastConfig) *Broadcast {
	t.Helper()
	if b == nil {
		b = bcMem(BroadcastSize(c))
	}
	bc, err := InitBroadcast(b, c)
	if err != nil {
		t.Fatal(err)
	}
	return bc
}

func bcPublisher(t testing.TB, bc *Broadcast) *Publisher {
	t.Helper()
	p, err := bc.Publisher(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func bcSubscribe(t testing.TB, bc *Broadcast, from StartAt) *Subscriber {
	t.Helper()
	s, err := bc.Subscribe(from)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// bcMsg fills msg with the pattern of message seq: its sequence, then
// bytes derived from it, so that a torn or misplaced message shows.
func bcMsg(msg []byte, seq uint64) []byte {
	var w [8]byte
	binary.LittleEndian.PutUint64(w[:], seq)
	for i := range msg {
		if i < 8 {
			msg[i] = w[i]
		} else {
			msg[i] = byte(seq) ^ byte(i*7)
		}
	}
	return msg
}

// bcCheck returns the sequence of msg, or an error if it is not intact.
func bcCheck(msg []byte, size int) (uint64, error) {
	if len(msg) != size || size < 8 {
		return 0, fmt.Errorf("message of %d bytes, want %d", len(msg), size)
	}
	seq := binary.LittleEndian.Uint64(msg)
	want := bcMsg(make([]byte, size), seq)
	if string(want) != string(msg) {
		return seq, fmt.Errorf("message %d torn: %x", seq, msg)
	}
	return seq, nil
}

func TestBroadcastEverySubscriberSeesEveryMessage(t *testing.T) {
	bc := newBroadcast(t, nil, BroadcastConfig{SlotSize: 24, Capacity: 8, Subscribers: 4})
	p := bcPublisher(t, bc)
	a, z := bcSubscribe(t, bc, StartNewest), bcSubscribe(t, bc, StartNewest)
	ctx := context.Background()
	for i := range 5 {
		if err := p.Publish(ctx, bcMsg(make([]byte, 9+i), uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	s, ok := p.TryBegin()
	if !ok {
		t.Fatal("TryBegin failed without back-pressure")
	}
	s.Commit(len(bcMsg(s.Bytes()[:16], 5)))
	s, _ = p.TryBegin()
	s.Abort() // skipped by every subscriber
	if p.Published() != 7 || bc.Published() != 7 {
		t.Fatalf("Published = %d, %d, want 7", p.Published(), bc.Published())
	}
	buf := make([]byte, 24)
	for i := range 6 {
		n, err := a.Recv(ctx, buf) // copying form
		if err != nil {
			t.Fatal(err)
		}
		if seq, err := bcCheck(buf[:n], max(9+i, 16*(i/5))); err != nil || seq != uint64(i) {
			t.Fatalf("a: message %d: seq %d, %v", i, seq, err)
		}
		m, err := z.Next(ctx) // in place
		if err != nil {
			t.Fatal(err)
		}
		seq, cerr := bcCheck(m.Bytes(), m.Len())
		if err := m.Done(); err != nil || cerr != nil || seq != uint64(i) || m.Seq() != uint64(i) {
			t.Fatalf("z: message %d: seq %d/%d, %v, %v", i, seq, m.Seq(), cerr, err)
		}
	}
	for _, s := range []*Subscriber{a, z} {
		if _, ok, err := s.TryRecv(buf); ok || err != nil {
			t.Fatalf("TryRecv past the end: %v, %v", ok, err)
		}
		if s.Lag() != 0 || s.Position() != 7 {
			t.Fatalf("lag %d, position %d", s.Lag(), s.Position())
		}
	}
	late := bcSubscribe(t, bc, StartOldest)
	if n, ok, err := late.TryRecv(buf); !ok || err != nil || binary.LittleEndian.Uint64(buf[:n]) != 0 {
		t.Fatalf("a late joiner from the oldest got %v, %v, %x", ok, err, buf[:n])
	}
	if n, err := late.Recv(ctx, buf[:4]); !errors.Is(err, io.ErrShortBuffer) || n != 10 {
		t.Fatalf("Recv into a short buffer: %d, %v", n, err)
	}
	newest := bcSubscribe(t, bc, StartNewest)
	if _, ok, _ := newest.TryRecv(buf); ok {
		t.Fatal("a joiner from the newest got an old message")
	}
}

func TestBroadcastLapped(t *testing.T) {
	const capacity = 4
	bc := newBroadcast(t, nil, BroadcastConfig{SlotSize: 16, Capacity: capacity, Subscribers: 2})
	p := bcPublisher(t, bc)
	s := bcSubscribe(t, bc, StartNewest)
	buf := make([]byte, 16)
	for i := range 10 {
		if !p.TryPublish(bcMsg(buf, uint64(i))) {
			t.Fatal("TryPublish refused without back-pressure")
		}
	}
	// Messages 0..9 published into 4 slots: 6..9 held, 6 the one the
	// publisher overwrites next.
	_, ok, err := s.TryRecv(buf)
	var le *LappedError
	if ok || !errors.Is(err, ErrLapped) || !errors.As(err, &le) || le.Missed != 7 {
		t.Fatalf("TryRecv of a lapped subscriber: %v, %v (%+v)", ok, err, le)
	}
	for want := uint64(7); want < 10; want++ {
		n, ok, err := s.TryRecv(buf)
		if seq, cerr := bcCheck(buf[:n], 16); !ok || err != nil || cerr != nil || seq != want {
			t.Fatalf("after the lap: %v %v %v seq %d want %d", ok, err, cerr, seq, want)
		}
	}
	if s.Missed() != 7 {
		t.Fatalf("Missed = %d", s.Missed())
	}
	// Overwritten while read in place: Done says so, the subscriber moves on.
	p.TryPublish(bcMsg(buf, 10))
	m, ok, err := s.TryNext()
	if !ok || err != nil || m.Seq() != 10 {
		t.Fatalf("TryNext: %v %v", ok, err)
	}
	if _, _, err := s.TryRecv(buf); err == nil {
		t.Fatal("TryRecv while a message from Next is held succeeded")
	}
	for i := 11; i < 11+capacity; i++ {
		p.TryPublish(bcMsg(buf, uint64(i))) // the last one overwrites 10's slot
	}
	if err := m.Done(); !errors.Is(err, ErrLapped) {
		t.Fatalf("Done on a slot overwritten while held: %v", err)
	}
	n, ok, err := s.TryRecv(buf)
	if seq, _ := bcCheck(buf[:n], 16); !ok || err != nil || seq != 12 {
		t.Fatalf("after the torn read: %v %v seq %d", ok, err, seq)
	}
}

func TestBroadcastBackPressure(t *testing.T) {
	const capacity = 4
	bc := newBroadcast(t, nil, BroadcastConfig{SlotSize: 8, Capacity: capacity, Subscribers: 2, BackPressure: true})
	p := bcPublisher(t, bc)
	// With nobody subscribed the publisher never waits.
	for i := range 3 * capacity {
		if !p.TryPublish(bcMsg(make([]byte, 8), uint64(i))) {
			t.Fatalf("TryPublish %d refused with no subscriber", i)
		}
	}
	s := bcSubscribe(t, bc, StartOldest)
	buf := make([]byte, 8)
	next := uint64(3*capacity + 1 - capacity) // oldest held but the one in flight
	if s.Position() != next {
		t.Fatalf("joined at %d, want %d", s.Position(), next)
	}
	pub := 3 * capacity
	for p.TryPublish(bcMsg(make([]byte, 8), uint64(pub))) {
		pub++
	}
	if uint64(pub) != next+capacity {
		t.Fatalf("published up to %d with the subscriber at %d, want %d", pub, next, next+capacity)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Publish(ctx, buf); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish on a full ring: %v", err)
	}
	// A blocked Publish proceeds once the subscriber reads.
	done := make(chan error, 1)
	go func() { done <- p.Publish(context.Background(), bcMsg(make([]byte, 8), uint64(pub))) }()
	time.Sleep(5 * time.Millisecond)
	for want := next; want <= uint64(pub); want++ {
		n, err := s.Recv(context.Background(), buf)
		if seq, cerr := bcCheck(buf[:n], 8); err != nil || cerr != nil || seq != want {
			t.Fatalf("Recv: seq %d want %d: %v %v", seq, want, err, cerr)
		}
		if want == next {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	if s.Missed() != 0 {
		t.Fatalf("a subscriber under back-pressure missed %d", s.Missed())
	}
	// A subscriber that leaves holds nothing back.
	s.Close()
	for range 3 * capacity {
		if !p.TryPublish(buf) {
			t.Fatal("TryPublish refused after the only subscriber left")
		}
	}
}

// TestBroadcastDeadSubscriber: under back-pressure a subscriber whose
// process is judged dead (a dead token in the entry, in a tracked
// mapping) holds the publisher back for about one RingWaitSlice only.
func TestBroadcastDeadSubscriber(t *testing.T) {
	c := BroadcastConfig{SlotSize: 8, Capacity: 2, Subscribers: 2, BackPressure: true}
	b := ringLiveMem(t, BroadcastSize(c))
	bc := newBroadcast(t, b, c)
	dead := ringDeadToken(t, b)
	s := bcSubscribe(t, bc, StartNewest)
	s.e.owner.Store(uint64(dead)<<32 | 1) // as if its process had died
	p := bcPublisher(t, bc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	for i := range 5 {
		if err := p.Publish(ctx, bcMsg(make([]byte, 8), uint64(i))); err != nil {
			t.Fatalf("Publish %d behind a dead subscriber: %v", i, err)
		}
	}
	t.Logf("5 messages past a dead subscriber in %v", time.Since(start))
	if w := s.e.owner.Load(); w != 0 {
		t.Fatalf("dead subscriber's entry still %#x", w)
	}
}

func TestBroadcastPublisherRole(t *testing.T) {
	bc := newBroadcast(t, nil, BroadcastConfig{SlotSize: 8, Capacity: 2, Subscribers: 1})
	p1, err := bc.Publisher(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := bc.Publisher(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Publisher while one holds the role: %v", err)
	}
	got := make(chan *Publisher)
	go func() { p, _ := bc.Publisher(nil); got <- p }()
	p1.TryPublish([]byte("one"))
	time.Sleep(2 * time.Millisecond)
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	p2 := <-got
	if p2 == nil || p2.Published() != 1 {
		t.Fatalf("the next publisher continues at %v", p2)
	}
	if p1.TryPublish([]byte("x")) || p1.Publish(nil, []byte("x")) == nil {
		t.Fatal("a closed Publisher published")
	}
	p2.Close()
}

// TestBroadcastDeadPublisher: a publisher that died mid-message (its
// slot marked being written, tail not moved, the role naming a dead
// token) is taken over at once; subscribers never see its half message.
func TestBroadcastDeadPublisher(t *testing.T) {
	c := BroadcastConfig{SlotSize: 8, Capacity: 4, Subscribers: 1}
	b := ringLiveMem(t, BroadcastSize(c))
	bc := newBroadcast(t, b, c)
	s := bcSubscribe(t, bc, StartNewest)
	p := bcPublisher(t, bc)
	p.TryPublish(bcMsg(make([]byte, 8), 0))
	slot, _ := p.TryBegin()
	copy(slot.Bytes(), "garbage!")
	bc.role.Store(uint64(ringDeadToken(t, b))<<32 | 1) // its process died here
	buf := make([]byte, 8)
	if n, ok, err := s.TryRecv(buf); !ok || err != nil || binary.LittleEndian.Uint64(buf[:n]) != 0 {
		t.Fatalf("message 0: %v %v", ok, err)
	}
	if _, ok, err := s.TryRecv(buf); ok || err != nil {
		t.Fatalf("the half-written message was delivered: %v %v %q", ok, err, buf)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p2, err := bc.Publisher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	p2.TryPublish(bcMsg(make([]byte, 8), 1))
	if n, ok, err := s.TryRecv(buf); !ok || err != nil || binary.LittleEndian.Uint64(buf[:n]) != 1 {
		t.Fatalf("message 1 of the successor: %v %v %x", ok, err, buf[:n])
	}
}

func TestBroadcastSubscriberTable(t *testing.T) {
	bc := newBroadcast(t, nil, BroadcastConfig{SlotSize: 8, Capacity: 2, Subscribers: 2})
	a := bcSubscribe(t, bc, StartNewest)
	bcSubscribe(t, bc, StartNewest)
	if _, err := bc.Subscribe(StartNewest); !errors.Is(err, ErrNoSubscriberSlot) {
		t.Fatalf("third subscriber in a table of 2: %v", err)
	}
	a.Close()
	if _, err := a.Recv(nil, nil); err == nil {
		t.Fatal("Recv after Close succeeded")
	}
	bcSubscribe(t, bc, StartNewest)
}

func TestBroadcastWaits(t *testing.T) {
	bc := newBroadcast(t, nil, BroadcastConfig{SlotSize: 8, Capacity: 2, Subscribers: 1})
	s := bcSubscribe(t, bc, StartNewest)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.Recv(ctx, make([]byte, 8)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Recv: %v", err)
	}
	t.Logf("cancellation noticed after %v", time.Since(start))
	p := bcPublisher(t, bc)
	go func() { m, err := s.Next(nil); done <- errors.Join(err, m.Done()) }()
	time.Sleep(20 * time.Millisecond) // asleep
	p.TryPublish([]byte("wake"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a sleeping Next was not woken by a publish")
	}
}

// TestBroadcastClose: waits on a ring in a MemFile return fs.ErrClosed
// when it is closed, and later calls neither fault nor succeed on zeros.
func TestBroadcastClose(t *testing.T) {
	c := BroadcastConfig{SlotSize: 8, Capacity: 2, Subscribers: 2, BackPressure: true}
	f, err := Create(tempLink(t), LockMutex, BroadcastSize(c))
	if err != nil {
		t.Fatal(err)
	}
	bc := newBroadcast(t, f.Bytes(), c)
	s := bcSubscribe(t, bc, StartNewest)
	p := bcPublisher(t, bc)
	for p.TryPublish([]byte("x")) {
	}
	waiter := bcSubscribe(t, bc, StartNewest) // nothing new for it
	errs := make(chan error, 2)
	go func() { errs <- p.Publish(nil, []byte("y")) }() // held back by s
	go func() { _, err := waiter.Recv(nil, make([]byte, 8)); errs <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, fs.ErrClosed) {
				t.Errorf("wait after Close: %v, want fs.ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a wait survived Close by 10 s")
		}
	}
	if _, err := s.Recv(nil, make([]byte, 8)); err == nil {
		t.Fatal("Recv after Close succeeded")
	}
}

func TestBroadcastHeaderValidation(t *testing.T) {
	c := BroadcastConfig{SlotSize: 40, Capacity: 4, Subscribers: 3, BackPressure: true}
	n := BroadcastSize(c)
	good := bcMem(n)
	if _, err := InitBroadcast(good, c); err != nil {
		t.Fatal(err)
	}
	if bc, err := BroadcastAt(good); err != nil || bc.Config() != c {
		t.Fatalf("BroadcastAt: %v, %+v", err, bc)
	}
	if _, err := InitBroadcast(good, BroadcastConfig{SlotSize: 40, Capacity: 4, Subscribers: 3}); err == nil {
		t.Fatal("InitBroadcast with another policy over a ring succeeded")
	}
	if _, err := BroadcastAt(bcMem(n)); !errors.Is(err, ErrNotReady) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("BroadcastAt on zeros: %v", err)
	}
	if _, err := BroadcastAt(good[:n-1]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("BroadcastAt on short memory: %v", err)
	}
	if _, err := BroadcastAt(good[1:]); err == nil {
		t.Fatal("BroadcastAt on unaligned memory succeeded")
	}
	for _, tc := range []struct {
		off  int
		val  uint32
		want error
		fix  bool // recompute the check, so that the field itself is judged
	}{
		{4, 0x12345678, ErrCorrupt, false},
		{8, 2, ErrVersion, true},
		{12, 0, ErrCorrupt, true},
		{12, 49, ErrCorrupt, true}, // the stride no longer matches
		{16, 3, ErrCorrupt, true},
		{16, 8, ErrCorrupt, true}, // more slots than the memory holds
		{20, 128, ErrCorrupt, true},
		{24, 0, ErrCorrupt, true},
		{28, 2, ErrCorrupt, true},
		{32, 0, ErrCorrupt, true},
		{36, 0, ErrCorrupt, true},
		{40, 1, ErrCorrupt, false},
		{44, 1, ErrCorrupt, true},
		{12, 41, ErrCorrupt, false}, // caught by the check
	} {
		b := bcMem(n)
		copy(b, good)
		binary.NativeEndian.PutUint32(b[tc.off:], tc.val)
		if tc.fix {
			binary.NativeEndian.PutUint32(b[bcCheckOff:], bcChecksum(b))
		}
		if _, err := BroadcastAt(b); !errors.Is(err, tc.want) {
			t.Errorf("offset %d = %d: %v, want %v", tc.off, tc.val, err, tc.want)
		}
	}
	for _, bad := range []BroadcastConfig{
		{SlotSize: 0, Capacity: 2, Subscribers: 1}, {SlotSize: 1, Capacity: 3, Subscribers: 1},
		{SlotSize: 1, Capacity: 2, Subscribers: 0}, {SlotSize: 1, Capacity: 2, Subscribers: 4097},
	} {
		if BroadcastSize(bad) != 0 {
			t.Errorf("BroadcastSize(%+v) != 0", bad)
		}
		if _, err := InitBroadcast(bcMem(1<<16), bad); err == nil {
			t.Errorf("InitBroadcast(%+v) succeeded", bad)
		}
	}
}

// TestBroadcastLayoutOffsets pins the layout table: the same for every
// GOARCH (the test runs under 386 and arm64 in CI too).
func TestBroadcastLayoutOffsets(t *testing.T) {
	if unsafe.Sizeof(bcSlot{}) != bcSlotHdr || unsafe.Sizeof(bcEntry{}) != 24 {
		t.Fatalf("slot header %d, entry %d bytes", unsafe.Sizeof(bcSlot{}), unsafe.Sizeof(bcEntry{}))
	}
	c := BroadcastConfig{SlotSize: 64, Capacity: 8, Subscribers: 4}
	if got, want := BroadcastSize(c), 640+4*128+8*128; got != want {
		t.Fatalf("BroadcastSize = %d, want %d", got, want)
	}
}

// TestBroadcastConcurrent races a publisher goroutine with subscriber
// goroutines (copying forms: the race detector checks the word-atomic
// copies), without and with back-pressure: every message a subscriber
// accepts is intact and in order; with back-pressure none is missed.
func TestBroadcastConcurrent(t *testing.T) {
	for _, bp := range []bool{false, true} {
		t.Run(fmt.Sprintf("backpressure=%v", bp), func(t *testing.T) {
			const size, msgs, subs = 40, 20000, 4
			bc := newBroadcast(t, nil, BroadcastConfig{SlotSize: size, Capacity: 8, Subscribers: subs, BackPressure: bp})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			ready := make(chan struct{}, subs)
			for i := range subs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := bc.Subscribe(StartOldest)
					if err != nil {
						t.Error(err)
						return
					}
					defer s.Close()
					ready <- struct{}{}
					buf := make([]byte, size)
					var last int64 = -1
					for last < msgs-1 {
						var n int
						var err error
						var m BroadcastMsg
						// In place only under back-pressure: a lapped
						// plain read is what the race detector reports.
						if i%2 == 0 || !bp {
							n, err = s.Recv(ctx, buf)
						} else if m, err = s.Next(ctx); err == nil {
							n = copy(buf, m.Bytes())
							err = m.Done()
						}
						if errors.Is(err, ErrLapped) {
							if bp {
								t.Errorf("lapped under back-pressure: %v", err)
								return
							}
							continue
						}
						if err != nil {
							t.Error(err)
							return
						}
						seq, err := bcCheck(buf[:n], size)
						if err != nil {
							t.Error(err)
							return
						}
						if int64(seq) <= last || (bp && int64(seq) != last+1) {
							t.Errorf("message %d after %d", seq, last)
							return
						}
						last = int64(seq)
					}
				}()
			}
			for range subs {
				<-ready
			}
			p := bcPublisher(t, bc)
			msg := make([]byte, size)
			for i := range msgs {
				if err := p.Publish(ctx, bcMsg(msg, uint64(i))); err != nil {
					t.Fatal(err)
				}
				if i%64 == 0 {
					time.Sleep(time.Microsecond) // let lapped ones catch up now and then
				}
			}
			wg.Wait()
		})
	}
}

// TestBroadcastHotPathAllocs: publishing, and receiving while keeping up,
// allocate nothing (the benchmarks below show the same with ReportAllocs;
// this makes it a failing test).
func TestBroadcastHotPathAllocs(t *testing.T) {
	for _, bp := range []bool{false, true} {
		bc := newBroadcast(t, nil, BroadcastConfig{SlotSize: 64, Capacity: 64, Subscribers: 2, BackPressure: bp})
		p := bcPublisher(t, bc)
		s := bcSubscribe(t, bc, StartNewest)
		msg, buf := make([]byte, 64), make([]byte, 64)
		ctx := context.Background()
		allocs := testing.AllocsPerRun(1000, func() {
			if err := p.Publish(ctx, msg); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Recv(ctx, buf); err != nil {
				t.Fatal(err)
			}
			sl, _ := p.TryBegin()
			sl.Commit(8)
			m, _, _ := s.TryNext()
			m.Done()
			// Lapping allocates nothing either.
			for range 70 {
				p.TryPublish(msg)
			}
			s.TryRecv(buf)
			for s.Lag() > 0 {
				s.TryRecv(buf)
			}
		})
		if allocs != 0 {
			t.Errorf("backpressure=%v: %v allocations per round", bp, allocs)
		}
	}
}

func BenchmarkBroadcastPublish(b *testing.B) {
	for _, bp := range []bool{false, true} {
		b.Run(fmt.Sprintf("backpressure=%v", bp), func(b *testing.B) {
			bc := newBroadcast(b, nil, BroadcastConfig{SlotSize: 64, Capacity: 1024, Subscribers: 4, BackPressure: bp})
			p := bcPublisher(b, bc)
			msg := make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				p.TryPublish(msg) // nobody subscribed: never refused
			}
		})
	}
}

// BenchmarkBroadcastRoundKeepingUp publishes one 64 B message and
// receives it with each of 4 subscribers (one goroutine, so every
// subscriber keeps up): the no-syscall, no-allocation path end to end.
func BenchmarkBroadcastRoundKeepingUp(b *testing.B) {
	for _, bp := range []bool{false, true} {
		b.Run(fmt.Sprintf("backpressure=%v", bp), func(b *testing.B) {
			bc := newBroadcast(b, nil, BroadcastConfig{SlotSize: 64, Capacity: 1024, Subscribers: 4, BackPressure: bp})
			p := bcPublisher(b, bc)
			var subs []*Subscriber
			for range 4 {
				subs = append(subs, bcSubscribe(b, bc, StartNewest))
			}
			msg, buf := make([]byte, 64), make([]byte, 64)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				p.Publish(ctx, msg)
				for _, s := range subs {
					if _, err := s.Recv(ctx, buf); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkBroadcastNextInPlace is the zero-copy receive.
func BenchmarkBroadcastNextInPlace(b *testing.B) {
	bc := newBroadcast(b, nil, BroadcastConfig{SlotSize: 64, Capacity: 1024, Subscribers: 1})
	p := bcPublisher(b, bc)
	s := bcSubscribe(b, bc, StartNewest)
	msg := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		sl, _ := p.TryBegin()
		copy(sl.Bytes(), msg)
		sl.Commit(64)
		m, _, _ := s.TryNext()
		_ = m.Bytes()[63]
		m.Done()
	}
}

// TestBroadcastGarbageTail: a tail no sound ring reaches (another
// process wrote garbage) is refused by Subscribe and Publisher with
// ErrCorrupt instead of wrapping their arithmetic (the joiner's loop of
// a back-pressure ring never ended on a tail near 2^64).
func TestBroadcastGarbageTail(t *testing.T) {
	bc := newBroadcast(t, nil, BroadcastConfig{SlotSize: 8, Capacity: 4, Subscribers: 1, BackPressure: true})
	bc.tail.Store(^uint64(0))
	if _, err := bc.Subscribe(StartNewest); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Subscribe on a garbage tail: %v", err)
	}
	if _, err := bc.Publisher(nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Publisher on a garbage tail: %v", err)
	}
}

// TestBroadcastJoinUnderBackPressure: a publisher whose cached bound
// was computed before a subscriber joined (every cursor caught up, so
// the bound allows a whole lap) must not overwrite the joiner's first
// message: the join counter makes it rescan. Deterministic, one
// goroutine; the joiner starts at the oldest message.
func TestBroadcastJoinUnderBackPressure(t *testing.T) {
	const capacity = 4
	bc := newBroadcast(t, nil, BroadcastConfig{SlotSize: 8, Capacity: capacity, Subscribers: 2, BackPressure: true})
	p := bcPublisher(t, bc)
	a := bcSubscribe(t, bc, StartNewest)
	buf := make([]byte, 8)
	for i := range 2 * capacity {
		if err := p.Publish(context.Background(), bcMsg(buf, uint64(i))); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Recv(nil, buf); err != nil {
			t.Fatal(err)
		}
	}
	// a is caught up at 8; the publisher may write 8..11 by its bound.
	p.TryPublish(bcMsg(buf, 8))
	a.Recv(nil, buf) // caught up again: the bound now allows 9..12
	z := bcSubscribe(t, bc, StartOldest)
	first := z.Position() // 9+1-4 = 6
	if first != 9+1-capacity {
		t.Fatalf("joined at %d", first)
	}
	sent := 9
	for p.TryPublish(bcMsg(buf, uint64(sent))) {
		sent++
	}
	if sent != int(first)+capacity {
		t.Fatalf("published up to %d with a joiner at %d: want %d", sent, first, int(first)+capacity)
	}
	for want := first; want < uint64(sent); want++ {
		n, ok, err := z.TryRecv(buf)
		if seq, cerr := bcCheck(buf[:n], 8); !ok || err != nil || cerr != nil || seq != want {
			t.Fatalf("joiner's message %d: %v %v %v seq %d", want, ok, err, cerr, seq)
		}
	}
}
