package memfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/live"
	sw "github.com/shmx/shmx/internal/word"
)

// Waiting policy shared by every object of this package.
const (
	// spinBudget is how long a contended slow path spins before it sleeps:
	// about two cross-process cache-line round trips on bare metal times a
	// few dozen, far less than a futex sleep/wake (10-20 µs here).
	spinBudget = 20 * time.Microsecond
	// handoffSpinBudget is how long a waiter for another process's signal
	// (Event.Wait, Semaphore.Acquire, a blocked Ring Send or Recv) keeps
	// retrying before it sleeps. A peer running on another CPU answers
	// within a microsecond or two, far below a futex sleep and wake (10-20
	// µs on the virtual machines measured); but when the CPUs are
	// oversubscribed the peer is not running, and every spinning
	// microsecond is taken from it. So the budget is about what blocking
	// costs the waker (a few µs of system call), the classic competitive
	// choice: measured under heavy load, 5 µs kept the round trip at the
	// futex cost while 20-100 µs made it 3-10x worse; on a quiet machine
	// 5-10 µs already catches the fast answers. A waiter that is still
	// spinning has not registered, so the Set or Release that ends its
	// wait makes no system call either.
	handoffSpinBudget = 10 * time.Microsecond
	// sliceWait bounds every sleep: a waiter wakes at least this often to
	// ask internal/live whether the process it waits for is alive (owner
	// death is noticed within about sliceWait), while no more than
	// sliceSleepers goroutines of its process sleep (see stretch).
	sliceWait = 50 * time.Millisecond
	// sliceSleepers is how many sleepers of one process wake every
	// sliceWait before the slices stretch: beyond it, a process's
	// sleepers together end about sliceSleepers/sliceWait = 200 slices a
	// second, however many they are.
	sliceSleepers = 10
	// shortWait is the slice of a waiter that nobody can wake (it is not
	// counted anywhere, so it polls).
	shortWait = 10 * time.Millisecond
	// starveAfter is how long a waiter waits before the lock turns fair
	// (sync.Mutex's starvationThresholdNs).
	starveAfter = time.Millisecond
)

// spinFor retries try for about budget (not at all when only one CPU is
// usable) and reports whether it succeeded: the spin phase of the waits
// for another process's signal (Event, Semaphore, Ring), before they
// register and sleep.
func spinFor(budget time.Duration, try func() bool) bool {
	sp := sw.NewPollSpinner(budget) // try looks before it takes
	for sp.Spin() {
		if try() {
			return true
		}
	}
	return false
}

// sleepers counts this process's goroutines asleep in nap.
var sleepers atomic.Int32

// stretch is the waiting policy's answer to "how long may one slice of a
// sleeper of this process be": slice itself while at most sliceSleepers
// goroutines of the process sleep, and beyond that at least sliceWait
// times sleepers/sliceSleepers, for slices of shortWait and longer (the
// shorter ones are the Mutex's hand-offs, which keep their length).
//
// Why. Every slice that ends is a wake-up, a look at the object and often
// a question to the kernel (is the owner alive?): a few microseconds.
// 10,000 goroutines blocked on shmx objects, each ending a 50 ms slice,
// would be 200,000 of them a second, most of a CPU spent on nothing. With
// the stretch they are about 200 a second whatever the number of
// sleepers. What it costs: a dead owner, claimant or holder is noticed
// later, within about slice x sleepers/10 (plus up to sliceGrid) by a
// waiter that waits for it alone (5 s with 1,000 sleepers in the
// process) and sooner when several wait for it, since any one of them
// repairs the object for all. Wake-ups, cancellation and Close do not
// wait for slices: they wake the sleeper.
//
// The explorer's models have at most four goroutines in a simulated
// process, where the stretch changes nothing; and sleepers, a Go global,
// would count the goroutines of every simulated process, the killed ones
// (which never return) of every schedule among them. So it is off there.
func stretch(slice time.Duration) time.Duration {
	if sw.Exploring {
		return slice
	}
	n := time.Duration(sleepers.Load()) + 1 // with the one about to sleep
	if slice < shortWait || n <= sliceSleepers {
		return slice
	}
	s := max(slice, sliceWait*n/sliceSleepers)
	// Then end on the process's sliceGrid: the slices that end in one
	// grid step end together, and the runtime wakes once for all of them
	// instead of once each.
	now := time.Since(gridEpoch)
	end := now + s
	return end + sliceGrid - end%sliceGrid - now
}

// sliceGrid is the grid stretched slices end on (see stretch), and
// gridEpoch its origin. A wake-up of an idle Go process (its netpoller,
// a thread, the context switches of a virtual CPU) costs far more than
// the few microseconds of a slice's own work: measured with 10,000 idle
// sleepers, 2.3-3.0% of a CPU with slices ending anywhere, 0.9-1.6% on a
// 50 ms grid, 0.6-0.7% on a 200 ms grid (about 40 slices end at each step, 5
// steps a second; with futex's rings grown to 256).
const sliceGrid = 200 * time.Millisecond

var gridEpoch = time.Now()

// nap is sw.Wait for every sleeper of this package (sleep, Ring.sleep):
// one slice in the kernel, counted in sleepers. slice is already
// stretched (and then cut to the caller's deadline). With a ctx (nil:
// none) it ends soon after ctx is done: a wait parked through io_uring
// cancels itself and disturbs nobody; a wait on its own thread is woken
// by wakeAll, which wakes every sleeper of the word (see
// futex.WaitContext). wakeAll is called only when cancelWakes says the
// sleep must be woken.
func nap(ctx context.Context, addr *uint32, val uint32, slice time.Duration, wakeAll func()) {
	sleepers.Add(1)
	if ctx == nil {
		sw.Wait(addr, val, slice)
	} else {
		sw.WaitContext(ctx, addr, val, slice, func() {
			if cancelWakes(ctx) {
				wakeAll()
			}
		})
	}
	sleepers.Add(-1)
}

// sleep waits on addr while it holds val, for at most one slice and never
// past ctx's deadline. It returns ctx.Err() when ctx is done (or its
// deadline passed), errClosed when the MemFile whose memory holds addr
// was closed (before or during the sleep), else nil: woken, timed out or
// spurious alike, since every caller re-reads its word anyway. Callers
// back out of a closed wait exactly as out of a cancelled one.
//
// A ctx that can be cancelled (callers pass nil otherwise, see
// cancellable) ends the sleep the moment it is done (nap): a sleep
// parked through io_uring cancels its own wait, and nobody else notices;
// a sleep on its own thread is woken by a wake of every sleeper of addr
// (the others, in this or other processes, re-check their word and sleep
// again). So cancellation costs no polling and is noticed at once; an
// expired deadline wakes nobody (cancelWakes). On a thread, a
// cancellation in the instant between the check of ctx and the kernel's
// check of the word is noticed late, at the end of the slice.
func sleep(ctx context.Context, addr *uint32, val uint32, slice time.Duration) error {
	mp, err := enterWait(addr)
	if err != nil {
		return err
	}
	defer mp.Leave(addr)
	slice = stretch(slice)
	if ctx == nil {
		nap(nil, addr, val, slice, nil)
		return closedErr(mp)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		left := sw.Until(dl)
		if left <= 0 {
			return context.DeadlineExceeded // ctx.Err() may lag its timer
		}
		slice = min(slice, left)
	}
	nap(ctx, addr, val, slice, func() { sw.WakeAll(addr) })
	if err := closedErr(mp); err != nil {
		return err
	}
	return ctx.Err()
}

// cancelWakes is the package's one rule for a sleep's ctx that became
// done (context.AfterFunc): it reports whether the sleep must be woken.
// It must when ctx was cancelled, and need not when ctx ended at its
// deadline: every sleep is bounded by the deadline (sleep, ringSlice),
// so its timeout ends it then anyway. Waking would wake every sleeper of
// the word, in every process: with many goroutines waiting on one object,
// each with its own timeout, every expiry made all of them run, re-check
// and sleep again (BenchmarkDeadlineCrowd; TestCancelWakes).
func cancelWakes(ctx context.Context) bool {
	_, bounded := ctx.Deadline()
	return !bounded || !errors.Is(ctx.Err(), context.DeadlineExceeded)
}

// errClosed is what a wait on a word of a closed MemFile returns (see
// MemFile.Close); preallocated, as the waits allocate nothing.
var errClosed = fmt.Errorf("memfile: the MemFile holding this object was closed: %w", fs.ErrClosed)

// enterWait registers a goroutine about to sleep on addr with the
// MemFile mapping that holds it (if any), so that Close can wake it, or
// fails with errClosed if that MemFile is closed. Every sleep of this
// package goes through it (sleep, Ring.sleep, a WaitSet's loop), every
// poll through enterPoll; a nil error is followed by one mp.Leave(addr).
func enterWait(addr *uint32) (mp *live.Mapping, err error) {
	mp = live.MappingOf(unsafe.Pointer(addr))
	if !mp.Enter(addr) {
		return nil, errClosed
	}
	return mp, nil
}

// enterPoll is enterWait for a goroutine about to poll words of the
// mapping that holds addr (BusySpin: pollUntil) rather than sleep on
// one: Close waits for it but need not wake it, so it is only counted
// (live.Mapping.EnterPoll). A nil error is followed by one
// mp.LeavePoll().
func enterPoll(addr *uint32) (mp *live.Mapping, err error) {
	mp = live.MappingOf(unsafe.Pointer(addr))
	if !mp.EnterPoll() {
		return nil, errClosed
	}
	return mp, nil
}

// closedErr returns errClosed if mp (nil: memory of no MemFile) was
// closed.
func closedErr(mp *live.Mapping) error {
	if mp.Closed() {
		return errClosed
	}
	return nil
}

// closedAt reports whether p lies in the memory of a MemFile that was
// closed: slow paths ask it before they panic over a word that Close
// replaced by zeros (an Unlock of what now looks unlocked).
func closedAt(p unsafe.Pointer) bool { return live.MappingOf(p).Closed() }

// wakeAll wakes every sleeper on addr: what Close uses to wake the
// goroutines asleep in a closed MemFile's memory.
func wakeAll(addr *uint32) { sw.WakeAll(addr) }

// cancellable is the package's one rule for the contexts its blocking
// calls take: nil means context.Background(), and a context that can
// never be done (Done() == nil) is dropped, so that the waits below test
// only for nil ("wait as long as it takes").
func cancellable(ctx context.Context) context.Context {
	if ctx == nil || ctx.Done() == nil {
		return nil
	}
	return ctx
}

// background is cancellable for code that wants a context in any case:
// nil becomes context.Background().
func background(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// wake wakes up to n sleepers on addr; callers only call it when their
// word says somebody may sleep there.
func wake(addr *uint32, n int) {
	if n > 0 {
		sw.Wake(addr, n)
	}
}
