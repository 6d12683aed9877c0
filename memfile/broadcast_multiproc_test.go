package memfile

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/testproc"
	sw "github.com/shmx/shmx/internal/word"
)

// Layout of the multi-process broadcast tests' file: 64 flag words (one
// per child: 1 joined, 2 done), then the ring at bcmpRing.
const (
	bcmpFlags = 0
	bcmpRing  = 512
)

func bcmpFlag(b []byte, i int) *sw.Uint32 { return ringWord32(b, bcmpFlags+4*i) }

// bcmpWaitFlag waits until flag i of b reaches v.
func bcmpWaitFlag(t *testing.T, ctx context.Context, b []byte, i int, v uint32) {
	t.Helper()
	for bcmpFlag(b, i).Load() < v {
		if ctx.Err() != nil {
			t.Fatalf("child %d never reached state %d", i, v)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBroadcastProcesses publishes numbered messages from this process to
// 4 subscriber processes, with and without back-pressure. Every message a
// child accepts is intact and in order; with back-pressure each child
// accepts every one (none lapped), without it each accepts the last.
func TestBroadcastProcesses(t *testing.T) {
	const size, subs = 48, 4
	msgs := 200000
	if testproc.IsEmulated() || testing.Short() {
		msgs = 5000
	}
	if r := testproc.Role(); r == "bc-sub" || r == "bc-sub-bp" {
		bcmpSubscriber(t, ringArg(t), msgs, size, r == "bc-sub-bp")
		return
	}
	for _, bp := range []bool{false, true} {
		t.Run(fmt.Sprintf("backpressure=%v", bp), func(t *testing.T) {
			c := BroadcastConfig{SlotSize: size, Capacity: 256, Subscribers: subs, BackPressure: bp}
			b, env := ringShared(t, bcmpRing+BroadcastSize(c))
			bc := newBroadcast(t, b[bcmpRing:], c)
			role := "bc-sub"
			if bp {
				role = "bc-sub-bp"
			}
			ctx := testproc.Context(t, 100*time.Second)
			var kids []*testprocCmd
			for i := range subs {
				kids = append(kids, ringStart(t, "TestBroadcastProcesses", role, env, i))
			}
			for i := range subs {
				bcmpWaitFlag(t, ctx, b, i, 1)
			}
			p := bcPublisher(t, bc)
			msg := make([]byte, size)
			start := time.Now()
			for i := range msgs {
				if err := p.Publish(ctx, bcMsg(msg, uint64(i))); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range kids {
				k.wait(t)
			}
			t.Logf("%d messages to %d processes in %v", msgs, subs, time.Since(start))
		})
	}
}

func bcmpSubscriber(t *testing.T, id, msgs, size int, bp bool) {
	b := ringChildMem(t)
	bc, err := BroadcastAt(b[bcmpRing:])
	if err != nil {
		t.Fatal(err)
	}
	s, err := bc.Subscribe(StartNewest)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bcmpFlag(b, id).Store(1)
	ctx := testproc.Context(t, 100*time.Second)
	buf := make([]byte, size)
	last, lapped := int64(-1), 0
	for k := 0; last < int64(msgs-1); k++ {
		var n int
		if k%2 == 0 {
			n, err = s.Recv(ctx, buf)
		} else {
			var m BroadcastMsg
			if m, err = s.Next(ctx); err == nil {
				n = copy(buf, m.Bytes())
				err = m.Done()
			}
		}
		if errors.Is(err, ErrLapped) {
			if bp {
				t.Fatalf("lapped under back-pressure after %d: %v", last, err)
			}
			lapped++
			continue
		}
		if err != nil {
			t.Fatalf("after %d: %v", last, err)
		}
		seq, err := bcCheck(buf[:n], size)
		if err != nil {
			t.Fatal(err)
		}
		if int64(seq) <= last || bp && int64(seq) != last+1 {
			t.Fatalf("message %d after %d", seq, last)
		}
		last = int64(seq)
	}
	if bp && s.Missed() != 0 {
		t.Fatalf("missed %d under back-pressure", s.Missed())
	}
	bcmpFlag(b, id).Store(2)
}

// TestBroadcastKilledSubscriber: under back-pressure, two subscriber
// processes join and stop reading; one is SIGKILLed. The publisher, held
// back by both, goes on once the live one reads again and never waits
// for the dead one for more than a few RingWaitSlices.
func TestBroadcastKilledSubscriber(t *testing.T) {
	const capacity = 8
	c := BroadcastConfig{SlotSize: 16, Capacity: capacity, Subscribers: 4, BackPressure: true}
	switch testproc.Role() {
	case "bc-stall", "bc-resume":
		id := ringArg(t)
		b := ringChildMem(t)
		bc, err := BroadcastAt(b[bcmpRing:])
		if err != nil {
			t.Fatal(err)
		}
		s, err := bc.Subscribe(StartNewest)
		if err != nil {
			t.Fatal(err)
		}
		bcmpFlag(b, id).Store(1)
		ctx := testproc.Context(t, 60*time.Second)
		if testproc.Role() == "bc-stall" {
			<-ctx.Done() // holds the publisher back until killed
			t.Fatal("not killed")
		}
		// Wait until the publisher is held back by this subscriber and
		// the other, then read everything.
		for bc.Published() < capacity {
			time.Sleep(time.Millisecond)
		}
		buf := make([]byte, 16)
		for want := uint64(0); want < 4*capacity; want++ {
			n, err := s.Recv(ctx, buf)
			if seq, cerr := bcCheck(buf[:n], 16); err != nil || cerr != nil || seq != want {
				t.Fatalf("message %d: seq %d, %v, %v", want, seq, err, cerr)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		bcmpFlag(b, id).Store(2)
		return
	}
	b, env := ringShared(t, bcmpRing+BroadcastSize(c))
	bc := newBroadcast(t, b[bcmpRing:], c)
	ctx := testproc.Context(t, 60*time.Second)
	stall := testproc.Command(t, "TestBroadcastKilledSubscriber", "bc-stall", append(env, envRingArg+"=0")...)
	if err := stall.Start(); err != nil {
		t.Fatal(err)
	}
	bcmpWaitFlag(t, ctx, b, 0, 1)
	resume := ringStart(t, "TestBroadcastKilledSubscriber", "bc-resume", env, 1)
	bcmpWaitFlag(t, ctx, b, 1, 1)
	p := bcPublisher(t, bc)
	msg := make([]byte, 16)
	for i := range capacity {
		if !p.TryPublish(bcMsg(msg, uint64(i))) {
			t.Fatalf("TryPublish %d refused below capacity", i)
		}
	}
	if p.TryPublish(msg) {
		t.Fatal("TryPublish past the capacity with two subscribers at 0")
	}
	stall.Process.Kill()
	stall.Wait()
	start := time.Now()
	for i := capacity; i < 4*capacity; i++ {
		if err := p.Publish(ctx, bcMsg(msg, uint64(i))); err != nil {
			t.Fatalf("Publish %d with a subscriber SIGKILLed: %v", i, err)
		}
	}
	t.Logf("past the killed subscriber in %v", time.Since(start))
	resume.wait(t)
	n := 0
	for i := range c.Subscribers {
		if bc.entry(i).owner.Load() != 0 {
			n++
		}
	}
	if n != 0 {
		t.Fatalf("%d subscriber entries still held (the dead one's freed, the live one's closed)", n)
	}
}

// TestBroadcastKilledPublisher: a publisher process publishes two
// messages, begins a third in place and is SIGKILLed holding it. A
// subscriber here gets the two messages, never the half-written one; a
// Publisher here takes the dead one's role at once and its message is
// the next one delivered.
func TestBroadcastKilledPublisher(t *testing.T) {
	c := BroadcastConfig{SlotSize: 16, Capacity: 4, Subscribers: 2}
	if testproc.Role() == "bc-pub" {
		b := ringChildMem(t)
		bc, err := BroadcastAt(b[bcmpRing:])
		if err != nil {
			t.Fatal(err)
		}
		ctx := testproc.Context(t, 60*time.Second)
		p, err := bc.Publisher(ctx)
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, 16)
		p.TryPublish(bcMsg(msg, 0))
		p.TryPublish(bcMsg(msg, 1))
		s, _ := p.TryBegin()
		copy(s.Bytes(), "half-written....")
		bcmpFlag(b, 0).Store(1)
		<-ctx.Done()
		t.Fatal("not killed")
	}
	b, env := ringShared(t, bcmpRing+BroadcastSize(c))
	bc := newBroadcast(t, b[bcmpRing:], c)
	s := bcSubscribe(t, bc, StartNewest)
	ctx := testproc.Context(t, 60*time.Second)
	cmd := testproc.Command(t, "TestBroadcastKilledPublisher", "bc-pub", env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	bcmpWaitFlag(t, ctx, b, 0, 1)
	cmd.Process.Kill()
	cmd.Wait()
	buf := make([]byte, 16)
	for want := range uint64(2) {
		n, err := s.Recv(ctx, buf)
		if seq, cerr := bcCheck(buf[:n], 16); err != nil || cerr != nil || seq != want {
			t.Fatalf("message %d: %d %v %v", want, seq, err, cerr)
		}
	}
	if _, ok, err := s.TryRecv(buf); ok || err != nil {
		t.Fatalf("after the dead publisher's half message: %v, %v, %q", ok, err, buf)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	p, err := bc.Publisher(pctx)
	if err != nil {
		t.Fatalf("taking a SIGKILLed publisher's role: %v", err)
	}
	t.Logf("role taken over in %v", time.Since(start))
	defer p.Close()
	if err := p.Publish(ctx, bcMsg(make([]byte, 16), 2)); err != nil {
		t.Fatal(err)
	}
	n, err := s.Recv(ctx, buf)
	if seq, cerr := bcCheck(buf[:n], 16); err != nil || cerr != nil || seq != 2 {
		t.Fatalf("the successor's message: %d %v %v", seq, err, cerr)
	}
}
