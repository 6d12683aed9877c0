package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/shmx/shmx/internal/cbench"
	"github.com/shmx/shmx/memfile"
)

// peerArgs are the flags Config.Peer's process passes to RunPeer.
type peerArgs struct {
	kind, link, network, addr string
	id, size, rounds, subs    int
	bytes                     int64
	limit                     time.Duration
	huge                      bool // the memfile is on huge pages
	wait                      memfile.WaitStrategy
}

// RunPeer is the body of a peer process: it parses the arguments the bench
// gave Config.Peer and plays its side of one row. It returns when the
// parent says stop or closes the stream, or after the -limit it was given
// (so that a peer never outlives a parent that died).
func RunPeer(args []string) error {
	fs := flag.NewFlagSet("bench peer", flag.ContinueOnError)
	var a peerArgs
	fs.StringVar(&a.kind, "kind", "", "what to do")
	fs.StringVar(&a.link, "link", "", "link file of the row's memfile")
	fs.StringVar(&a.network, "net", "", "pipe, unix or tcp")
	fs.StringVar(&a.addr, "addr", "", "socket address, or lock file path")
	fs.IntVar(&a.id, "id", 0, "index of this peer")
	fs.IntVar(&a.size, "size", 0, "message size")
	fs.IntVar(&a.subs, "subs", bcSubs, "subscribers of the broadcast rows")
	fs.Int64Var(&a.bytes, "bytes", 0, "bulk transfer size")
	fs.IntVar(&a.rounds, "rounds", 1, "bulk transfers to receive")
	fs.DurationVar(&a.limit, "limit", time.Minute, "give up after this long")
	fs.BoolVar(&a.huge, "huge", false, "open the memfile on huge pages")
	fs.TextVar(&a.wait, "wait", memfile.Backoff, "wait strategy of the echo rows")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(memfile.WithWaitStrategy(context.Background(), a.wait), a.limit)
	defer cancel()
	if strings.HasPrefix(a.kind, "bcast-") {
		return broadcastPeer(ctx, a)
	}
	if a.network != "" {
		return streamPeer(ctx, a)
	}
	s, err := openShared(a.link, segmentOptions(a.huge)...)
	if err != nil {
		return err
	}
	defer s.close()
	// A sink's buffer is made and touched before the barrier, so that the
	// parent's clock never runs while the peer is still preparing.
	var dst []byte
	if a.kind == "sink-ring" {
		dst = window(a.bytes)
	}
	if err := s.barrier(ctx); err != nil {
		return err
	}
	if play := spinPeers[a.kind]; play != nil {
		return play(ctx, s, a)
	}
	switch a.kind {
	case "contend-mutex", "contend-rwmutex", "contend-pthread", "contend-pthreadrw", "contend-flock", "contend-flockrw":
		return contendPeer(ctx, s, a)
	case "pong-mutex":
		return pongMutexPeer(ctx, s)
	case "pong-event":
		return pongEventPeer(ctx, s)
	case "pong-pthread-poll":
		return pongCPeer(ctx, s, cbench.PollPong)
	case "pong-pthread-cond":
		return pongCPeer(ctx, s, cbench.PingPong)
	case "echo-event":
		return echoEventPeer(ctx, s, a.size)
	case "echo-ring":
		return echoRingPeer(ctx, s, a.size)
	case "sink-ring", "sink-ring-inplace":
		return sinkRingPeer(ctx, s, a.bytes, a.rounds, dst)
	}
	if f := ringTPPeers[a.kind]; f != nil {
		return f(ctx, s, a.kind)
	}
	return fmt.Errorf("bench peer: unknown -kind %q", a.kind)
}

// errLimit ends a peer whose parent never said stop.
var errLimit = errors.New("bench peer: -limit reached before the parent said stop")

func pongMutexPeer(ctx context.Context, s *shared) error {
	m, err := memfile.MutexAt(s.b[offMutex:])
	if err != nil {
		return err
	}
	turn, stop := s.u32(offTurn), s.u32(offStop)
	for i := 0; stop.Load() == 0; i++ {
		if i&4095 == 4095 && ctx.Err() != nil {
			return errLimit
		}
		m.Lock()
		if turn.Load() == 1 {
			turn.Store(0)
		}
		m.Unlock()
	}
	return nil
}

func pongEventPeer(ctx context.Context, s *shared) error {
	for {
		if err := s.req.Wait(ctx); err != nil {
			return err
		}
		if s.stopped() {
			return nil
		}
		s.resp.Set()
	}
}

// pongCPeer plays the calibration run, then the measured run of the count
// the parent publishes.
func pongCPeer(ctx context.Context, s *shared, loop func(mem []byte, me, n int)) error {
	if !cbench.Available {
		return errNoCgo
	}
	mem := s.b[offPthread:]
	loop(mem, 1, calibrate)
	if err := s.param.Wait(ctx); err != nil {
		return err
	}
	loop(mem, 1, int(s.u64(offN).Load()))
	return nil
}

func echoEventPeer(ctx context.Context, s *shared, size int) error {
	req, resp := eventAreas(s, size)
	buf := make([]byte, size)
	for {
		if err := s.req.Wait(ctx); err != nil {
			return err
		}
		if s.stopped() {
			return nil
		}
		copy(buf, req)
		copy(resp, buf)
		s.resp.Set()
	}
}

func echoRingPeer(ctx context.Context, s *shared, size int) error {
	req, resp, err := rings(s, size, false)
	if err != nil {
		return err
	}
	buf := make([]byte, size)
	for {
		n, err := req.Recv(ctx, buf)
		if err != nil {
			return err
		}
		if s.stopped() {
			return nil
		}
		if err := resp.Send(ctx, buf[:n]); err != nil {
			return err
		}
	}
}

// sinkRingPeer receives rounds transfers of total bytes from the bulk
// Ring, checking the sequence stamp of every chunk, and says so after
// each. With a dst window it copies each chunk out into dst, as a socket
// read would; without one it reads the chunk where it lies (every cache
// line of it, see foldLines), as a consumer of shared memory does.
func sinkRingPeer(ctx context.Context, s *shared, total int64, rounds int, dst []byte) error {
	size := memfile.RingSize(bulkSlot, bulkCap)
	r, err := memfile.RingAt(s.b[offPayload : offPayload+size])
	if err != nil {
		return err
	}
	var sum uint64
	seq := uint64(0)
	recv := func(off, k int64) error {
		slot, err := r.BeginRecv(ctx)
		if err != nil {
			return err
		}
		b := slot.Bytes()
		ok := int64(len(b)) == k && (len(b) < 8 || binary.LittleEndian.Uint64(b) == seq)
		if ok && dst != nil {
			copy(dst[off:], b)
		} else if ok {
			sum += foldLines(b)
		}
		slot.Release()
		if !ok {
			return fmt.Errorf("bench peer: chunk %d arrived wrong (%d bytes, want %d)", seq, len(b), k)
		}
		seq++
		return nil
	}
	for range rounds {
		if err := spans(total, windowLen(total), bulkSlot, recv); err != nil {
			return err
		}
		s.resp.Set()
	}
	runtime.KeepAlive(sum)
	return nil
}

// foldLines reads one word of every 64-byte line of b (and its last
// byte) and adds them up: that brings all of b into the reader's cache,
// which is what moving the bytes to the receiver costs, without timing
// the receiver's own processing, which every transport would add alike.
func foldLines(b []byte) uint64 {
	var s uint64
	for len(b) >= 64 {
		s += binary.LittleEndian.Uint64(b)
		b = b[64:]
	}
	if len(b) > 0 {
		s += uint64(b[len(b)-1])
	}
	return s
}

// streamPeer is the far end of a stream row: an echo or a sink.
func streamPeer(ctx context.Context, a peerArgs) error {
	var rw io.ReadWriter
	switch a.network {
	case "pipe":
		rw = struct {
			io.Reader
			io.Writer
		}{os.Stdin, os.Stdout}
	case "unix", "tcp":
		var d net.Dialer
		c, err := d.DialContext(ctx, a.network, a.addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		rw = c
	default:
		return fmt.Errorf("bench peer: unknown -net %q", a.network)
	}
	var buf []byte // made before the hello, as a Ring sink's is
	if a.kind == "sink-stream" {
		buf = window(a.bytes)
	}
	if _, err := rw.Write([]byte{1}); err != nil { // hello: this peer is up
		return err
	}
	switch a.kind {
	case "echo-stream":
		return echo(rw, a.size)
	case "sink-stream":
		return sink(rw, a.bytes, a.rounds, buf)
	}
	return fmt.Errorf("bench peer: unknown -kind %q", a.kind)
}

// echo sends back every size-byte message until EOF.
func echo(rw io.ReadWriter, size int) error {
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(rw, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if _, err := rw.Write(buf); err != nil {
			return err
		}
	}
}

// sink reads rounds transfers of total bytes, acknowledging each.
func sink(rw io.ReadWriter, total int64, rounds int, buf []byte) error {
	ack := []byte{1}
	w := int64(len(buf))
	for range rounds {
		for got := int64(0); got < total; {
			off := got % w
			n, err := rw.Read(buf[off:min(w, off+total-got)])
			if err != nil {
				return err
			}
			got += int64(n)
		}
		if _, err := rw.Write(ack); err != nil {
			return err
		}
	}
	return nil
}
