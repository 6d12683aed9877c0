package fuzz_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/shmx/shmx/memfile"
)

// exclusion checks mutual exclusion: every goroutine that believes it
// holds a lock exclusively calls enter and leave around its critical
// section, which increments a plain counter the race detector watches.
type exclusion struct {
	holders atomic.Int32 // goroutines inside the critical section now
	taken   atomic.Int64 // critical sections entered
	counter int64        // incremented only inside the critical section
}

// section runs one critical section and reports a second holder.
func (x *exclusion) section(t *testing.T, what string) {
	if n := x.holders.Add(1); n != 1 {
		t.Errorf("%s: %d holders at once", what, n)
	}
	x.counter++
	x.taken.Add(1)
	x.holders.Add(-1)
}

// check reports lost or duplicated increments once every goroutine ended.
func (x *exclusion) check(t *testing.T) {
	if x.counter != x.taken.Load() {
		t.Errorf("counter %d after %d critical sections: mutual exclusion failed", x.counter, x.taken.Load())
	}
}

// lockErr classifies the error of a blocking lock call: held says whether
// the caller now holds the lock (only after nil: no lock call returns an
// error with the lock held). ErrOwnerDead (an inconsistent lock,
// refused), ErrCorrupt and the context's errors are expected; any other
// is a failure of the target.
func lockErr(t *testing.T, what string, err error) (held bool) {
	switch {
	case err == nil:
		return true
	case errors.Is(err, memfile.ErrOwnerDead), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, memfile.ErrCorrupt):
		return false
	}
	t.Errorf("%s: unexpected error %v", what, err)
	return false
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
