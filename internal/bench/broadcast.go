package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/shmx/shmx/memfile"
)

// The broadcast rows: one publisher process (the bench) sends 64-byte
// messages to bcSubs subscriber processes, every subscriber receiving
// every message, through a memfile.Broadcast with back-pressure (so that
// nothing is lost and the rates compare), and through one Unix socket
// per subscriber (a write per message per subscriber; each subscriber
// reads through a 64 KiB buffer, which favours the sockets).
//
// A run has two phases. Throughput: for half the duration the publisher
// sends as fast as it can, then an end-of-phase message; the rate is the
// message count over the time from the first send to the last
// subscriber's receipt of that end message. Latency: for the other half
// the publisher sends one message every bcGap, stamped with the wall
// clock (comparable across processes on one machine); each subscriber
// records receipt minus stamp and reports its p50 and p99. The latency
// group also runs the memfile Ring's 64 B round trip and halves it, the
// one-way hand-off the goal is stated against.
const (
	bcSubs   = 4
	bcSize   = 64
	bcCap    = 256
	bcGap    = 50 * time.Microsecond
	bcNormal = 0
	bcEnd    = 1 // end of the throughput phase
	bcStop   = 2
)

// bcRun is what one transport's run measured.
type bcRun struct {
	once  sync.Once
	err   error
	rate  float64 // messages per second to all subscribers
	msgs  int64
	p50   [bcSubs]float64
	p99   [bcSubs]float64
	count [bcSubs]int64 // latency samples per subscriber
}

// broadcastRows lists the broadcast groups; each transport runs once and
// feeds its throughput row and its per-subscriber latency rows.
func (e *env) broadcastRows() []row {
	g := fmt.Sprintf("broadcast %d B to %d subscriber processes", bcSize, bcSubs)
	gl := g + ": latency"
	const shmName, sockName = "memfile Broadcast", "Unix socket per subscriber"
	var shm, sock bcRun
	run := func(r *bcRun, f func(context.Context, *bcRun) error) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			r.once.Do(func() { r.err = f(ctx, r) })
			return r.err
		}
	}
	shmRun, sockRun := run(&shm, e.broadcastShm), run(&sock, e.broadcastSock)
	rate := func(r *bcRun, do func(context.Context) error) func(context.Context) (Result, error) {
		return func(ctx context.Context) (Result, error) {
			if err := do(ctx); err != nil {
				return Result{Unit: OpsPerSec}, err
			}
			return Result{Unit: OpsPerSec, Value: r.rate, Ops: r.msgs}, nil
		}
	}
	rows := []row{
		{g, shmName, true, "", rate(&shm, shmRun)},
		{g, sockName, false, shmName, rate(&sock, sockRun)},
	}
	lat := func(r *bcRun, do func(context.Context) error, i int) func(context.Context) (Result, error) {
		return func(ctx context.Context) (Result, error) {
			if err := do(ctx); err != nil {
				return Result{Unit: NsPerOp}, err
			}
			return Result{Unit: NsPerOp, Value: r.p50[i], P50: r.p50[i], P99: r.p99[i], Ops: r.count[i]}, nil
		}
	}
	const half = "memfile Ring round trip / 2"
	// The Ring's half round trip is the reference the goal names: its
	// ratio is subscriber 0's p50 over it.
	rows = append(rows, row{gl, half, false, shmName + ", subscriber 0 p50", func(ctx context.Context) (Result, error) {
		r, err := e.echoRing(ctx, bcSize)
		r.Unit = NsPerOp
		r.Value, r.P50, r.P99, r.P999 = r.P50/2, r.P50/2, r.P99/2, r.P999/2
		return r, err
	}})
	for i := range bcSubs {
		name := fmt.Sprintf("%s, subscriber %d p50", shmName, i)
		rows = append(rows, row{gl, name, true, "", lat(&shm, shmRun, i)})
	}
	for i := range bcSubs {
		name := fmt.Sprintf("%s, subscriber %d p50", sockName, i)
		rows = append(rows, row{gl, name, false, fmt.Sprintf("%s, subscriber %d p50", shmName, i), lat(&sock, sockRun, i)})
	}
	return rows
}

// bcMessage fills msg: stamp (0: untimed), sequence, kind.
func bcMessage(msg []byte, stamp int64, seq uint64, kind uint64) []byte {
	binary.LittleEndian.PutUint64(msg, uint64(stamp))
	binary.LittleEndian.PutUint64(msg[8:], seq)
	binary.LittleEndian.PutUint64(msg[16:], kind)
	return msg
}

// bcPublish runs both phases, sending each message with send.
func (e *env) bcPublish(ctx context.Context, send func([]byte) error) (msgs int64, t0 time.Time, err error) {
	msg := make([]byte, bcSize)
	t0 = time.Now()
	deadline := t0.Add(e.Duration / 2)
	for ; msgs&255 != 0 || time.Now().Before(deadline); msgs++ {
		if err := send(bcMessage(msg, 0, uint64(msgs), bcNormal)); err != nil {
			return 0, t0, err
		}
	}
	if err := send(bcMessage(msg, 0, uint64(msgs), bcEnd)); err != nil {
		return 0, t0, err
	}
	deadline = time.Now().Add(e.Duration / 2)
	for seq := msgs + 1; time.Now().Before(deadline) && ctx.Err() == nil; seq++ {
		next := time.Now().Add(bcGap)
		if err := send(bcMessage(msg, time.Now().UnixNano(), uint64(seq), bcNormal)); err != nil {
			return 0, t0, err
		}
		for time.Now().Before(next) {
		}
	}
	return msgs, t0, send(bcMessage(msg, 0, 0, bcStop))
}

// bcReport is what a subscriber reports: messages of the throughput
// phase, wall time of the end message, latency p50, p99 and samples.
type bcReport [5]int64

// bcReceive is a subscriber's loop: recv returns the next message.
func bcReceive(recv func() ([]byte, error)) (bcReport, error) {
	var r bcReport
	lat := make([]int64, 0, 1<<16)
	for {
		m, err := recv()
		if err != nil {
			return r, err
		}
		stamp, kind := int64(binary.LittleEndian.Uint64(m)), binary.LittleEndian.Uint64(m[16:])
		switch {
		case kind == bcEnd:
			r[1] = time.Now().UnixNano()
		case kind == bcStop:
			slices.Sort(lat)
			if n := len(lat); n > 0 {
				r[2], r[3] = lat[n/2], lat[int(0.99*float64(n-1))]
			}
			r[4] = int64(len(lat))
			return r, nil
		case stamp != 0:
			lat = append(lat, time.Now().UnixNano()-stamp)
		case r[1] == 0:
			r[0]++
		}
	}
}

// bcCollect turns the subscribers' reports into r.
func bcCollect(r *bcRun, msgs int64, t0 time.Time, reps []bcReport) error {
	var end int64
	for i, rep := range reps {
		if rep[0] != msgs {
			return fmt.Errorf("subscriber %d received %d of %d messages", i, rep[0], msgs)
		}
		end = max(end, rep[1])
		r.p50[i], r.p99[i], r.count[i] = float64(rep[2]), float64(rep[3]), rep[4]
	}
	r.msgs = msgs
	if d := time.Duration(end - t0.UnixNano()); d > 0 {
		r.rate = float64(msgs) / d.Seconds()
	}
	return nil
}

func bcLayout() (ring, results int) {
	ring = memfile.BroadcastSize(bcConfig)
	return ring, alignUp(ring, 128)
}

var bcConfig = memfile.BroadcastConfig{SlotSize: bcSize, Capacity: bcCap, Subscribers: bcSubs, BackPressure: true}

func (e *env) broadcastShm(ctx context.Context, r *bcRun) error {
	ringLen, resOff := bcLayout()
	s, err := e.newShared(resOff + 64*bcSubs)
	if err != nil {
		return err
	}
	defer s.close()
	bc, err := memfile.InitBroadcast(s.b[offPayload:offPayload+ringLen], bcConfig)
	if err != nil {
		return err
	}
	peers, err := s.launch(ctx, bcSubs, func(i int) (*exec.Cmd, error) {
		return e.startPeer(ctx, "bcast-shm", s, "-id", fmt.Sprint(i))
	})
	if err != nil {
		return err
	}
	p, err := bc.Publisher(ctx)
	if err != nil {
		killPeers(peers)
		return err
	}
	defer p.Close()
	msgs, t0, err := e.bcPublish(ctx, func(m []byte) error { return p.Publish(ctx, m) })
	if err != nil {
		killPeers(peers)
		return err
	}
	if err := stopPeers(nil, peers); err != nil {
		return err
	}
	reps := make([]bcReport, bcSubs)
	for i := range reps {
		for k := range reps[i] {
			reps[i][k] = int64(s.u64(offPayload + resOff + 64*i + 8*k).Load())
		}
	}
	return bcCollect(r, msgs, t0, reps)
}

func (e *env) broadcastSock(ctx context.Context, r *bcRun) error {
	e.seq++
	path := filepath.Join(e.dir, fmt.Sprintf("b%d.sock", e.seq))
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	defer ln.Close()
	var peers []*exec.Cmd
	for i := range bcSubs {
		p, err := e.startPeer(ctx, "bcast-sock", nil, "-addr", path, "-id", fmt.Sprint(i))
		if err != nil {
			killPeers(peers)
			return err
		}
		peers = append(peers, p)
	}
	conns := make([]net.Conn, bcSubs)
	for i := range conns {
		c, err := acceptHello(ctx, ln)
		if err != nil {
			killPeers(peers)
			return err
		}
		defer c.Close()
		conns[i] = c
	}
	msgs, t0, err := e.bcPublish(ctx, func(m []byte) error {
		for _, c := range conns {
			if _, err := c.Write(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		killPeers(peers)
		return err
	}
	// Reports come back in accept order, which is the index here.
	reps := make([]bcReport, bcSubs)
	for i, c := range conns {
		var b [8 * len(bcReport{})]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			killPeers(peers)
			return fmt.Errorf("subscriber report: %w", err)
		}
		for k := range reps[i] {
			reps[i][k] = int64(binary.LittleEndian.Uint64(b[8*k:]))
		}
	}
	if err := stopPeers(nil, peers); err != nil {
		return err
	}
	return bcCollect(r, msgs, t0, reps)
}

// acceptHello accepts a subscriber and reads its hello byte.
func acceptHello(ctx context.Context, ln net.Listener) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	got := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = io.ReadFull(c, make([]byte, 1))
		}
		got <- res{c, err}
	}()
	select {
	case r := <-got:
		return r.c, r.err
	case <-time.After(peerAttempt):
	case <-ctx.Done():
	}
	ln.Close()
	return nil, errors.New("broadcast subscriber did not connect in time")
}

// broadcastPeer is a subscriber process of the broadcast rows.
func broadcastPeer(ctx context.Context, a peerArgs) error {
	if a.kind == "bcast-sock" {
		c, err := net.Dial("unix", a.addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte{1}); err != nil {
			return err
		}
		br := bufio.NewReaderSize(c, 64<<10)
		buf := make([]byte, bcSize)
		rep, err := bcReceive(func() ([]byte, error) { _, err := io.ReadFull(br, buf); return buf, err })
		if err != nil {
			return err
		}
		var b [8 * len(bcReport{})]byte
		for k, v := range rep {
			binary.LittleEndian.PutUint64(b[8*k:], uint64(v))
		}
		_, err = c.Write(b[:])
		return err
	}
	s, err := openShared(a.link)
	if err != nil {
		return err
	}
	defer s.close()
	ringLen, resOff := bcLayout()
	bc, err := memfile.BroadcastAt(s.b[offPayload : offPayload+ringLen])
	if err != nil {
		return err
	}
	sub, err := bc.Subscribe(memfile.StartNewest)
	if err != nil {
		return err
	}
	defer sub.Close()
	if err := s.barrier(ctx); err != nil {
		return err
	}
	buf := make([]byte, bcSize)
	rep, err := bcReceive(func() ([]byte, error) { n, err := sub.Recv(ctx, buf); return buf[:n], err })
	if err != nil {
		return err
	}
	for k, v := range rep {
		s.u64(offPayload + resOff + 64*a.id + 8*k).Store(uint64(v))
	}
	return nil
}
