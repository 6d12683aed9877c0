//go:build shmxexplore

package word

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/internal/live"
)

// Exploring reports whether this is the -tags shmxexplore build.
const Exploring = true

// Every operation below first yields to the explorer (a scheduling point,
// so that another simulated goroutine may run before it), then does the
// real atomic operation: one operation per step, in an order the
// explorer decides. Outside an exploration (package initialisation, a
// test's own set-up) they are plain atomics.

// Uint32 is sync/atomic's Uint32 with scheduling points.
type Uint32 struct{ v uint32 }

func (x *Uint32) Load() uint32 {
	yield()
	v := atomic.LoadUint32(&x.v)
	rec("load", unsafe.Pointer(&x.v), uint64(v))
	return v
}
func (x *Uint32) Store(v uint32) {
	yield()
	atomic.StoreUint32(&x.v, v)
	rec("store", unsafe.Pointer(&x.v), uint64(v))
}
func (x *Uint32) Add(d uint32) uint32 {
	yield()
	v := atomic.AddUint32(&x.v, d)
	rec("add", unsafe.Pointer(&x.v), uint64(v))
	return v
}
func (x *Uint32) Swap(v uint32) uint32 { yield(); return atomic.SwapUint32(&x.v, v) }
func (x *Uint32) CompareAndSwap(o, n uint32) bool {
	yield()
	ok := atomic.CompareAndSwapUint32(&x.v, o, n)
	recCAS(unsafe.Pointer(&x.v), uint64(o), uint64(n), ok)
	return ok
}

// Uint64 is sync/atomic's Uint64 with scheduling points.
type Uint64 struct{ v uint64 }

func (x *Uint64) Load() uint64 {
	yield()
	v := atomic.LoadUint64(&x.v)
	rec("load", unsafe.Pointer(&x.v), uint64(v))
	return v
}
func (x *Uint64) Store(v uint64) {
	yield()
	atomic.StoreUint64(&x.v, v)
	rec("store", unsafe.Pointer(&x.v), uint64(v))
}
func (x *Uint64) Add(d uint64) uint64 {
	yield()
	v := atomic.AddUint64(&x.v, d)
	rec("add", unsafe.Pointer(&x.v), uint64(v))
	return v
}
func (x *Uint64) Swap(v uint64) uint64 { yield(); return atomic.SwapUint64(&x.v, v) }

// StoreRelease is Store: the explorer runs one step at a time, and every
// step sees every earlier one.
func StoreRelease(x *Uint64, v uint64) { x.Store(v) }

// Fence is a scheduling point.
func Fence() { yield() }
func (x *Uint64) CompareAndSwap(o, n uint64) bool {
	yield()
	ok := atomic.CompareAndSwapUint64(&x.v, o, n)
	recCAS(unsafe.Pointer(&x.v), uint64(o), uint64(n), ok)
	return ok
}

// Int32 is sync/atomic's Int32 with scheduling points.
type Int32 struct{ v int32 }

func (x *Int32) Load() int32 {
	yield()
	v := atomic.LoadInt32(&x.v)
	rec("load", unsafe.Pointer(&x.v), uint64(v))
	return v
}
func (x *Int32) Store(v int32) {
	yield()
	atomic.StoreInt32(&x.v, v)
	rec("store", unsafe.Pointer(&x.v), uint64(v))
}
func (x *Int32) Add(d int32) int32 {
	yield()
	v := atomic.AddInt32(&x.v, d)
	rec("add", unsafe.Pointer(&x.v), uint64(v))
	return v
}
func (x *Int32) Swap(v int32) int32 { yield(); return atomic.SwapInt32(&x.v, v) }
func (x *Int32) CompareAndSwap(o, n int32) bool {
	yield()
	ok := atomic.CompareAndSwapInt32(&x.v, o, n)
	recCAS(unsafe.Pointer(&x.v), uint64(o), uint64(n), ok)
	return ok
}

func LoadUint32(p *uint32) uint32 {
	yield()
	v := atomic.LoadUint32(p)
	rec("load", unsafe.Pointer(p), uint64(v))
	return v
}

func StoreUint32(p *uint32, v uint32) {
	yield()
	atomic.StoreUint32(p, v)
	rec("store", unsafe.Pointer(p), uint64(v))
}

func AddUint32(p *uint32, d uint32) uint32 {
	yield()
	v := atomic.AddUint32(p, d)
	rec("add", unsafe.Pointer(p), uint64(v))
	return v
}

func CompareAndSwapUint32(p *uint32, o, n uint32) bool {
	yield()
	ok := atomic.CompareAndSwapUint32(p, o, n)
	recCAS(unsafe.Pointer(p), uint64(o), uint64(n), ok)
	return ok
}

func LoadUint64(p *uint64) uint64 {
	yield()
	v := atomic.LoadUint64(p)
	rec("load", unsafe.Pointer(p), v)
	return v
}

func StoreUint64(p *uint64, v uint64) {
	yield()
	atomic.StoreUint64(p, v)
	rec("store", unsafe.Pointer(p), v)
}

func CompareAndSwapUint64(p *uint64, o, n uint64) bool {
	yield()
	ok := atomic.CompareAndSwapUint64(p, o, n)
	recCAS(unsafe.Pointer(p), o, n, ok)
	return ok
}

// WakeCounts: the simulated kernel counts exactly, and so does the real
// one where the explorer runs (Linux).
const WakeCounts = true

// Wait blocks the simulated goroutine on addr while it holds val, until a
// Wake or until timeout passes in virtual time. Spurious returns never
// happen here, but callers must not rely on that.
// WaitContext is futex.WaitContext as a wait on its own thread does it:
// Wait, with wakeAll run once ctx is done (and waited for). The explorer
// has no parked waits, so every cancellation wakes through wakeAll, as
// it did before parked waits could end alone.
func WaitContext(ctx context.Context, addr *uint32, val uint32, timeout time.Duration, wakeAll func()) error {
	if ctx.Done() == nil {
		return Wait(addr, val, timeout)
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		wakeAll()
	})
	err := Wait(addr, val, timeout)
	if !stop() {
		<-done
	}
	return err
}

func Wait(addr *uint32, val uint32, timeout time.Duration) error {
	s, t := running()
	if s == nil {
		return futex.Wait(addr, val, timeout)
	}
	yield()
	if atomic.LoadUint32(addr) != val {
		return nil
	}
	if timeout <= 0 {
		return nil
	}
	rec(fmt.Sprintf("wait %v", timeout), unsafe.Pointer(addr), uint64(val))
	s.block(t, []*uint32{addr}, timeout)
	yield() // the explorer resumes us once woken or timed out
	return nil
}

// WaitAny blocks the simulated goroutine on every word of ws while each
// holds its value, until a Wake of any of them or until timeout passes in
// virtual time, as futex.WaitAny: it returns the index of the word woken
// or found changed, or -1 and os.ErrDeadlineExceeded. timeout must be
// positive.
func WaitAny(ws []futex.Watch, timeout time.Duration) (int, error) {
	s, t := running()
	if s == nil {
		return futex.WaitAny(ws, timeout)
	}
	yield()
	addrs := make([]*uint32, len(ws))
	for i := range ws {
		if atomic.LoadUint32(ws[i].Addr()) != ws[i].Val() {
			rec("waitany: differs", unsafe.Pointer(ws[i].Addr()), uint64(i))
			return i, nil
		}
		addrs[i] = ws[i].Addr()
	}
	if timeout <= 0 {
		return -1, os.ErrDeadlineExceeded
	}
	rec(fmt.Sprintf("waitany %d words %v", len(ws), timeout), unsafe.Pointer(addrs[0]), uint64(ws[0].Val()))
	s.block(t, addrs, timeout)
	yield() // the explorer resumes us once woken or timed out
	if t.woke >= 0 {
		return t.woke, nil
	}
	return -1, os.ErrDeadlineExceeded
}

// WaitAnyWakes: the simulated kernel's WaitAny is woken by Wakes.
func WaitAnyWakes() bool { return true }

// Wake wakes up to n goroutines waiting on addr, oldest first, and
// reports how many it woke.
func Wake(addr *uint32, n int) (int, error) {
	s, _ := running()
	if s == nil {
		return futex.Wake(addr, n)
	}
	yield()
	k := s.wake(addr, n)
	rec(fmt.Sprintf("wake %d: woke", n), unsafe.Pointer(addr), uint64(k))
	return k, nil
}

// WakeAll wakes every goroutine waiting on addr.
func WakeAll(addr *uint32) (int, error) {
	if s, _ := running(); s == nil {
		return futex.WakeAll(addr)
	}
	return Wake(addr, 1<<30)
}

// epoch is what virtual time 0 reads as.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Now reads the virtual clock (a scheduling point).
func Now() time.Time {
	s, _ := running()
	if s == nil {
		return time.Now()
	}
	yield()
	return epoch.Add(s.now)
}

// Since is Now().Sub(t).
func Since(t time.Time) time.Duration { return Now().Sub(t) }

// Until is t.Sub(Now()).
func Until(t time.Time) time.Duration { return t.Sub(Now()) }

// Sleep blocks the simulated goroutine for d of virtual time.
func Sleep(d time.Duration) {
	s, t := running()
	if s == nil {
		time.Sleep(d)
		return
	}
	yield()
	if d <= 0 {
		return
	}
	var nobody uint32 // no Wake ever names it
	s.block(t, []*uint32{&nobody}, d)
	yield()
}

// Pause is the spin-loop hint of a goroutine that polls a word another
// must change (shmx.Pause outside an exploration): a scheduling point
// after which the explorer runs another goroutine first, if one can run,
// without counting it as a preemption. Without it a bounded-preemption
// enumeration or a strict priority would let a poll loop spin for ever.
func Pause() {
	if _, t := running(); t != nil {
		t.paused = true
	}
	yield()
}

// Spinner spins a few steps (not a time budget): each Spin is a
// scheduling point.
type Spinner struct{ left int }

// NewSpinner returns a Spinner of spinSteps steps, whatever the budget.
func NewSpinner(time.Duration) Spinner { return Spinner{left: spinSteps} }

// NewPollSpinner is NewSpinner: under the explorer a batch is one step.
func NewPollSpinner(time.Duration) Spinner { return Spinner{left: spinSteps} }

// spinSteps is how many times a Spinner spins under the explorer.
const spinSteps = 3

// Spin yields and reports whether to keep spinning.
func (sp *Spinner) Spin() bool {
	yield()
	if sp.left <= 0 {
		return false
	}
	sp.left--
	return true
}

// Self returns the token of the simulated process running, or this
// process's outside an exploration.
func Self() uint32 {
	if _, t := running(); t != nil {
		return t.proc.Token
	}
	return live.Self()
}

// SelfHigh is Self shifted into the high half of a 64-bit word.
func SelfHigh() uint64 { return uint64(Self()) << 32 }

// Stripe is, under the explorer, the simulated goroutine's id plus the
// steps the schedule has taken so far: goroutines of one process get
// different numbers, and a goroutine's number changes from one call to
// the next as a real goroutine's P does when it moves (0 outside an
// exploration).
func Stripe() int {
	if s, t := running(); t != nil {
		return t.id + s.steps
	}
	return 0
}

// Gone says whether the simulated process with token was killed (a
// scheduling point: it stands for the system call that asks the kernel),
// also for the checks the explorer runs between steps. Tokens of no
// simulated process are unknown, never gone.
func Gone(p unsafe.Pointer, token uint32) bool {
	s := sim
	if s == nil {
		return live.Gone(p, token)
	}
	if _, t := running(); t != nil {
		yield()
	}
	for _, pr := range s.procs {
		if pr.Token == token {
			return pr.Dead
		}
	}
	return false
}

// Or and And, as in sync/atomic.

func (x *Uint32) Or(m uint32) uint32  { yield(); return atomic.OrUint32(&x.v, m) }
func (x *Uint32) And(m uint32) uint32 { yield(); return atomic.AndUint32(&x.v, m) }
func (x *Uint64) Or(m uint64) uint64  { yield(); return atomic.OrUint64(&x.v, m) }
func (x *Uint64) And(m uint64) uint64 { yield(); return atomic.AndUint64(&x.v, m) }
