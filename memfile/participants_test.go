package memfile

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/internal/testproc"
)

// TestParticipants: the creator and an opener in another process are
// listed once each, with their pids; the opener is alive while it runs,
// dead as soon as it is killed, and a Mutex it held is taken over.
func TestParticipants(t *testing.T) {
	if testproc.Role() == "opener" {
		f, err := Open(os.Getenv("LINK"))
		if err != nil {
			t.Fatal(err)
		}
		again, err := Open(os.Getenv("LINK")) // one process, one entry, one domain
		if err != nil {
			t.Fatal(err)
		}
		again.Close()
		f.Lock()
		word(f.Bytes(), 0).Store(selfToken)
		time.Sleep(testproc.Scale(20 * time.Second)) // killed long before
		return
	}
	link := tempLink(t)
	f := mustCreate(t, link, LockMutex, 64)
	defer f.Close()
	cmd := testproc.Command(t, "TestParticipants", "opener", "LINK="+link)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFlag(t, f.Bytes(), 0, 1)
	child := word(f.Bytes(), 0).Load()
	ps := f.Participants()
	want := map[uint32]uint32{selfToken: uint32(os.Getpid()), child: uint32(cmd.Process.Pid)}
	if len(ps) != 2 {
		t.Fatalf("participants %+v, want 2 (self %#x, child %#x)", ps, selfToken, child)
	}
	for _, p := range ps {
		if pid, ok := want[p.Token]; !ok || p.PID != pid {
			t.Fatalf("participant %+v, want one of %v", p, want)
		}
		if p.Namespace != live.Namespace() {
			t.Errorf("participant %+v: namespace %d, want %d", p, p.Namespace, live.Namespace())
		}
	}
	if got := f.ProcessAlive(child); got != "alive" {
		t.Fatalf("ProcessAlive(child) = %s while it runs", got)
	}
	if st := f.mu.State(); !st.Locked || st.Owner != child {
		t.Fatalf("Mutex %+v, want held by the child %#x", st, child)
	}
	killed := time.Now()
	cmd.Process.Kill()
	t.Cleanup(func() { cmd.Wait() })
	for f.ProcessAlive(child) != "dead" {
		if time.Since(killed) > testproc.Scale(5*time.Second) {
			t.Fatal("killed child still judged alive after 5 s")
		}
		time.Sleep(100 * time.Microsecond)
	}
	t.Logf("killed participant judged dead %v after the kill", time.Since(killed))
	if err := f.LockContext(timeoutCtx(t, testproc.Scale(5*time.Second))); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("LockContext after the holder died = %v, want ErrOwnerDead", err)
	}
	mustRecover(t, f)
}

// TestUntrackedMemoryNeverDeclaresDeath: a Mutex in memory that no
// MemFile maps (here a Go slice) whose owner token nobody vouches for is
// never taken over: the waiter times out, as the suspicion rule says.
func TestUntrackedMemoryNeverDeclaresDeath(t *testing.T) {
	var m Mutex
	other := selfToken ^ 0x0f0f0f0f
	m.state = uint64(other)<<ownerShift | mutexLocked
	if v := live.Judge(unsafe.Pointer(&m), other); v != live.Unknown {
		t.Fatalf("Judge of untracked memory = %v, want unknown", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	if err := m.LockContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockContext = %v, want DeadlineExceeded", err)
	}
	if m.state != uint64(other)<<ownerShift|mutexLocked {
		t.Fatalf("state changed to %#x", m.state)
	}
}

// TestDeadTokenTrackedMemory: the same lock word in a tracked mapping is
// taken over at once: a token nobody holds in the domain is dead.
func TestDeadTokenTrackedMemory(t *testing.T) {
	b, _ := parentMapping(t)
	m, _ := MutexAt(b)
	dead := deadToken(t, b)
	m.state = uint64(dead)<<ownerShift | mutexLocked
	start := time.Now()
	if err := m.LockContext(timeoutCtx(t, 5*time.Second)); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("LockContext = %v, want ErrOwnerDead", err)
	}
	t.Logf("dead token %s taken over after %v", strconv.FormatUint(uint64(dead), 16), time.Since(start))
	mustRecover(t, m)
}
