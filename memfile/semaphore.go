package memfile

import (
	"context"
	sw "github.com/shmx/shmx/internal/word"
	"math"
)

// Semaphore is a counting semaphore that lives in memory shared between
// processes: Acquire(n) waits until n units are available and takes them,
// Release(n) gives n back. Place one with SemaphoreAt (all-zero bytes are
// a semaphore with count 0 and no capacity limit) or InitSemaphore.
//
// Layout (SemaphoreSize = 16 bytes, 8-byte aligned, the same everywhere):
//
//	offset size meaning
//	0      4    count: units available now; the futex word
//	4      4    capacity: the most units there can be (0: no limit)
//	8      4    number of waiters (so Release makes no system call without one)
//	12     4    reserved, 0
//
// The capacity turns "released more than acquired" into a detectable bug:
// Release panics when the count would exceed it, as x/sync/semaphore
// does. Without a capacity only overflow of the 32-bit count is caught.
//
// Unlike x/sync/semaphore, waiters are not served in order: a large
// Acquire can wait while small ones keep succeeding. Units held by a
// process that dies are lost (a semaphore has no owner).
type Semaphore struct {
	_        [0]sw.Uint64 // 8-byte alignment on 32-bit platforms too
	count    uint32
	capacity uint32
	waiters  uint32
	_        uint32
}

// InitSemaphore places a Semaphore over b like SemaphoreAt and initialises
// it with capacity (0: no limit) and count units available. Only the
// process that creates the shared memory calls it, before any other
// process uses the semaphore. It panics if count > capacity > 0.
func InitSemaphore(b []byte, capacity, count uint32) (*Semaphore, error) {
	s, err := SemaphoreAt(b)
	if err != nil {
		return nil, err
	}
	s.Init(capacity, count)
	return s, nil
}

// Init sets capacity (0: no limit) and the available count of s, with no
// waiter. It must not run while any process uses s. It panics if
// count > capacity > 0.
func (s *Semaphore) Init(capacity, count uint32) {
	if capacity > 0 && count > capacity {
		panic("memfile: Semaphore.Init count exceeds capacity")
	}
	sw.StoreUint32(&s.waiters, 0)
	sw.StoreUint32(&s.capacity, capacity)
	sw.StoreUint32(&s.count, count)
}

// Count returns the units available now (racy by nature: for monitoring).
func (s *Semaphore) Count() uint32 { return sw.LoadUint32(&s.count) }

// Capacity returns the capacity set by Init, 0 for none.
func (s *Semaphore) Capacity() uint32 { return sw.LoadUint32(&s.capacity) }

// units checks n, as x/sync/semaphore's callers know it, against the
// 32-bit count.
func units(n int64) uint32 {
	if n < 0 || n > math.MaxUint32 {
		panic("memfile: semaphore: n out of range [0, 2^32)")
	}
	return uint32(n)
}

// TryAcquire takes n units if they are available now, without waiting,
// and reports whether it did.
func (s *Semaphore) TryAcquire(n int64) bool {
	u := units(n)
	for {
		c := sw.LoadUint32(&s.count)
		if c < u {
			return false
		}
		if sw.CompareAndSwapUint32(&s.count, c, c-u) {
			return true
		}
	}
}

// Acquire takes n units, waiting until they are available or ctx is
// done; then it returns ctx.Err() and leaves s unchanged (no unit is
// taken). If n exceeds the capacity, Acquire waits for ctx without hope,
// as x/sync/semaphore does. Cancellation is noticed at once (nil ctx means context.Background()). Like
// Event.Wait, Acquire spins for up to 10 µs before it sleeps.
func (s *Semaphore) Acquire(ctx context.Context, n int64) error {
	ctx = cancellable(ctx)
	if s.TryAcquire(n) {
		return nil
	}
	if ctx != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if spinFor(handoffSpinBudget, func() bool { return s.TryAcquire(n) }) {
		return nil
	}
	u := units(n)
	sw.AddUint32(&s.waiters, 1)
	defer sw.AddUint32(&s.waiters, ^uint32(0))
	for {
		c := sw.LoadUint32(&s.count)
		if c >= u {
			if sw.CompareAndSwapUint32(&s.count, c, c-u) {
				return nil
			}
			continue
		}
		if err := sleep(ctx, &s.count, c, sliceWait); err != nil {
			return err
		}
	}
}

// Release gives back n units and wakes the waiters, which each re-check
// whether their Acquire can now succeed. It panics if the count would
// exceed the capacity (releasing more than was acquired) or 2^32-1.
func (s *Semaphore) Release(n int64) {
	u := units(n)
	capacity := sw.LoadUint32(&s.capacity)
	for {
		c := sw.LoadUint32(&s.count)
		if c+u < c || capacity > 0 && c+u > capacity {
			panic("memfile: semaphore: released more than held")
		}
		if sw.CompareAndSwapUint32(&s.count, c, c+u) {
			break
		}
	}
	if w := sw.LoadUint32(&s.waiters); w > 0 && u > 0 {
		wake(&s.count, int(w))
	}
}
