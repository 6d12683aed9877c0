package fuzz_test

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

const (
	// maxOps bounds the operations one execution runs, and maxWorkers the
	// goroutines that run them, so that an execution takes milliseconds.
	maxOps     = 16
	maxWorkers = 3
	// budget bounds the waiting of one whole execution: every blocking
	// call's context expires by then. An object left locked by garbage
	// thus costs one execution about this long, not one timeout per op.
	budget = 5 * time.Millisecond
	// hangLimit is how long the operations of one execution may take
	// before the target reports a hang: far above budget plus the
	// longest sleep slice of memfile (50 ms), generous for emulators.
	hangLimit = 20 * time.Second
)

// schedule deals at most maxOps operation bytes to maxWorkers goroutines:
// the top two bits of an op byte pick its goroutine (3 means round
// robin), so the fuzzer controls which operations race with which.
func schedule(ops []byte) [maxWorkers][]byte {
	var per [maxWorkers][]byte
	for i, op := range ops[:min(len(ops), maxOps)] {
		g := int(op >> 6)
		if g >= maxWorkers {
			g = i % maxWorkers
		}
		per[g] = append(per[g], op)
	}
	return per
}

// runWorkers runs fn for each goroutine's operations and waits for all of
// them, failing the test (with every goroutine's stack) if they have not
// ended within hangLimit: a hang is a bug the fuzzer must report, not
// wait out. A panic fails the test with its stack (rather than killing
// the process) so that the report names the goroutine's operations.
func runWorkers(t *testing.T, per [maxWorkers][]byte, fn func(g int, ops []byte)) {
	var wg sync.WaitGroup
	for g, ops := range per {
		if len(ops) == 0 {
			continue
		}
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("goroutine %d, ops %x: panic: %v\n%s", g, ops, p, debug.Stack())
				}
			}()
			fn(g, ops)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(hangLimit):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("operations still running after %v (hang):\n%s", hangLimit, buf)
	}
}

// timeouts are the per-operation deadlines an op byte chooses from
// (bits 3-4): zero means a context that has already expired.
var timeouts = [4]time.Duration{0, 100 * time.Microsecond, 500 * time.Microsecond, 2 * time.Millisecond}

// opContext returns the context for one blocking operation: the chosen
// timeout, cut short by the execution's budget (parent).
func opContext(parent context.Context, op byte) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, timeouts[op>>3&3])
}
