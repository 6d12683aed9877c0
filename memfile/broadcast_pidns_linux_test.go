package memfile

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/testproc"
)

// The Broadcast across pid namespaces: subscribers and a publisher that
// are each pid 1 of their own namespace (the containers of one pod). A
// SIGKILLed subscriber with pid 1 holds a back-pressure publisher back
// about one RingWaitSlice, while a live subscriber that also has pid 1
// is waited for and loses nothing; a SIGKILLed publisher with pid 1 is
// taken over at once. Pids never decide: tokens and the kernel's locks
// do (see Ring).

const (
	envBcNSLink = "SHMX_BCNS_LINK"
	envBcNSID   = "SHMX_BCNS_ID"
	bcNSMsgs    = 64
)

var bcNSConfig = BroadcastConfig{SlotSize: 16, Capacity: 8, Subscribers: 4, BackPressure: true}

// TestBroadcastPidNSHelper is the child of the pid-namespace tests: it
// opens the segment and plays its role; flag id in the first words of
// the data says how far it got (1 joined, 2 done), and it records the pid
// it sees at word 16+id.
func TestBroadcastPidNSHelper(t *testing.T) {
	role := testproc.Role()
	if role == "" {
		t.Skip("helper process for the broadcast pid-namespace tests")
	}
	f, err := Open(os.Getenv(envBcNSLink))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id, _ := strconv.Atoi(os.Getenv(envBcNSID))
	b := f.Bytes()
	bc, err := BroadcastAt(b[bcmpRing:])
	if err != nil {
		t.Fatal(err)
	}
	bcmpFlag(b, 16+id).Store(uint32(os.Getpid()))
	ctx := testproc.Context(t, 60*time.Second)
	switch role {
	case "bcns-stall":
		if _, err := bc.Subscribe(StartNewest); err != nil {
			t.Fatal(err)
		}
		bcmpFlag(b, id).Store(1)
		<-ctx.Done() // never reads; killed
		t.Fatal("not killed")
	case "bcns-read":
		s, err := bc.Subscribe(StartNewest)
		if err != nil {
			t.Fatal(err)
		}
		bcmpFlag(b, id).Store(1)
		for bc.Published() < uint64(bcNSConfig.Capacity) { // let the publisher be held back by it too
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		buf := make([]byte, 16)
		for want := uint64(0); want < bcNSMsgs; want++ {
			n, err := s.Recv(ctx, buf)
			if seq, cerr := bcCheck(buf[:n], 16); err != nil || cerr != nil || seq != want {
				t.Fatalf("message %d: seq %d, %v, %v", want, seq, err, cerr)
			}
		}
		s.Close()
		bcmpFlag(b, id).Store(2)
		<-ctx.Done() // stays alive (a live pid 1) until the parent ends it
	case "bcns-pub":
		p, err := bc.Publisher(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p.TryPublish(bcMsg(make([]byte, 16), 0))
		sl, _ := p.TryBegin()
		copy(sl.Bytes(), "half-written....")
		bcmpFlag(b, id).Store(1)
		<-ctx.Done()
		t.Fatal("not killed")
	}
}

func bcNSCreate(t *testing.T) (*MemFile, string, *Broadcast) {
	t.Helper()
	f, link := nsCreateSize(t, bcmpRing+BroadcastSize(bcNSConfig))
	bc, err := InitBroadcast(f.Bytes()[bcmpRing:], bcNSConfig)
	if err != nil {
		t.Fatal(err)
	}
	return f, link, bc
}

func bcNSChild(t *testing.T, link, role string, id int) interface {
	Wait() error
} {
	t.Helper()
	cmd := testproc.CommandInPidNS(t, "TestBroadcastPidNSHelper", role, false, envBcNSLink+"="+link, envBcNSID+"="+strconv.Itoa(id))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testproc.KillPidNS(cmd) })
	return cmd
}

func TestBroadcastPidNSSubscribers(t *testing.T) {
	testproc.RequirePidNS(t, false)
	f, link, bc := bcNSCreate(t)
	b := f.Bytes()
	ctx := testproc.Context(t, 60*time.Second)
	stall := testproc.CommandInPidNS(t, "TestBroadcastPidNSHelper", "bcns-stall", false, envBcNSLink+"="+link, envBcNSID+"=0")
	if err := stall.Start(); err != nil {
		t.Fatal(err)
	}
	bcNSChild(t, link, "bcns-read", 1)
	bcmpWaitFlag(t, ctx, b, 0, 1)
	bcmpWaitFlag(t, ctx, b, 1, 1)
	for i := range 2 {
		if pid := bcmpFlag(b, 16+i).Load(); pid != 1 {
			t.Fatalf("child %d has pid %d, want 1 (a new pid namespace)", i, pid)
		}
	}
	p := bcPublisher(t, bc)
	msg := make([]byte, 16)
	for i := range bcNSConfig.Capacity {
		if !p.TryPublish(bcMsg(msg, uint64(i))) {
			t.Fatalf("TryPublish %d refused", i)
		}
	}
	if p.TryPublish(msg) {
		t.Fatal("published past two subscribers that read nothing")
	}
	if err := testproc.KillPidNS(stall); err != nil {
		t.Fatal(err)
	}
	stall.Wait()
	start := time.Now()
	for i := bcNSConfig.Capacity; i < bcNSMsgs; i++ {
		if err := p.Publish(ctx, bcMsg(msg, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d messages past a SIGKILLed pid-1 subscriber, to a live pid-1 one, in %v", bcNSMsgs-bcNSConfig.Capacity, time.Since(start))
	bcmpWaitFlag(t, ctx, b, 1, 2) // every message, none lapped (it checks)
}

func TestBroadcastPidNSPublisher(t *testing.T) {
	testproc.RequirePidNS(t, false)
	f, link, bc := bcNSCreate(t)
	b := f.Bytes()
	s := bcSubscribe(t, bc, StartNewest)
	ctx := testproc.Context(t, 60*time.Second)
	pub := testproc.CommandInPidNS(t, "TestBroadcastPidNSHelper", "bcns-pub", false, envBcNSLink+"="+link, envBcNSID+"=0")
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	bcmpWaitFlag(t, ctx, b, 0, 1)
	pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := bc.Publisher(pctx); err == nil {
		t.Fatal("took the role of a live publisher in another pid namespace")
	}
	if err := testproc.KillPidNS(pub); err != nil {
		t.Fatal(err)
	}
	pub.Wait()
	p := bcPublisher(t, bc)
	p.TryPublish(bcMsg(make([]byte, 16), 1))
	buf := make([]byte, 16)
	for want := range uint64(2) {
		n, err := s.Recv(ctx, buf)
		if seq, cerr := bcCheck(buf[:n], 16); err != nil || cerr != nil || seq != want {
			t.Fatalf("message %d: seq %d, %v, %v", want, seq, err, cerr)
		}
	}
}

// nsCreateSize is nsCreate with room for size bytes of data.
func nsCreateSize(t *testing.T, size int) (*MemFile, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "shmx-bcns-")
	if err != nil {
		t.Fatal(err)
	}
	link := dir + "/seg.link"
	f, err := Create(link, LockNone, size)
	if err != nil {
		os.Remove(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		os.Remove(link)
		os.Remove(dir)
	})
	return f, link
}
