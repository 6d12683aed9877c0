package bench

import (
	"time"

	"github.com/shmx/shmx/internal/cbench"
	"github.com/shmx/shmx/memfile"
)

// contendPeer locks, bumps the guarded counter and unlocks until told to
// stop, and records its count and time. Each kind has its own loop so
// that no indirect call sits in the measured path. The stop word is read
// every 64 operations (a read-mostly line: cheap).
func contendPeer(s *shared, a peerArgs) error {
	stop, ctr := s.u32(offStop), s.u64(offCounter)
	var ops int64
	t0 := time.Now()
	switch a.kind {
	case "contend-mutex":
		m, err := memfile.MutexAt(s.b[offMutex:])
		if err != nil {
			return err
		}
		for ; ops&63 != 0 || stop.Load() == 0; ops++ {
			m.Lock()
			ctr.Store(ctr.Load() + 1)
			m.Unlock()
		}
	case "contend-rwmutex":
		rw, err := memfile.RWMutexAt(s.b[offRW:])
		if err != nil {
			return err
		}
		for ; ops&63 != 0 || stop.Load() == 0; ops++ {
			if ops%10 == 0 {
				rw.Lock()
				ctr.Store(ctr.Load() + 1)
				rw.Unlock()
			} else {
				rw.RLock()
				_ = ctr.Load()
				rw.RUnlock()
			}
		}
	case "contend-pthread":
		if !cbench.Available {
			return errNoCgo
		}
		for stop.Load() == 0 {
			cbench.TimedLockLoop(s.b[offPthread:], 1000, counterPtr(s))
			ops += 1000
		}
	case "contend-flock", "contend-flockrw":
		n, err := flockContend(s, a)
		if err != nil {
			return err
		}
		ops = n
	}
	s.result(a.id, ops, time.Since(t0))
	return nil
}

// flockContend is contendPeer for flock: each process opens the lock file
// itself (flock locks belong to an open file description).
func flockContend(s *shared, a peerArgs) (int64, error) {
	fd, err := flockOpen(a.addr)
	if err != nil {
		return 0, err
	}
	defer flockClose(fd)
	stop, ctr := s.u32(offStop), s.u64(offCounter)
	readMostly := a.kind == "contend-flockrw"
	var ops int64
	for ; ops&63 != 0 || stop.Load() == 0; ops++ {
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
