package memfile_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/shmx/shmx/memfile"
)

// A WaitSet waits for a Ring and an Event of shared memory, a Go channel
// and a timer in one select. Here one process plays both sides; the
// Set and the Sends may as well come from other processes.
func ExampleWaitSet() {
	dir := tempDir()
	defer os.Remove(dir) // emptied by the owner's Close, which runs first
	link := filepath.Join(dir, "waitset-example.link")
	f, err := memfile.Create(link, memfile.LockNone, memfile.RingSize(64, 16), memfile.WithEvents(1))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	ring, err := memfile.InitRing(f.Bytes(), 64, 16)
	if err != nil {
		log.Fatal(err)
	}
	stop, err := f.Event(0)
	if err != nil {
		log.Fatal(err)
	}

	ws := memfile.NewWaitSet()
	defer ws.Close()
	msgs, err := ws.AddRecv(ring)
	if err != nil {
		log.Fatal(err)
	}
	quit, err := ws.AddEvent(stop)
	if err != nil {
		log.Fatal(err)
	}
	local := make(chan string, 1)
	local <- "a Go channel"

	go func() { // another process, say
		ring.TrySend([]byte("job 1"))
		ring.TrySend([]byte("job 2"))
		time.Sleep(10 * time.Millisecond)
		stop.Set()
	}()
	buf := make([]byte, ring.SlotSize())
	drain := func() { // one receive from msgs.C may stand for several messages
		for {
			n, ok := ring.TryRecv(buf)
			if !ok {
				return
			}
			fmt.Printf("ring: %s\n", buf[:n])
		}
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case <-msgs.C:
			drain()
		case s := <-local:
			fmt.Println("channel:", s)
		case <-quit.C:
			if stop.TryWait() {
				drain() // what was sent before the Set
				fmt.Println("event: stop")
				return
			}
		case <-timeout:
			log.Fatal("nothing happened")
		}
	}
	// Unordered output:
	// channel: a Go channel
	// ring: job 1
	// ring: job 2
	// event: stop
}
