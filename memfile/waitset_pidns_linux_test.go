package memfile

import (
	"encoding/binary"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/testproc"
)

// The WaitSet across pid namespaces: a producer that is pid 1 of its
// namespace claims a Ring slot and is SIGKILLed; another producer, also
// pid 1 of its own namespace, then sends numbered messages and sets an
// event. The parent, selecting only on its WaitSet, must get every
// message in order and the event: the set repairs the dead claim (its
// token's kernel lock is gone) and never takes the live pid 1 for the
// dead one. Pids never decide.

const (
	envWsNSLink = "SHMX_WSNS_LINK"
	envWsNSID   = "SHMX_WSNS_ID"
	wsNSMsgs    = 200
	wsNSRing    = 512 // offset of the ring in the data; flags before it
)

func wsNSLayout() (ringEnd, evOff, size int) {
	ringEnd = wsNSRing + RingSize(waitRigSlot, waitRigCap)
	evOff = (ringEnd + 63) &^ 63
	return ringEnd, evOff, evOff + 64
}

// TestWaitSetPidNSHelper is the child of TestWaitSetPidNS.
func TestWaitSetPidNSHelper(t *testing.T) {
	role := testproc.Role()
	if role == "" {
		t.Skip("helper process for TestWaitSetPidNS")
	}
	f, err := Open(os.Getenv(envWsNSLink))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id, _ := strconv.Atoi(os.Getenv(envWsNSID))
	b := f.Bytes()
	ringEnd, evOff, _ := wsNSLayout()
	r, err := RingAt(b[wsNSRing:ringEnd])
	if err != nil {
		t.Fatal(err)
	}
	ev, err := EventAt(b[evOff:])
	if err != nil {
		t.Fatal(err)
	}
	bcmpFlag(b, 16+id).Store(uint32(os.Getpid()))
	ctx := testproc.Context(t, 60*time.Second)
	switch role {
	case "wsns-claim":
		s, err := r.BeginSend(ctx)
		if err != nil {
			t.Fatal(err)
		}
		copy(s.Bytes(), "half-written")
		bcmpFlag(b, id).Store(1)
		<-ctx.Done()
		t.Fatal("not killed")
	case "wsns-send":
		var m [8]byte
		for i := range wsNSMsgs {
			binary.LittleEndian.PutUint64(m[:], uint64(i))
			if err := r.Send(ctx, m[:]); err != nil {
				t.Fatal(err)
			}
		}
		ev.Set()
		bcmpFlag(b, id).Store(2)
		<-ctx.Done() // stays alive (a live pid 1) until the parent ends it
	}
}

func TestWaitSetPidNS(t *testing.T) {
	testproc.RequirePidNS(t, false)
	ringEnd, evOff, size := wsNSLayout()
	f, link := nsCreateSize(t, size)
	b := f.Bytes()
	r, err := InitRing(b[wsNSRing:ringEnd], waitRigSlot, waitRigCap)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := InitEvent(b[evOff:], AutoReset)
	if err != nil {
		t.Fatal(err)
	}
	ws := NewWaitSet()
	defer ws.Close()
	rw, _ := ws.AddRecv(r)
	ew, _ := ws.AddEvent(ev)
	ctx := testproc.Context(t, 60*time.Second)
	env := func(id int) []string { return []string{envWsNSLink + "=" + link, envWsNSID + "=" + strconv.Itoa(id)} }
	claim := testproc.CommandInPidNS(t, "TestWaitSetPidNSHelper", "wsns-claim", false, env(0)...)
	if err := claim.Start(); err != nil {
		t.Fatal(err)
	}
	bcmpWaitFlag(t, ctx, b, 0, 1)
	if err := testproc.KillPidNS(claim); err != nil {
		t.Fatal(err)
	}
	claim.Wait()
	killed := time.Now()
	send := testproc.CommandInPidNS(t, "TestWaitSetPidNSHelper", "wsns-send", false, env(1)...)
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testproc.KillPidNS(send) })
	got, set := 0, false
	var first time.Duration
	buf := make([]byte, waitRigSlot)
	for !set || got < wsNSMsgs {
		select {
		case <-rw.C:
			for {
				n, ok := r.TryRecv(buf)
				if !ok {
					break
				}
				if v := binary.LittleEndian.Uint64(buf[:n]); n != 8 || v != uint64(got) {
					t.Fatalf("message %d arrived as %x", got, buf[:n])
				}
				if got == 0 {
					first = time.Since(killed)
				}
				got++
			}
		case <-ew.C:
			set = set || ev.TryWait()
		case <-ctx.Done():
			t.Fatalf("timed out with %d of %d messages, event %v", got, wsNSMsgs, set)
		}
	}
	for i := range 2 {
		if pid := bcmpFlag(b, 16+i).Load(); pid != 1 {
			t.Fatalf("child %d had pid %d, want 1 (a new pid namespace)", i, pid)
		}
	}
	t.Logf("%d messages from a live pid 1 past a SIGKILLed pid 1's claim; the first %v after the kill", got, first.Round(time.Millisecond))
}
