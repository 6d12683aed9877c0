package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/shmx/shmx/internal/cbench"
	"github.com/shmx/shmx/memfile"
)

// uncontendedRows: one process locks and unlocks with nobody else around,
// the fast path every lock should make cheap. These rows are short and
// sensitive to whatever else the machine does, so they run together:
// interleaved in uncontendedRounds slices of Duration/uncontendedRounds
// each, and each row reports its best slice.
func (e *env) uncontendedRows() []row {
	const g = "lock+unlock, uncontended"
	u := &uncontended{e: e}
	return []row{
		{g, "shmx Mutex", true, "", u.row(0)},
		{g, "sync.Mutex (one process only)", false, "shmx Mutex", u.row(1)},
		{g, "pthread mutex, process-shared (C loop)", false, "shmx Mutex", u.row(2)},
		{g, "flock", false, "shmx Mutex", u.row(3)},
	}
}

const uncontendedRounds = 5

// uncontended measures all four loops when its first row runs and hands
// out the results row by row.
type uncontended struct {
	e    *env
	res  [4]Result
	errs [4]error
	done bool
}

func (u *uncontended) row(i int) func(context.Context) (Result, error) {
	return func(ctx context.Context) (Result, error) {
		if !u.done {
			u.done = true
			u.measure()
		}
		return u.res[i], u.errs[i]
	}
}

func (u *uncontended) measure() {
	e := u.e
	s, err := e.newShared(0)
	if err != nil {
		u.errs = [4]error{err, err, err, err}
		return
	}
	defer s.close()
	loops := [4]func(time.Duration) (Result, error){
		func(d time.Duration) (Result, error) { return e.uncontendedMutex(s, d) },
		func(d time.Duration) (Result, error) { return e.uncontendedSync(d), nil },
		func(d time.Duration) (Result, error) { return e.uncontendedPthread(s, d) },
		func(d time.Duration) (Result, error) { return e.uncontendedFlock(d) },
	}
	for range uncontendedRounds {
		for i, loop := range loops {
			if u.errs[i] != nil {
				continue
			}
			r, err := loop(e.Duration / uncontendedRounds)
			if err != nil {
				u.errs[i] = err
				continue
			}
			if u.res[i].Value == 0 || r.Value < u.res[i].Value {
				r.Ops += u.res[i].Ops
				u.res[i] = r
			} else {
				u.res[i].Ops += r.Ops
			}
		}
	}
}

// timeLoop calls batch(n) until d has passed and returns the time per op.
func timeLoop(d time.Duration, n int, batch func(n int)) Result {
	var ops int64
	start := time.Now()
	for time.Since(start) < d {
		batch(n)
		ops += int64(n)
	}
	return Result{Unit: NsPerOp, Value: float64(time.Since(start).Nanoseconds()) / float64(ops), Ops: ops}
}

func (e *env) uncontendedMutex(s *shared, d time.Duration) (Result, error) {
	m, err := memfile.MutexAt(s.b[offMutex:])
	if err != nil {
		return Result{}, err
	}
	return timeLoop(d, 10000, func(n int) {
		for range n {
			m.Lock()
			m.Unlock()
		}
	}), nil
}

func (e *env) uncontendedSync(d time.Duration) Result {
	var m sync.Mutex
	return timeLoop(d, 10000, func(n int) {
		for range n {
			m.Lock()
			m.Unlock() //nolint:staticcheck // an empty critical section is what is measured
		}
	})
}

func (e *env) uncontendedPthread(s *shared, d time.Duration) (Result, error) {
	if !cbench.Available {
		return Result{Unit: NsPerOp}, errNoCgo
	}
	return timeLoop(d, 10000, func(n int) { cbench.LockLoop(s.b[offPthread:], n) }), nil
}

func (e *env) uncontendedFlock(d time.Duration) (Result, error) {
	fd, err := flockOpen(filepath.Join(e.dir, "uncontended.lock"))
	if err != nil {
		return Result{Unit: NsPerOp}, err
	}
	defer flockClose(fd)
	var lerr error
	r := timeLoop(d, 1000, func(n int) {
		for range n {
			if err := flockLock(fd, false); err != nil {
				lerr = err
				return
			}
			flockUnlock(fd)
		}
	})
	return r, lerr
}

// contendedRows: Procs processes lock, bump a shared counter and unlock as
// fast as they can; the figure is the total rate. The exclusive rows and
// the read-mostly rows are each measured in turns (see interleaved). The
// RWMutex row's percentiles are of a writer's wait in Lock, with the
// longest.
func (e *env) contendedRows() []row {
	g := fmt.Sprintf("contended throughput, %d processes", e.Procs)
	run := func(kind string) func(context.Context) (Result, error) {
		return func(ctx context.Context) (Result, error) { return e.contended(ctx, kind) }
	}
	excl := e.interleaved(run("mutex"), run("pthread"), run("flock"))
	shared := e.interleaved(run("rwmutex"), run("pthreadrw"), run("flockrw"))
	return []row{
		{g, "shmx Mutex", true, "", excl[0]},
		{g, "shmx RWMutex, 90% reads (percentiles: writer waits)", true, "", shared[0]},
		{g, "pthread mutex, process-shared (C loop, empty critical section)", false, "shmx Mutex", excl[1]},
		{g, "pthread rwlock, process-shared, 90% reads (C loop)", false, "shmx RWMutex, 90% reads (percentiles: writer waits)", shared[1]},
		{g, "flock", false, "shmx Mutex", excl[2]},
		{g, "flock, 90% shared", false, "shmx RWMutex, 90% reads (percentiles: writer waits)", shared[2]},
	}
}

// contended runs Procs peers of kind for Duration and sums their rates.
func (e *env) contended(ctx context.Context, kind string) (Result, error) {
	if (kind == "pthread" || kind == "pthreadrw") && !cbench.Available {
		return Result{}, errNoCgo
	}
	if (kind == "flock" || kind == "flockrw") && !flockAvailable {
		return Result{}, errNoFlock
	}
	procs := min(e.Procs, maxProcs)
	payload := 0
	if kind == "rwmutex" {
		payload = procs * waitStride
	}
	s, err := e.newShared(payload)
	if err != nil {
		return Result{}, err
	}
	defer s.close()
	lockPath := filepath.Join(e.dir, "contended.lock")
	peers, err := s.launch(ctx, procs, func(i int) (*exec.Cmd, error) {
		return e.startPeer(ctx, "contend-"+kind, s, "-id", fmt.Sprint(i), "-addr", lockPath)
	})
	if err != nil {
		return Result{}, err
	}
	sleepCtx(ctx, e.Duration)
	if err := stopPeers(s, peers); err != nil {
		return Result{}, err
	}
	var ops, longest uint64
	for i := range procs {
		ops += s.u64(offResults + 16*i).Load()
		longest = max(longest, s.u64(offResults+16*i+8).Load())
	}
	if n := s.u64(offCounter).Load(); (kind == "mutex" || kind == "flock") && n != ops {
		return Result{}, fmt.Errorf("lost updates: the guarded counter is %d after %d locked increments", n, ops)
	}
	if longest == 0 {
		return Result{}, fmt.Errorf("peers report no time")
	}
	r := Result{Unit: OpsPerSec, Value: float64(ops) / (float64(longest) / 1e9), Ops: int64(ops)}
	if kind == "rwmutex" {
		var lat []int64
		lat, r.Max = s.waitsNs(procs)
		fillPercentiles(&r, lat)
	}
	return r, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
