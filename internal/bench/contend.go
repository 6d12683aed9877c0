package bench

import (
	"context"
	"encoding/binary"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmx/shmx"
	"github.com/shmx/shmx/internal/cbench"
	"github.com/shmx/shmx/memfile"
)

// contendPeer locks, bumps the guarded counter and unlocks until told to
// stop, and records its count and time. Each kind has its own loop so
// that no indirect call sits in the measured path. The stop word is read
// every 64 operations (a read-mostly line: cheap).
//
// Every 64 operations the loops also check ctx (the peer's -limit), so a
// peer whose parent died ends by itself.
func contendPeer(ctx context.Context, s *shared, a peerArgs) error {
	stop, ctr := s.u32(offStop), s.u64(offCounter)
	var ops int64
	t0 := time.Now()
	switch a.kind {
	case "contend-mutex":
		m, err := memfile.MutexAt(s.b[offMutex:])
		if err != nil {
			return err
		}
		for ; ops&63 != 0 || going(ctx, stop); ops++ {
			m.Lock()
			ctr.Store(ctr.Load() + 1)
			m.Unlock()
		}
	case "contend-rwmutex":
		rw, err := memfile.RWMutexAt(s.b[offRW:])
		if err != nil {
			return err
		}
		waits := s.writerWaits(a.id)
		var writes int
		var longest uint64
		for ; ops&63 != 0 || going(ctx, stop); ops++ {
			if ops%10 == 0 {
				t := shmx.Ticks()
				rw.Lock()
				t = shmx.Ticks() - t
				waits.record(writes, t)
				writes++
				longest = max(longest, t)
				ctr.Store(ctr.Load() + 1)
				rw.Unlock()
			} else {
				rw.RLock()
				_ = ctr.Load()
				rw.RUnlock()
			}
		}
		waits.finish(writes, longest)
	case "contend-pthread":
		if !cbench.Available {
			return errNoCgo
		}
		// cbench's loops are LockLoop (empty critical section) and
		// TimedLockLoop (two clock reads per lock, which would dwarf the
		// lock): the empty one is used, so this row does a little less
		// work than the others (no counter) and its counter is not checked.
		for going(ctx, stop) {
			cbench.LockLoop(s.b[offPthread:], 1000)
			ops += 1000
		}
	case "contend-pthreadrw":
		if !cbench.Available {
			return errNoCgo
		}
		// The counter is a plain one beside the atomic ctr of the Go
		// rows: the C loop increments it under the write lock.
		plain := (*uint64)(unsafe.Pointer(&s.b[offCounter]))
		for going(ctx, stop) {
			cbench.RWLoop(s.b[offPthread:], 1000, plain)
			ops += 1000
		}
	case "contend-flock", "contend-flockrw":
		n, err := flockContend(ctx, s, a)
		if err != nil {
			return err
		}
		ops = n
	}
	s.result(a.id, ops, time.Since(t0))
	return ctx.Err()
}

// going reports whether a contending peer goes on: not told to stop, and
// within its limit.
func going(ctx context.Context, stop *atomic.Uint32) bool {
	return stop.Load() == 0 && ctx.Err() == nil
}

// flockContend is contendPeer for flock: each process opens the lock file
// itself (flock locks belong to an open file description).
func flockContend(ctx context.Context, s *shared, a peerArgs) (int64, error) {
	fd, err := flockOpen(a.addr)
	if err != nil {
		return 0, err
	}
	defer flockClose(fd)
	stop, ctr := s.u32(offStop), s.u64(offCounter)
	readMostly := a.kind == "contend-flockrw"
	var ops int64
	for ; ops&63 != 0 || going(ctx, stop); ops++ {
		read := readMostly && ops%10 != 0
		if err := flockLock(fd, read); err != nil {
			return ops, err
		}
		if read {
			_ = ctr.Load()
		} else {
			ctr.Store(ctr.Load() + 1)
		}
		flockUnlock(fd)
	}
	return ops, nil
}

// Writer waits. Each RWMutex peer times every Lock of its loop (its
// wait, in Ticks: two reads of the cycle counter, a few ns beside an
// operation of tens) and keeps the last waitSamples of them, and the
// longest, in the shared payload, so that the row reports how long a
// writer waits among readers, not only how many operations all did.
const (
	waitSamples = 1 << 16
	waitStride  = 16 + 4*waitSamples // count, longest (ticks), samples (uint32 ticks)
)

// waitLog is one peer's part of the payload.
type waitLog struct{ b []byte }

// writerWaits returns peer id's log.
func (s *shared) writerWaits(id int) waitLog {
	off := offPayload + id*waitStride
	return waitLog{s.b[off : off+waitStride]}
}

// record logs wait number n, of t ticks (the last waitSamples are kept).
func (w waitLog) record(n int, t uint64) {
	binary.LittleEndian.PutUint32(w.b[16+4*(n&(waitSamples-1)):], uint32(min(t, math.MaxUint32)))
}

// finish stores how many waits were logged and the longest, once the
// loop ends (before the peer reports its result).
func (w waitLog) finish(n int, longest uint64) {
	binary.LittleEndian.PutUint64(w.b[0:], uint64(n))
	binary.LittleEndian.PutUint64(w.b[8:], longest)
}

// waitsNs returns the logged waits of procs peers in ns, and the longest.
func (s *shared) waitsNs(procs int) (lat []int64, longest float64) {
	perNs := 1e9 / float64(shmx.TicksPerSecond())
	for id := range procs {
		w := s.writerWaits(id)
		n := min(int(binary.LittleEndian.Uint64(w.b[0:])), waitSamples)
		for i := range n {
			lat = append(lat, int64(float64(binary.LittleEndian.Uint32(w.b[16+4*i:]))*perNs))
		}
		longest = max(longest, float64(binary.LittleEndian.Uint64(w.b[8:]))*perNs)
	}
	return lat, longest
}
