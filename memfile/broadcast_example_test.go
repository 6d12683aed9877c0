package memfile_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/shmx/shmx/memfile"
)

// A broadcast ring of 64 messages of up to 128 bytes for up to 8
// subscribers in a memfile: the creator lays it out once with
// InitBroadcast; every other process opens the memfile and calls
// BroadcastAt on the same bytes, then Publisher or Subscribe. Every
// subscriber sees every message; one that falls a lap behind is told how
// many it missed.
func ExampleBroadcast() {
	dir, err := os.MkdirTemp("", "shmx-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := memfile.BroadcastConfig{SlotSize: 128, Capacity: 64, Subscribers: 8}
	f, err := memfile.Create(filepath.Join(dir, "prices.link"), memfile.LockNone, memfile.BroadcastSize(cfg))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	bc, err := memfile.InitBroadcast(f.Bytes(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()

	pub, err := bc.Publisher(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	a, _ := bc.Subscribe(memfile.StartNewest)
	defer a.Close()
	z, _ := bc.Subscribe(memfile.StartNewest)
	defer z.Close()

	// Copying publish; zero-copy publish in the slot.
	pub.Publish(ctx, []byte("EURUSD 1.0842"))
	s, _ := pub.Begin(ctx)
	s.Commit(copy(s.Bytes(), "EURUSD 1.0843"))

	// Each subscriber sees both: a by copy, z in place.
	buf := make([]byte, bc.SlotSize())
	for range 2 {
		n, err := a.Recv(ctx, buf)
		if err != nil {
			log.Fatal(err)
		}
		m, err := z.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		inPlace := string(m.Bytes())
		if err := m.Done(); err != nil { // overwritten while read: discard
			log.Fatal(err)
		}
		fmt.Printf("a: %s, z: %s\n", buf[:n], inPlace)
	}

	// a falls behind by more than the ring holds.
	for i := range 100 {
		pub.Publish(ctx, fmt.Appendf(nil, "tick %d", i))
	}
	_, err = a.Recv(ctx, buf)
	var lapped *memfile.LappedError
	if errors.As(err, &lapped) {
		fmt.Println("a missed", lapped.Missed)
	}
	n, _ := a.Recv(ctx, buf)
	fmt.Printf("a goes on with %s\n", buf[:n])
	// Output:
	// a: EURUSD 1.0842, z: EURUSD 1.0842
	// a: EURUSD 1.0843, z: EURUSD 1.0843
	// a missed 37
	// a goes on with tick 37
}
