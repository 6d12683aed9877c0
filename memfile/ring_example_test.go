package memfile_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/shmx/shmx/memfile"
)

// A ring of 1024 slots of 256 bytes in a memfile: the creator lays it out
// once with InitRing; every other process opens the memfile and calls
// RingAt on the same bytes.
func ExampleRing() {
	f, err := memfile.Create("/tmp/jobs.link", memfile.LockNone, memfile.RingSize(256, 1024))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r, err := memfile.InitRing(f.Bytes(), 256, 1024)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()

	// Copying forms.
	if err := r.Send(ctx, []byte("job 1")); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, r.SlotSize())
	n, err := r.Recv(ctx, buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", buf[:n])

	// Zero-copy forms: write and read the slot in shared memory in place.
	s, err := r.BeginSend(ctx)
	if err != nil {
		log.Fatal(err)
	}
	s.Commit(copy(s.Bytes(), "job 2"))
	m, err := r.BeginRecv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", m.Bytes())
	m.Release()
}

// A SeqLock publishes a snapshot that readers in other processes copy
// without ever blocking the writer.
func ExampleSeqLock() {
	type position struct{ X, Y, Z float64 }
	f, err := memfile.Create("/tmp/pos.link", memfile.LockNone, memfile.SeqLockSize[position]())
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	l, err := memfile.SeqLockAt[position](f.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	l.Store(position{1, 2, 3}) // one writer
	p := l.Load()              // any number of readers, any process
	fmt.Println(p.X, p.Y, p.Z)
}
