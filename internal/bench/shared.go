package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/shmx/shmx/atomicx"
	"github.com/shmx/shmx/internal/cbench"
	"github.com/shmx/shmx/memfile"
)

// Layout of the user data of the memfile each cross-process row shares
// with its peers. Words that different processes write sit on their own
// 128-byte lines so that the rows measure the primitive, not false sharing.
const (
	offReady   = 0    // uint32: peers that reached the start barrier
	offStop    = 128  // uint32: 1 tells peers to stop
	offResults = 256  // maxProcs × {ops, ns uint64}: what each peer did
	maxProcs   = 64   //
	offMutex   = 2048 // memfile.Mutex
	offCounter = 2176 // uint64 guarded by the lock under test
	offTurn    = 2304 // uint32: whose turn it is in a hand-off (0 parent, 1 peer)
	offN       = 2432 // uint64: the round count the parent chose for a C loop
	offRW      = 2560 // memfile.RWMutex (RWMutexSize, 1088 bytes: up to 3648)
	offPthread = 4096 // cbench shared pthread mutex, cond and rwlock
	offPayload = 16384
)

// Events of the shared memfile.
const (
	evStart = iota // manual-reset: the parent releases the peers
	evReq          // parent → peer
	evResp         // peer → parent
	evParam        // the parent published offN
	numEvents
)

// shared is one process's handle on a row's memfile.
type shared struct {
	f                       *memfile.MemFile
	b                       []byte
	start, req, resp, param *memfile.Event
	peers                   []*exec.Cmd // the row's peer processes, once started
}

// newShared creates the memfile for a row with payload bytes after
// offPayload, with opts.
func (e *env) newShared(payload int, opts ...memfile.Option) (*shared, error) {
	e.seq++
	link := filepath.Join(e.dir, fmt.Sprintf("row%d.link", e.seq))
	f, err := memfile.Create(link, memfile.LockNone, offPayload+payload, append(opts, memfile.WithEvents(numEvents))...)
	if err != nil {
		return nil, err
	}
	s, err := attach(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.start.Init(memfile.ManualReset)
	if cbench.Available {
		if err := cbench.InitShared(s.b[offPthread:]); err != nil {
			f.Close()
			return nil, err
		}
	}
	return s, nil
}

// openShared opens a row's memfile in a peer, with the options it was
// created with.
func openShared(link string, opts ...memfile.Option) (*shared, error) {
	f, err := memfile.Open(link, opts...)
	if err != nil {
		return nil, err
	}
	s, err := attach(f)
	if err != nil {
		f.Close()
	}
	return s, err
}

func attach(f *memfile.MemFile) (*shared, error) {
	s := &shared{f: f, b: f.Bytes()}
	evs := []**memfile.Event{&s.start, &s.req, &s.resp, &s.param}
	for i, p := range evs {
		ev, err := f.Event(i)
		if err != nil {
			return nil, err
		}
		*p = ev
	}
	return s, nil
}

func (s *shared) close() { s.f.Close() }

func (s *shared) link() string { return s.f.LinkPath() }

// u32 and u64 return the words at fixed offsets of the layout above; the
// offsets are constants within the mapping, so an error is a bug.
func (s *shared) u32(off int) *atomic.Uint32 {
	w, err := atomicx.Uint32At(s.b, off)
	if err != nil {
		panic(err)
	}
	return w
}

func (s *shared) u64(off int) *atomic.Uint64 {
	w, err := atomicx.Uint64At(s.b, off)
	if err != nil {
		panic(err)
	}
	return w
}

func (s *shared) stopped() bool { return s.u32(offStop).Load() != 0 }

// result records what peer id did.
func (s *shared) result(id int, ops int64, d time.Duration) {
	s.u64(offResults + 16*id).Store(uint64(ops))
	s.u64(offResults + 16*id + 8).Store(uint64(d.Nanoseconds()))
}

// barrier is the peer's side of the start: count in, wait for the parent.
func (s *shared) barrier(ctx context.Context) error {
	s.u32(offReady).Add(1)
	return s.start.Wait(ctx)
}

// launch starts n peers with start(i), waits until all of them are at
// the barrier, and releases them. A process start can hang in the child
// between fork and exec (seen under qemu-user, whose fork of a
// multithreaded emulator can deadlock): peers that do not all arrive within
// peerAttempt are killed and started again, up to peerAttempts times.
func (s *shared) launch(ctx context.Context, n int, start func(i int) (*exec.Cmd, error)) ([]*exec.Cmd, error) {
	for attempt := 1; ; attempt++ {
		s.u32(offReady).Store(0)
		var peers []*exec.Cmd
		for i := range n {
			p, err := start(i)
			if err != nil {
				killPeers(peers)
				return nil, err
			}
			peers = append(peers, p)
		}
		deadline := time.Now().Add(peerAttempt)
		for s.u32(offReady).Load() < uint32(n) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		if s.u32(offReady).Load() >= uint32(n) {
			s.start.Set()
			return peers, nil
		}
		killPeers(peers)
		if attempt == peerAttempts || ctx.Err() != nil {
			return nil, fmt.Errorf("peers did not start within %v, %d times", peerAttempt, attempt)
		}
	}
}

// How long a peer may take to start, and how often to try.
const (
	peerAttempt  = 30 * time.Second
	peerAttempts = 3
)

// peerStartLimit bounds the whole start of a row's peers.
const peerStartLimit = peerAttempts * peerAttempt

// startPeer starts a peer running kind on s, with more flags.
func (e *env) startPeer(ctx context.Context, kind string, s *shared, more ...string) (*exec.Cmd, error) {
	args := []string{"-kind", kind, "-limit", (e.Duration + peerStartLimit + time.Minute).String()}
	if s != nil {
		args = append(args, "-link", s.link())
	}
	cmd := e.Peer(ctx, append(args, more...)...)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	return cmd, cmd.Start()
}

// stopPeers tells the peers to stop and waits for them.
func stopPeers(s *shared, peers []*exec.Cmd) error {
	if s != nil {
		s.u32(offStop).Store(1)
	}
	var first error
	for _, p := range peers {
		if err := p.Wait(); err != nil && first == nil {
			first = fmt.Errorf("peer %s: %w", p.Args, err)
		}
	}
	return first
}

// killPeers ends peers after a failure.
func killPeers(peers []*exec.Cmd) {
	for _, p := range peers {
		if p.Process != nil {
			p.Process.Kill()
			p.Wait()
		}
	}
}
