package fuzz_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/shmx/shmx/memfile"
)

// FuzzCondState places a memfile.Cond over CondSize bytes initialised
// from state (garbage; missing bytes are zero), beside a Mutex, ending at
// a PROT_NONE page on Linux, and runs up to 16 operations from ops on 3
// goroutines. Each op byte: bits 0-1 the operation (Signal, Broadcast,
// Wait under the Mutex with a short deadline, Signal then Wait), bits 6-7
// the goroutine.
//
// Property: every operation ends without panic; Wait returns nil or the
// context's error, always with the Mutex held (it is unlocked after);
// when all ended no waiter is left counted: the waiter word (bytes 4-7)
// is as it started, whatever garbage it held, or has no registrations
// (bits 0-23; a Signal whose wake-up found nobody dropped the count, or a
// waiter dropped registrations no waiter could own, and the epoch, bits
// 24-31, stays); the recounts (bytes 8-11) only move
// on; bytes 12-15 are untouched.
func FuzzCondState(f *testing.F) {
	f.Fuzz(func(t *testing.T, state []byte, ops []byte) {
		mem := guarded(t, memfile.CondSize+memfile.MutexSize)
		m, err := memfile.MutexAt(mem)
		if err != nil {
			t.Fatal(err)
		}
		cb := mem[memfile.MutexSize:]
		copy(cb, state)
		before := append([]byte(nil), cb...)
		c, err := memfile.CondAt(cb)
		if err != nil {
			t.Fatalf("CondAt over %d aligned bytes: %v", len(cb), err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		runWorkers(t, schedule(ops), func(g int, ops []byte) {
			for _, op := range ops {
				switch op & 3 {
				case 0:
					c.Signal()
				case 1:
					c.Broadcast()
				case 3:
					c.Signal()
					fallthrough
				case 2:
					m.Lock()
					if err := c.Wait(ctx, m); err != nil && !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("Cond.Wait = %v", err)
					}
					if st := m.State(); !st.Locked {
						t.Errorf("Cond.Wait returned without the Mutex: %+v", st)
					}
					m.Unlock()
				}
			}
		})
		le := binary.LittleEndian
		if got, was := le.Uint32(cb[4:]), le.Uint32(before[4:]); got != was && got&(1<<24-1) != 0 {
			t.Fatalf("waiter word %#x after every operation ended, %#x before", got, was)
		}
		if !bytes.Equal(cb[12:], before[12:]) {
			t.Fatalf("reserved bytes changed: % x, were % x", cb[12:], before[12:])
		}
		if st := m.State(); st != (memfile.MutexState{}) {
			t.Fatalf("Mutex left %+v", st)
		}
	})
}
