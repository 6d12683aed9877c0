package memfile

import (
	"context"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmx/shmx"
	"github.com/shmx/shmx/futex"
)

// ringSpinBudget is how long a blocked Send or Recv keeps retrying before
// it sleeps. A peer running on another CPU answers within a microsecond
// or two, far below a futex sleep and wake (10-20 µs on the virtual
// machines measured); but when the CPUs are oversubscribed the peer is
// not running, and every spinning microsecond is taken from it. So the
// budget is about what blocking costs the waker (a few µs of system call),
// the classic competitive choice: measured here under heavy load, 5 µs
// kept the round trip at the futex cost while 20-100 µs made it 3-10x
// worse; on a quiet machine 5-10 µs already catches the fast answers.
const ringSpinBudget = 10 * time.Microsecond

// ringWaiter is the state of one direction's slow path: which epoch and
// waiter count to use, and how to try, repair and hand on a wake-up.
type ringWaiter struct {
	epoch, waiters *atomic.Uint32
	try            func(r *Ring) (uint64, bool, uint32)
	reclaim        func(r *Ring, dead uint32) bool
}

var (
	ringRecvSide = ringWaiter{
		try:     (*Ring).claimRecv,
		reclaim: (*Ring).reclaimRecv,
	}
	ringSendSide = ringWaiter{
		try:     (*Ring).claimSend,
		reclaim: (*Ring).reclaimSend,
	}
)

// wake changes the epoch (so that a sleeper about to wait sees a new
// value) and wakes one sleeper. Only called when the waiter count is
// non-zero; see the lost wake-up argument on Ring.
func (r *Ring) wake(epoch *atomic.Uint32) {
	epoch.Add(1)
	futex.Wake((*uint32)(unsafe.Pointer(epoch)), 1)
}

// acquire claims a slot for receiving (recv) or sending, sleeping while
// there is none, until ctx is done.
func (r *Ring) acquire(ctx context.Context, recv bool) (uint64, error) {
	if pos, ok, _ := r.try(recv); ok {
		return pos, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	sp := shmx.NewSpinner(ringSpinBudget)
	for sp.Spin() {
		if pos, ok, _ := r.try(recv); ok {
			return pos, nil
		}
	}
	side := ringSendSide
	side.epoch, side.waiters = r.sendEpoch, r.sendWaiters
	if recv {
		side = ringRecvSide
		side.epoch, side.waiters = r.recvEpoch, r.recvWaiters
	}
	return r.sleep(ctx, &side)
}

// sleep is the futex slow path of acquire.
func (r *Ring) sleep(ctx context.Context, side *ringWaiter) (uint64, error) {
	if ctx.Done() != nil {
		// Wake every sleeper of this direction when ctx is cancelled, so
		// that this one notices at once; the others re-check and sleep on.
		epoch := side.epoch
		stop := context.AfterFunc(ctx, func() { r.wakeAll(epoch) })
		defer stop()
	}
	word := (*uint32)(unsafe.Pointer(side.epoch))
	var stuck ringStuck
	for {
		side.waiters.Add(1)
		e := side.epoch.Load()
		pos, ok, blocker := side.try(r)
		if ok {
			side.waiters.Add(^uint32(0))
			r.passOn(side)
			return pos, nil
		}
		slice, err := ringSlice(ctx)
		if err != nil {
			side.waiters.Add(^uint32(0))
			r.passOn(side)
			return 0, err
		}
		futex.Wait(word, e, slice)
		side.waiters.Add(^uint32(0))
		if stuck.behind(blocker, r.pid) && !ringAlive(blocker) {
			side.reclaim(r, blocker)
		}
	}
}

// ringStuck tracks how long a sleeper has been held up by the same
// claimant, so that it checks that claimant's liveness (a system call)
// about once per RingWaitSlice, however often unrelated wake-ups arrive.
type ringStuck struct {
	pid   uint32
	since time.Time
}

// behind records that the sleeper waits behind pid (0: behind no one) and
// reports whether it is time to check whether pid is alive.
func (s *ringStuck) behind(pid, self uint32) bool {
	if pid == 0 || pid == self {
		s.pid = 0
		return false
	}
	now := time.Now()
	if pid != s.pid {
		s.pid, s.since = pid, now
		return false
	}
	if now.Sub(s.since) < RingWaitSlice {
		return false
	}
	s.since = now
	return true
}

// ringSlice returns how long the next sleep may last: RingWaitSlice, or
// less when ctx's deadline is nearer; an error when ctx is done.
func ringSlice(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d := RingWaitSlice
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return 0, context.DeadlineExceeded
		}
		d = min(d, left)
	}
	return d, nil
}

// passOn hands a wake-up on when a sleeper leaves the slow path while
// others still sleep and the ring may have more for them: the wake-up this
// sleeper used (or the one that went to a sleeper who found nothing) must
// not strand a ready slot.
func (r *Ring) passOn(side *ringWaiter) {
	if side.waiters.Load() != 0 {
		r.wake(side.epoch)
	}
}

func (r *Ring) wakeAll(epoch *atomic.Uint32) {
	epoch.Add(1)
	futex.WakeAll((*uint32)(unsafe.Pointer(epoch)))
}

// try makes one non-blocking claim in the given direction.
func (r *Ring) try(recv bool) (uint64, bool, uint32) {
	if recv {
		return r.claimRecv()
	}
	return r.claimSend()
}
