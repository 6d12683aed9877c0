package shm

import (
	"os"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/internal/testproc"
)

// pingPong plays rounds of a turn-taking game on the word turn with the
// other process: this side moves when turn == mine (mod 2) and passes the
// turn with a store and a futex.Wake; it sleeps in futex.Wait otherwise.
// Every wait is bounded by deadline, so a lost wake-up fails the test
// instead of hanging it.
func pingPong(t testing.TB, turn *uint32, first uint32, rounds int, deadline time.Time) {
	w := (*atomic.Uint32)(unsafe.Pointer(turn))
	for i := range uint32(rounds) {
		want := 2*i + first
		for v := w.Load(); v != want; v = w.Load() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: turn stuck at %d, want %d (lost wake-up?)", i, v, want)
			}
			if err := futex.Wait(turn, v, time.Second); err != nil && !os.IsTimeout(err) {
				t.Fatalf("futex.Wait: %v", err)
			}
		}
		w.Store(want + 1)
		if _, err := futex.Wake(turn, 1); err != nil {
			t.Fatalf("futex.Wake: %v", err)
		}
	}
}

// TestFutexAcrossProcesses: two processes take turns on a word of a
// segment, sleeping in futex.Wait and waking each other with futex.Wake.
// It shows that words in a segment are usable for cross-process waits on
// every OS; on Windows it goes through the registration shm makes on
// every map (without it, a wake would not cross processes, and each turn
// would wait for the waiter's bounded slice to end: the round-trip time
// logged here shows which path ran).
func TestFutexAcrossProcesses(t *testing.T) {
	const rounds = 200
	deadline := time.Now().Add(testproc.Scale(20 * time.Second))
	if testproc.Role() == "child" {
		s := mustOpen(t, os.Getenv("SEG"))
		pingPong(t, (*uint32)(unsafe.Pointer(&s.Bytes()[64])), 0, rounds, deadline)
		return
	}
	s := mustCreate(t, testName(t), 4096)
	cmd := testproc.Command(t, "TestFutexAcrossProcesses", "child", "SEG="+s.Name())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pingPong(t, (*uint32)(unsafe.Pointer(&s.Bytes()[64])), 1, rounds, deadline)
	elapsed := time.Since(start)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	t.Logf("%d cross-process round trips, %v each (includes the child's start-up)", rounds, elapsed/rounds)
}
