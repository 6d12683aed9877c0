//go:build !shmxexplore

package word

import (
	"context"
	"sync/atomic"
	"time"
	"unsafe" // and for go:linkname

	"github.com/shmx/shmx"
	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/internal/live"
)

// Exploring reports whether this is the -tags shmxexplore build.
const Exploring = false

// Typed atomics, as in sync/atomic.
type (
	Uint32 = atomic.Uint32
	Uint64 = atomic.Uint64
	Int32  = atomic.Int32
)

// Fence orders every load and store before it before every load after
// it (see "Release stores"): a locked add to a word of its own stack.
func Fence() {
	var f uint32
	atomic.AddUint32(&f, 0)
}

// Functions on plain words, as in sync/atomic.

func LoadUint32(p *uint32) uint32                      { return atomic.LoadUint32(p) }
func StoreUint32(p *uint32, v uint32)                  { atomic.StoreUint32(p, v) }
func AddUint32(p *uint32, d uint32) uint32             { return atomic.AddUint32(p, d) }
func CompareAndSwapUint32(p *uint32, o, n uint32) bool { return atomic.CompareAndSwapUint32(p, o, n) }
func LoadUint64(p *uint64) uint64                      { return atomic.LoadUint64(p) }
func StoreUint64(p *uint64, v uint64)                  { atomic.StoreUint64(p, v) }
func CompareAndSwapUint64(p *uint64, o, n uint64) bool { return atomic.CompareAndSwapUint64(p, o, n) }

// Wait is futex.Wait.
func Wait(addr *uint32, val uint32, timeout time.Duration) error {
	return futex.Wait(addr, val, timeout)
}

// WaitContext is futex.WaitContext.
func WaitContext(ctx context.Context, addr *uint32, val uint32, timeout time.Duration, wakeAll func()) error {
	return futex.WaitContext(ctx, addr, val, timeout, wakeAll)
}

// WaitAny is futex.WaitAny.
func WaitAny(ws []futex.Watch, timeout time.Duration) (int, error) {
	return futex.WaitAny(ws, timeout)
}

// WaitAnyWakes is futex.WaitAnyWakes.
func WaitAnyWakes() bool { return futex.WaitAnyWakes() }

// Wake is futex.Wake.
func Wake(addr *uint32, n int) (int, error) { return futex.Wake(addr, n) }

// WakeAll is futex.WakeAll.
func WakeAll(addr *uint32) (int, error) { return futex.WakeAll(addr) }

// WakeCounts is futex.WakeCounts.
const WakeCounts = futex.WakeCounts

// Now is time.Now.
func Now() time.Time { return time.Now() }

// Since is time.Since.
func Since(t time.Time) time.Duration { return time.Since(t) }

// Until is time.Until.
func Until(t time.Time) time.Duration { return time.Until(t) }

// Sleep is time.Sleep.
func Sleep(d time.Duration) { time.Sleep(d) }

// Pause is shmx.Pause.
func Pause() { shmx.Pause() }

// Spinner is shmx.Spinner.
type Spinner = shmx.Spinner

// NewSpinner is shmx.NewSpinner.
func NewSpinner(budget time.Duration) Spinner { return shmx.NewSpinner(budget) }

// NewPollSpinner is shmx.NewPollSpinner.
func NewPollSpinner(budget time.Duration) Spinner { return shmx.NewPollSpinner(budget) }

// Self is live.Self: this process's token.
func Self() uint32 { return self }

// SelfHigh is Self shifted into the high half of a 64-bit word, where
// lock words keep their owner: precomputed, so that a fast path that
// names its owner stays within the inlining budget.
func SelfHigh() uint64 { return selfHigh }

var (
	self     = live.Self()
	selfHigh = uint64(self) << 32
)

// Stripe is a small number, below GOMAXPROCS, that goroutines running
// at the same instant in this process never share: the id of the
// runtime's processor (P) the caller runs on. It is a hint for spreading
// goroutines over words of their own (a read lock's slots): the caller
// may run on another P by the time it uses the number, and goroutines that
// run one after the other share it. runtime.procPin is what sync.Pool
// uses for the same purpose; the runtime keeps it for packages that link
// to it (go.dev/issue/67401), and pinning for the length of a load costs
// two calls, no atomic.
func Stripe() int {
	p := procPin()
	procUnpin()
	return p
}

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// Gone is live.Gone.
func Gone(p unsafe.Pointer, token uint32) bool { return live.Gone(p, token) }
