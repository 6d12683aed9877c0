package fuzz_test

import (
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/shmx/shmx/memfile"
)

// FuzzEventState places a memfile.Event over EventSize bytes initialised
// from state (garbage; missing bytes are zero), ending at a PROT_NONE page
// on Linux, and runs up to 16 operations from ops on 3 goroutines. Each
// op byte: bits 0-2 the operation (Set, Reset, TryWait, Wait, Set then
// TryWait, IsSet/Kind, a cancelled Wait), bits 3-4 the timeout, bits 6-7
// the goroutine.
//
// Property: every operation ends without panic; Wait returns nil or the
// context's error (or ErrCorrupt); the kind never changes; an auto-reset
// event releases at most one waiter per Set (plus one if it started set):
// successful waits plus a signal left pending at the end never exceed
// that; and once every operation ended no waiter is left counted and no
// wake-up is owed: the waiter word (bytes 4-7) is as it started, whatever
// garbage it held, or has no registrations (bits 0-23; a Set whose
// wake-up found nobody dropped the count, or a waiter dropped
// registrations no waiter could own, and the epoch, bits 24-31, stays); the
// state bits but "set" are as they started but for the nudges of those
// recounts (bits 2-31 move on by at most the recounts, bytes 8-11, made);
// bytes 12-15 are untouched.
func FuzzEventState(f *testing.F) {
	f.Fuzz(func(t *testing.T, state []byte, ops []byte) {
		mem := guarded(t, memfile.EventSize)
		copy(mem, state)
		before := append([]byte(nil), mem...)
		e, err := memfile.EventAt(mem)
		if err != nil {
			if errors.Is(err, memfile.ErrCorrupt) {
				return // garbage recognised up front: fine
			}
			t.Fatalf("EventAt over %d aligned bytes: %v", len(mem), err)
		}
		kind, wasSet := e.Kind(), e.IsSet()
		if st := e.State(); st.Kind != kind || st.Set != wasSet {
			t.Fatalf("State %+v, Kind %v, IsSet %v", st, kind, wasSet)
		}
		var sets, waits atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		runWorkers(t, schedule(ops), func(g int, ops []byte) {
			for _, op := range ops {
				eventOp(t, ctx, e, kind, op, &sets, &waits)
			}
		})
		if k := e.Kind(); k != kind {
			t.Fatalf("Event kind changed from %v to %v", kind, k)
		}
		if kind == memfile.AutoReset {
			given := sets.Load()
			if wasSet {
				given++
			}
			left := int64(0)
			if e.IsSet() {
				left = 1
			}
			if waits.Load()+left > given {
				t.Fatalf("auto-reset Event released %d waits and holds %d signal after %d Sets (started set: %v)", waits.Load(), left, sets.Load(), wasSet)
			}
		}
		le := binary.LittleEndian
		if got, was := le.Uint32(mem[4:]), le.Uint32(before[4:]); got != was && got&(1<<24-1) != 0 {
			t.Fatalf("Event waiter word %#x after every operation ended, %#x before", got, was)
		}
		recounts := le.Uint32(mem[8:]) - le.Uint32(before[8:])
		got, was := le.Uint32(mem[0:]), le.Uint32(before[0:])
		if got&2 != was&2 || ((got>>2)-(was>>2))&(1<<30-1) > recounts {
			t.Fatalf("Event state %#x after every operation ended, %#x before, %d recounts (bit 0 aside, bits 2-31 move on only by recounts)", got, was, recounts)
		}
		if string(mem[12:]) != string(before[12:]) {
			t.Fatalf("Event reserved bytes changed: %x, were %x", mem[12:], before[12:])
		}
	})
}

// eventOp runs one operation of FuzzEventState.
func eventOp(t *testing.T, parent context.Context, e *memfile.Event, kind memfile.EventKind, op byte, sets, waits *atomic.Int64) {
	wait := func(ctx context.Context) {
		if lockErr(t, "Event.Wait", e.Wait(ctx)) {
			waits.Add(1)
		}
	}
	switch op & 7 {
	case 0:
		sets.Add(1)
		e.Set()
	case 1:
		e.Reset()
	case 2:
		if e.TryWait() {
			waits.Add(1)
		}
	case 3, 4:
		ctx, cancel := opContext(parent, op)
		wait(ctx)
		cancel()
	case 5:
		sets.Add(1)
		e.Set()
		if e.TryWait() {
			waits.Add(1)
		}
	case 6:
		e.IsSet()
		if k := e.Kind(); k != kind {
			t.Errorf("Event kind changed from %v to %v", kind, k)
		}
	case 7:
		ctx, cancel := context.WithCancel(parent)
		cancel()
		wait(ctx)
	}
}
