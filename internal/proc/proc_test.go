package proc_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/proc"
	"github.com/shmx/shmx/internal/testproc"
)

func TestSelfAlive(t *testing.T) {
	me := proc.Self()
	if me.Pid != uint32(os.Getpid()) {
		t.Fatalf("Self().Pid = %d, want %d", me.Pid, os.Getpid())
	}
	if ok, err := proc.Alive(me.Pid, me.Start); !ok || err != nil {
		t.Fatalf("Alive(self) = %v, %v", ok, err)
	}
	if me.Start != 0 {
		if ok, _ := proc.Alive(me.Pid, me.Start^1); ok {
			t.Fatalf("Alive(self pid, other start) = true; pid reuse would go unnoticed")
		}
	}
	if ok, _ := proc.Alive(0, 0); !ok {
		t.Fatal("Alive(0) = false, want true (unknown owners count as alive)")
	}
}

// TestChildIdentity checks that a parent computes the same identity for a
// child as the child does for itself, and that the child is reported dead
// once it has been killed, before its parent reaps it.
func TestChildIdentity(t *testing.T) {
	if testproc.Role() == "child" {
		me := proc.Self()
		fmt.Printf("%d %d\n", me.Pid, me.Start)
		// Stay alive until the parent kills us, bounded.
		time.Sleep(testproc.Scale(10 * time.Second))
		return
	}
	cmd := testproc.Command(t, "TestChildIdentity", "child")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid, start uint32
	if _, err := fmt.Fscan(out, &pid, &start); err != nil {
		t.Fatal(err)
	}
	if pid != uint32(cmd.Process.Pid) {
		t.Errorf("child says pid %d, os/exec says %d", pid, cmd.Process.Pid)
	}
	alive, err := proc.Alive(pid, start)
	if !alive {
		t.Errorf("Alive(running child %d, %d) = false, %v: parent and child disagree on its start time", pid, start, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Not reaped yet: a zombie on Unix, a process object that exited on
	// Windows. Either way it is dead.
	defer cmd.Wait()
	deadline := time.Now().Add(testproc.Scale(5 * time.Second))
	for {
		alive, err = proc.Alive(pid, 0)
		if !alive || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if alive {
		t.Errorf("Alive(killed child %d) = true, %v", pid, err)
	}
}
