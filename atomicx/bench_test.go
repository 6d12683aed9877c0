package atomicx

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shmx/shmx"
)

// mutexPair is the obvious alternative to CAS128 inside one process: a
// 128-bit pair behind a sync.Mutex.
type mutexPair struct {
	mu sync.Mutex
	v  Uint128
}

func (p *mutexPair) cas(old, new Uint128) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.v != old {
		return false
	}
	p.v = new
	return true
}

func (p *mutexPair) load() Uint128 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.v
}

// spinPair is the alternative that also works across processes without
// CAS128: a pair behind a spinlock on a 32-bit word beside it, which is
// what shared memory offers without 128-bit atomics (a holder that dies
// leaves it locked for good, which CAS128 cannot).
type spinPair struct {
	lock atomic.Uint32
	v    Uint128
}

func (p *spinPair) acquire() {
	for !p.lock.CompareAndSwap(0, 1) {
		shmx.Pause()
	}
}

func (p *spinPair) cas(old, new Uint128) bool {
	p.acquire()
	defer p.lock.Store(0)
	if p.v != old {
		return false
	}
	p.v = new
	return true
}

func (p *spinPair) load() Uint128 {
	p.acquire()
	defer p.lock.Store(0)
	return p.v
}

// benchImpls runs bench once per implementation, once for mutexPair and
// once for spinPair,
// as sub-benchmarks impl=<name>, so that benchstat -col /impl puts them
// side by side. cas and load are the operations to use.
func benchImpls(b *testing.B, bench func(b *testing.B, cas func(*Uint128, Uint128, Uint128) bool, load func(*Uint128) Uint128)) {
	for _, im := range impls() {
		b.Run("impl="+im.name, func(b *testing.B) {
			defer im.set()()
			b.ReportAllocs()
			bench(b, CAS128, Load128)
		})
	}
	b.Run("impl=mutex", func(b *testing.B) {
		b.ReportAllocs()
		var p mutexPair
		bench(b,
			func(_ *Uint128, old, new Uint128) bool { return p.cas(old, new) },
			func(*Uint128) Uint128 { return p.load() })
	})
	b.Run("impl=spinlock", func(b *testing.B) {
		b.ReportAllocs()
		var p spinPair
		bench(b,
			func(_ *Uint128, old, new Uint128) bool { return p.cas(old, new) },
			func(*Uint128) Uint128 { return p.load() })
	})
}

// BenchmarkCAS128 is one successful 128-bit compare-and-swap, uncontended.
func BenchmarkCAS128(b *testing.B) {
	benchImpls(b, func(b *testing.B, cas func(*Uint128, Uint128, Uint128) bool, _ func(*Uint128) Uint128) {
		u := newUint128(b)
		var v Uint128
		for b.Loop() {
			next := Uint128{v.Lo + 1, v.Hi + 1}
			if !cas(u, v, next) {
				b.Fatal("uncontended CAS failed")
			}
			v = next
		}
	})
}

// BenchmarkLoad128 is one 128-bit atomic load, uncontended.
func BenchmarkLoad128(b *testing.B) {
	benchImpls(b, func(b *testing.B, _ func(*Uint128, Uint128, Uint128) bool, load func(*Uint128) Uint128) {
		u := newUint128(b)
		for b.Loop() {
			load(u)
		}
	})
}

// BenchmarkCAS128Contended is a Load128+CAS128 increment loop run by all
// Ps on one 128-bit value (on its own cache line).
func BenchmarkCAS128Contended(b *testing.B) {
	benchImpls(b, func(b *testing.B, cas func(*Uint128, Uint128, Uint128) bool, load func(*Uint128) Uint128) {
		u, _ := Uint128At(aligned(128), 0)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				for {
					v := load(u)
					if cas(u, v, Uint128{v.Lo + 1, v.Hi + 1}) {
						break
					}
				}
			}
		})
	})
}
