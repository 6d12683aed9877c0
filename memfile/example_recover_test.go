package memfile_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/shmx/shmx/memfile"
)

// A process that dies holding a lock leaves the data it protects possibly
// half-written. Lock calls never hand such a lock over with an error:
// LockContext refuses it with ErrOwnerDead and holds nothing, so the
// usual "if err != nil { return err }" is safe. The process that knows
// how to repair the data takes the lock with LockRecover, repairs, calls
// MarkConsistent and unlocks.
//
// Here the dead holder is simulated by writing what it leaves behind into
// a Mutex's documented layout: locked (bit 0 of bytes 0-3), owner token
// (bytes 4-7) of a process that no longer holds the segment.
func ExampleMutex_LockRecover() {
	dir := tempDir()
	defer os.Remove(dir)
	f, err := memfile.Create(filepath.Join(dir, "counters.link"), memfile.LockNone, 4096)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	data := f.Bytes()
	mu, err := memfile.MutexAt(data[:memfile.MutexSize])
	if err != nil {
		log.Fatal(err)
	}
	pair := data[64:80] // two counters mu keeps equal

	// A peer locks, writes half of its update and is killed.
	binary.LittleEndian.PutUint64(data, 0xdead5eed<<32|1)
	binary.LittleEndian.PutUint64(pair[0:], 7)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Code that cannot repair: refused, nothing held.
	err = mu.LockContext(ctx)
	fmt.Println("LockContext:", errors.Is(err, memfile.ErrOwnerDead), mu.State().Locked)

	// Code that can: LockRecover, repair, MarkConsistent, Unlock.
	inconsistent, err := mu.LockRecover(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if inconsistent {
		a, b := binary.LittleEndian.Uint64(pair[0:]), binary.LittleEndian.Uint64(pair[8:])
		m := max(a, b)
		binary.LittleEndian.PutUint64(pair[0:], m)
		binary.LittleEndian.PutUint64(pair[8:], m)
		mu.MarkConsistent()
	}
	mu.Unlock()
	fmt.Println("repaired:", inconsistent, binary.LittleEndian.Uint64(pair[8:]))

	err = mu.LockContext(ctx)
	fmt.Println("LockContext after repair:", err)
	mu.Unlock()
	// Output:
	// LockContext: true false
	// repaired: true 7
	// LockContext after repair: <nil>
}
