//go:build linux

package fuzz_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shmx/shmx/memfile"
	"golang.org/x/sys/unix"
)

// TestRingNoAccessAfterReturn checks that a blocking Ring call that gave
// up on its context touches the ring's memory no more once it has
// returned: the caller may unmap the memory right then (Recv with a
// timeout, then Close). The memory is made inaccessible at once after
// each Recv and Send returns; a late access faults, which kills the test
// binary with the stack of the goroutine that made it. FuzzRing found
// this as a fault on memory its cleanup had unmapped.
func TestRingNoAccessAfterReturn(t *testing.T) {
	for i := range 2000 {
		b, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(b)
		r, err := memfile.InitRing(b, 8, 2)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Microsecond)
		if i%2 == 0 {
			_, err = r.Recv(ctx, make([]byte, 8)) // empty: waits for ctx
		} else {
			for r.TrySend([]byte{1}) {
			}
			err = r.Send(ctx, []byte{2}) // full: waits for ctx
		}
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("blocked call on an idle ring returned %v", err)
		}
		if err := unix.Mprotect(b, unix.PROT_NONE); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Microsecond) // let anything still running run
		if err := unix.Mprotect(b, unix.PROT_READ|unix.PROT_WRITE); err != nil {
			t.Fatal(err)
		}
	}
}
