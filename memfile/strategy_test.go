package memfile

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/testproc"
)

func TestWaitStrategyOf(t *testing.T) {
	if s := WaitStrategyOf(nil); s != Backoff {
		t.Errorf("nil ctx: %v", s)
	}
	if s := WaitStrategyOf(context.Background()); s != Backoff {
		t.Errorf("Background: %v", s)
	}
	for _, s := range []WaitStrategy{Backoff, BusySpin, Block} {
		ctx := WithWaitStrategy(nil, s)
		if got := WaitStrategyOf(ctx); got != s {
			t.Errorf("WithWaitStrategy(%v): %v", s, got)
		}
		inner, cancel := context.WithCancel(ctx)
		if got := WaitStrategyOf(inner); got != s {
			t.Errorf("a child of WithWaitStrategy(%v): %v", s, got)
		}
		cancel()
	}
	if got := WaitStrategyOf(WithWaitStrategy(nil, 7)); got != Backoff {
		t.Errorf("an unknown strategy: %v, want the default", got)
	}
	for s, want := range map[WaitStrategy]string{Backoff: "backoff", BusySpin: "busy-spin", Block: "block", 9: "WaitStrategy(9)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
}

// TestBusySpinRegistersNothing: a BusySpin waiter of an Event, a Cond, a
// Ring and a Broadcast (subscriber, and publisher held back) counts
// itself nowhere (so the signalling side makes no system
// call), is released by the signal, and returns ctx's error when ctx is
// done.
func TestBusySpinRegistersNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(WithWaitStrategy(context.Background(), BusySpin), testproc.Scale(10*time.Second))
	defer cancel()
	spinning := func() { time.Sleep(20 * time.Millisecond) } // well past any spin phase

	var e Event
	done := make(chan error, 1)
	go func() { done <- e.Wait(ctx) }()
	spinning()
	if n := e.waiters.n(); n != 0 {
		t.Errorf("a BusySpin Event waiter registered: %d", n)
	}
	e.Set()
	if err := <-done; err != nil {
		t.Fatalf("Event.Wait: %v", err)
	}

	var m Mutex
	var c Cond
	go func() {
		m.Lock()
		err := c.Wait(ctx, &m)
		m.Unlock()
		done <- err
	}()
	spinning()
	if n := c.waiters.n(); n != 0 {
		t.Errorf("a BusySpin Cond waiter registered: %d", n)
	}
	c.Signal()
	if err := <-done; err != nil {
		t.Fatalf("Cond.Wait: %v", err)
	}

	r := newLiveRing(t, 64, 4)
	buf := make([]byte, 64)
	go func() { _, err := r.Recv(ctx, buf); done <- err }()
	spinning()
	if ep := r.recvEpoch.Load(); ep&ringSleeper != 0 {
		t.Errorf("a BusySpin Ring receiver set the sleeper bit: %#x", ep)
	}
	if err := r.Send(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Ring.Recv: %v", err)
	}

	cfg := BroadcastConfig{SlotSize: 64, Capacity: 4, Subscribers: 2, BackPressure: true}
	bc, err := InitBroadcast(ringLiveMem(t, BroadcastSize(cfg)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := bc.Publisher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := bc.Subscribe(StartNewest)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, err := sub.Recv(ctx, buf); done <- err }()
	spinning()
	if ep := bc.subEpoch.Load(); ep&ringSleeper != 0 {
		t.Errorf("a BusySpin Broadcast subscriber set the sleeper bit: %#x", ep)
	}
	if err := pub.Publish(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Subscriber.Recv: %v", err)
	}
	// Back-pressure: the publisher fills the ring, then polls for room
	// until the subscriber reads.
	for range 4 {
		if err := pub.Publish(ctx, []byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	go func() { done <- pub.Publish(ctx, []byte("z")) }()
	spinning()
	if ep := bc.pubEpoch.Load(); ep&ringSleeper != 0 {
		t.Errorf("a BusySpin Broadcast publisher set the sleeper bit: %#x", ep)
	}
	for range 5 {
		if _, err := sub.Recv(ctx, buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("a held-back BusySpin Publish: %v", err)
	}
	sub.Close()
	pub.Close()

	short, cancelShort := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancelShort()
	var idle Event
	if err := idle.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a BusySpin Wait past its deadline: %v", err)
	}
	var s Semaphore
	if err := s.Acquire(short, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a BusySpin Acquire past its deadline: %v", err)
	}
	if s.Waiters() != 0 {
		t.Fatalf("the cancelled BusySpin Acquire left %d waiters", s.Waiters())
	}
}

// TestWaitStrategiesProcesses: under each strategy, a child process and
// this one play ping-pong through two Events, through two Rings, and
// pass Semaphore units back and forth: every hand-off arrives, across
// processes, and the waiter's strategy does not matter to the other
// side.
func TestWaitStrategiesProcesses(t *testing.T) {
	const (
		pingOff, pongOff, semAOff, semBOff, ringAOff = 0, 64, 128, 640, 1152
		slot, capacity                               = 64, 4
	)
	ringBOff := ringAOff + RingSize(slot, capacity)
	size := ringBOff + RingSize(slot, capacity)
	rounds := 2000
	if testproc.IsEmulated() {
		rounds = 200
	}
	type objs struct {
		ping, pong *Event
		semA, semB *Semaphore
		ringA      *Ring // parent to child
		ringB      *Ring // child to parent
	}
	open := func(b []byte, init bool) objs {
		var o objs
		var err error
		o.ping, _ = EventAt(b[pingOff:])
		o.pong, _ = EventAt(b[pongOff:])
		if o.semA, err = SemaphoreAt(b[semAOff:]); err != nil {
			t.Fatal(err)
		}
		if o.semB, err = SemaphoreAt(b[semBOff:]); err != nil {
			t.Fatal(err)
		}
		at := RingAt
		if init {
			at = func(b []byte) (*Ring, error) { return InitRing(b, slot, capacity) }
		}
		if o.ringA, err = at(b[ringAOff:]); err != nil {
			t.Fatal(err)
		}
		if o.ringB, err = at(b[ringBOff:]); err != nil {
			t.Fatal(err)
		}
		return o
	}
	// play is one side: the parent leads (sends first), the child echoes.
	play := func(t *testing.T, o objs, ctx context.Context, lead bool) {
		buf := make([]byte, slot)
		out, in := o.ringA, o.ringB
		set, wait := o.ping, o.pong
		give, take := o.semA, o.semB
		if !lead {
			out, in, set, wait, give, take = in, out, wait, set, take, give
		}
		for i := range rounds {
			if !lead {
				if err := wait.Wait(ctx); err != nil {
					t.Fatalf("round %d: Event.Wait: %v", i, err)
				}
			}
			set.Set()
			if lead {
				if err := wait.Wait(ctx); err != nil {
					t.Fatalf("round %d: Event.Wait: %v", i, err)
				}
			}
			msg := strconv.AppendInt(buf[:0], int64(i), 10)
			if lead {
				if err := out.Send(ctx, msg); err != nil {
					t.Fatalf("round %d: Send: %v", i, err)
				}
			}
			n, err := in.Recv(ctx, buf)
			if err != nil {
				t.Fatalf("round %d: Recv: %v", i, err)
			}
			if got, _ := strconv.Atoi(string(buf[:n])); got != i {
				t.Fatalf("round %d: received %q", i, buf[:n])
			}
			if !lead {
				if err := out.Send(ctx, buf[:n]); err != nil {
					t.Fatalf("round %d: Send: %v", i, err)
				}
			}
			give.Release(1)
			if err := take.Acquire(ctx, 1); err != nil {
				t.Fatalf("round %d: Acquire: %v", i, err)
			}
		}
	}
	if testproc.Role() == "echo" {
		s, _ := strconv.Atoi(os.Getenv(envRingArg))
		ctx := WithWaitStrategy(testproc.Context(t, 60*time.Second), WaitStrategy(s))
		play(t, open(ringChildMem(t), false), ctx, false)
		return
	}
	for _, strat := range []WaitStrategy{Backoff, BusySpin, Block} {
		t.Run(strat.String(), func(t *testing.T) {
			b, env := ringShared(t, size)
			o := open(b, true)
			child := ringStart(t, "TestWaitStrategiesProcesses", "echo", env, int(strat))
			ctx, cancel := context.WithTimeout(WithWaitStrategy(context.Background(), strat), testproc.Scale(60*time.Second))
			defer cancel()
			t0 := time.Now()
			play(t, o, ctx, true)
			child.wait(t)
			t.Logf("%d rounds of Event, Ring and Semaphore hand-offs in %v", rounds, time.Since(t0))
		})
	}
}
