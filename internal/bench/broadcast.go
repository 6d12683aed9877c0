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
// reads through a 64 KiB buffer, which favours the sockets). The
// Broadcast holds bcCap = 4096 messages (512 KiB of 128-byte slots, for
// all subscribers together), less than the kernel buffers of the four
// sockets (212,992 bytes of send buffer each by default on Linux): a
// held-back publisher sleeps until a quarter of the ring is free, so
// the capacity sets how many messages each futex sleep and wake-up of 5
// processes on few CPUs is shared by. With 256 slots the rate was
// 1.25-1.6 M msgs/s, with 4096 2.2-2.6 (3 alternated runs each).
//
// A run has three phases. Throughput: for half the duration the
// publisher sends as fast as it can, then an end-of-phase message; the
// rate is the message count over the time from the first send to the
// last subscriber's receipt of that end message. Closed-loop latency,
// for a quarter: the publisher sends a message stamped with the wall
// clock (comparable across processes on one machine) and waits until
// every subscriber has acknowledged it (an Event set by the last one;
// for the sockets, a byte back on each), then sends the next: the way
// the Ring's round trip, which the goal is stated against, is timed
// (its half is a row of the latency group). Paced latency, for the last
// quarter: one message every bcGap, acknowledged by nobody, so that
// every subscriber sleeps between messages. Each subscriber records
// receipt minus stamp and reports its p50 and p99 of each.
//
// The latency goal (p50 within twice half the Ring's round trip) needs
// every subscriber on a CPU of its own when the message is published: 5
// processes on the 2 CPUs of the machines measured cannot have that, and
// the sleeping subscribers' p50 is a futex wake-up's. So a last group
// runs the same phases with one subscriber process, publisher and
// subscriber both busy-spinning, against the busy-spin Ring's half round
// trip: what each subscriber's latency is when it has a CPU.
const (
	bcSubs   = 4
	bcSize   = 64
	bcCap    = 4096
	bcGap    = 50 * time.Microsecond
	bcNormal = 0
	bcEnd    = 1 // end of the throughput phase
	bcStop   = 2
	bcAck    = 3 // a stamped message to acknowledge (closed loop)
)

// bcRun is what one transport's run measured.
type bcRun struct {
	once  sync.Once
	err   error
	rate  float64 // messages per second to all subscribers
	msgs  int64
	p50   [bcSubs]float64 // closed loop
	p99   [bcSubs]float64
	count [bcSubs]int64 // closed-loop samples per subscriber
	// paced: the p50 and p99 of the subscriber with the highest p50
	pacedP50, pacedP99 float64
	pacedN             int64
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
	shmRun := run(&shm, func(ctx context.Context, r *bcRun) error { return e.broadcastShm(ctx, r, bcSubs, memfile.Backoff) })
	sockRun := run(&sock, e.broadcastSock)
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
			if r.p50[i] == 0 {
				return Result{Unit: NsPerOp}, errBelowClock
			}
			return Result{Unit: NsPerOp, Value: r.p50[i], P50: r.p50[i], P99: r.p99[i], Ops: r.count[i]}, nil
		}
	}
	const half = "memfile Ring round trip / 2"
	// The Ring's half round trip is the reference the goal names: its
	// ratio is subscriber 0's p50 over it.
	rows = append(rows, row{gl, half, false, shmName + ", subscriber 0 p50", func(ctx context.Context) (Result, error) {
		return e.halfRoundTrip(ctx, memfile.Backoff)
	}})
	for i := range bcSubs {
		name := fmt.Sprintf("%s, subscriber %d p50", shmName, i) // closed loop
		rows = append(rows, row{gl, name, true, "", lat(&shm, shmRun, i)})
	}
	for i := range bcSubs {
		name := fmt.Sprintf("%s, subscriber %d p50", sockName, i)
		rows = append(rows, row{gl, name, false, fmt.Sprintf("%s, subscriber %d p50", shmName, i), lat(&sock, sockRun, i)})
	}
	paced := func(r *bcRun, do func(context.Context) error) func(context.Context) (Result, error) {
		return func(ctx context.Context) (Result, error) {
			if err := do(ctx); err != nil {
				return Result{Unit: NsPerOp}, err
			}
			return Result{Unit: NsPerOp, Value: r.pacedP50, P50: r.pacedP50, P99: r.pacedP99, Ops: r.pacedN}, nil
		}
	}
	gp := fmt.Sprintf("%s: paced latency, one message every %v, slowest subscriber", g, bcGap)
	rows = append(rows,
		row{gp, shmName, true, "", paced(&shm, shmRun)},
		row{gp, sockName, false, shmName, paced(&sock, sockRun)})
	// One subscriber with a CPU of its own: the latency goal's case.
	var one bcRun
	oneRun := run(&one, func(ctx context.Context, r *bcRun) error { return e.broadcastShm(ctx, r, 1, memfile.BusySpin) })
	g1 := fmt.Sprintf("broadcast %d B to 1 subscriber process, busy-spin: latency", bcSize)
	const oneName = "memfile Broadcast, busy-spin, subscriber p50"
	rows = append(rows,
		row{g1, "memfile Ring round trip / 2, busy-spin", false, oneName, func(ctx context.Context) (Result, error) {
			return e.halfRoundTrip(ctx, memfile.BusySpin)
		}},
		row{g1, oneName, true, "", lat(&one, oneRun, 0)})
	return rows
}

// errBelowClock is a latency row's result when more than half its
// samples read 0: the latency is below this clock's step (wine's is tens
// of microseconds), so there is nothing to show.
var errBelowClock = errors.New("the p50 is below this clock's step: nothing to show")

// halfRoundTrip is the 64 B Ring round trip of strategy strat, halved:
// the one-way latency the broadcast goal is stated against.
func (e *env) halfRoundTrip(ctx context.Context, strat memfile.WaitStrategy) (Result, error) {
	r, err := e.echoRing(ctx, bcSize, strat)
	mean := r.Value
	r.Unit = NsPerOp
	r.Value, r.P50, r.P99, r.P999 = r.P50/2, r.P50/2, r.P99/2, r.P999/2
	if r.Value == 0 {
		// The p50 fell below the clock's step (wine's is coarse): half
		// the mean round trip stands for it.
		r.Value = mean / 2
	}
	return r, err
}

// bcMessage fills msg: stamp (0: untimed), sequence, kind.
func bcMessage(msg []byte, stamp int64, seq uint64, kind uint64) []byte {
	binary.LittleEndian.PutUint64(msg, uint64(stamp))
	binary.LittleEndian.PutUint64(msg[8:], seq)
	binary.LittleEndian.PutUint64(msg[16:], kind)
	return msg
}

// bcPublish runs the three phases, sending each message with send;
// acked waits until every subscriber has acknowledged a bcAck message.
func (e *env) bcPublish(ctx context.Context, send func([]byte) error, acked func() error) (msgs int64, t0 time.Time, err error) {
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
	seq := uint64(msgs + 1)
	deadline = time.Now().Add(e.Duration / 4)
	for ; time.Now().Before(deadline) && ctx.Err() == nil; seq++ {
		if err := send(bcMessage(msg, time.Now().UnixNano(), seq, bcAck)); err != nil {
			return 0, t0, err
		}
		if err := acked(); err != nil {
			return 0, t0, err
		}
	}
	deadline = time.Now().Add(e.Duration / 4)
	for ; time.Now().Before(deadline) && ctx.Err() == nil; seq++ {
		next := time.Now().Add(bcGap)
		if err := send(bcMessage(msg, time.Now().UnixNano(), seq, bcNormal)); err != nil {
			return 0, t0, err
		}
		for time.Now().Before(next) {
		}
	}
	return msgs, t0, send(bcMessage(msg, 0, 0, bcStop))
}

// bcReport is what a subscriber reports: messages of the throughput
// phase, wall time of the end message, closed-loop p50, p99 and samples,
// paced p50, p99 and samples.
type bcReport [8]int64

// bcReceive is a subscriber's loop: recv returns the next message, ack
// acknowledges a bcAck one.
func bcReceive(recv func() ([]byte, error), ack func() error) (bcReport, error) {
	var r bcReport
	closed, paced := make([]int64, 0, 1<<16), make([]int64, 0, 1<<16)
	pct := func(lat []int64, at []int64) {
		slices.Sort(lat)
		if n := len(lat); n > 0 {
			at[0], at[1] = lat[n/2], lat[int(0.99*float64(n-1))]
		}
		at[2] = int64(len(lat))
	}
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
			pct(closed, r[2:5])
			pct(paced, r[5:8])
			return r, nil
		case kind == bcAck:
			closed = append(closed, time.Now().UnixNano()-stamp)
			if err := ack(); err != nil {
				return r, err
			}
		case stamp != 0:
			paced = append(paced, time.Now().UnixNano()-stamp)
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
		if i == 0 || float64(rep[5]) > r.pacedP50 {
			r.pacedP50, r.pacedP99, r.pacedN = float64(rep[5]), float64(rep[6]), rep[7]
		}
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

// broadcastShm runs the phases with subs subscriber processes, every
// wait (the publisher's and the subscribers') of strategy strat.
func (e *env) broadcastShm(ctx context.Context, r *bcRun, subs int, strat memfile.WaitStrategy) error {
	ringLen, resOff := bcLayout()
	s, err := e.newShared(resOff + 64*(bcSubs+1))
	if err != nil {
		return err
	}
	defer s.close()
	bc, err := memfile.InitBroadcast(s.b[offPayload:offPayload+ringLen], bcConfig)
	if err != nil {
		return err
	}
	peers, err := s.launch(ctx, subs, func(i int) (*exec.Cmd, error) {
		return e.startPeer(ctx, "bcast-shm", s, "-id", fmt.Sprint(i), "-subs", fmt.Sprint(subs), "-wait", strat.String())
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
	ctx = memfile.WithWaitStrategy(ctx, strat)
	// The acknowledgements: a counter after the reports; the subscriber
	// that brings it to bcSubs sets the response Event.
	acks := s.u64(offPayload + resOff + 64*bcSubs)
	msgs, t0, err := e.bcPublish(ctx, func(m []byte) error { return p.Publish(ctx, m) }, func() error {
		if err := s.resp.Wait(ctx); err != nil {
			return err
		}
		acks.Store(0)
		return nil
	})
	if err != nil {
		killPeers(peers)
		return err
	}
	if err := stopPeers(nil, peers); err != nil {
		return err
	}
	reps := make([]bcReport, subs)
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
	ack := make([]byte, 1)
	msgs, t0, err := e.bcPublish(ctx, func(m []byte) error {
		for _, c := range conns {
			if _, err := c.Write(m); err != nil {
				return err
			}
		}
		return nil
	}, func() error {
		for _, c := range conns {
			if _, err := io.ReadFull(c, ack); err != nil {
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
		one := []byte{1}
		rep, err := bcReceive(func() ([]byte, error) { _, err := io.ReadFull(br, buf); return buf, err },
			func() error { _, err := c.Write(one); return err })
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
	acks := s.u64(offPayload + resOff + 64*bcSubs)
	ctx = memfile.WithWaitStrategy(ctx, a.wait)
	rep, err := bcReceive(func() ([]byte, error) { n, err := sub.Recv(ctx, buf); return buf[:n], err },
		func() error {
			if acks.Add(1) == uint64(a.subs) {
				s.resp.Set()
			}
			return nil
		})
	if err != nil {
		return err
	}
	for k, v := range rep {
		s.u64(offPayload + resOff + 64*a.id + 8*k).Store(uint64(v))
	}
	return nil
}
