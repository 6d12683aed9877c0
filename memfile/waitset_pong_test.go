package memfile

import (
	"os"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/testproc"
)

const envWsPongLink = "SHMX_WSPONG_LINK"

// TestWaitSetPingPong: 2,000 round trips with a child process through
// two auto-reset events of a MemFile; this side waits for each answer in
// a select on a WaitSet Watcher, the child in Event.Wait.
func TestWaitSetPingPong(t *testing.T) {
	const rounds = 2000
	if testproc.Role() == "pong" {
		f, err := Open(os.Getenv(envWsPongLink))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		req, _ := f.Event(0)
		resp, _ := f.Event(1)
		ctx := testproc.Context(t, 60*time.Second)
		for range rounds {
			if err := req.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			resp.Set()
		}
		return
	}
	link := tempLink(t)
	f, err := Create(link, LockNone, 64, WithEvents(2))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	req, _ := f.Event(0)
	resp, _ := f.Event(1)
	ws := NewWaitSet()
	defer ws.Close()
	w, _ := ws.AddEvent(resp)
	cmd := testproc.Command(t, "TestWaitSetPingPong", "pong", envWsPongLink+"="+link)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	deadline := time.After(testproc.Scale(60 * time.Second))
	start := time.Now()
	for i := range rounds {
		req.Set()
		for !resp.TryWait() {
			select {
			case <-w.C:
			case <-deadline:
				t.Fatalf("round %d: no answer (event set %v, waiters %d)", i, resp.IsSet(), resp.waiters.n())
			}
		}
	}
	t.Logf("%d round trips in %v", rounds, time.Since(start))
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}
