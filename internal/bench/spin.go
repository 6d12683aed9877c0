package bench

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/shmx/shmx"
	"github.com/shmx/shmx/internal/cbench"
	"github.com/shmx/shmx/memfile"
)

// spinRows are the message round-trip rows of wait strategies other than
// the blocking calls', and the limits they are held against, measured in
// the same group as the copying rows of messageRows.
//
// At one cache line (64 B or less): an Event pair and a Ring under the
// BusySpin and Block wait strategies (messageRows' rows are Backoff, the
// default), and the C limit: two processes ping-pong one cache line with
// PAUSE (cbench.LinePong).
//
// Above one cache line: the zero-copy Ring (the sender writes every byte
// of the message in its slot, the receiver adds up every byte where it
// lies, then answers the same way), with the blocking calls and polling,
// and the C limits: a message through shared memory announced by a
// spinning sequence word, copied as the copying rows do and in place as
// the zero-copy row does (cbench.FlagPong).
//
// Each limit and the shmx rows held against it are measured in turns
// (interleaved), so that their ratio compares them on the same machine.
func (e *env) spinRows(size int) []row {
	g := "message round trip " + sizeName(int64(size))
	if size <= cbench.LineSize {
		const (
			ev      = "memfile + Event, busy-spin (WaitStrategy)"
			ring    = "memfile Ring, busy-spin (WaitStrategy)"
			evBlock = "memfile + Event, block (WaitStrategy)"
			rgBlock = "memfile Ring, block (WaitStrategy)"
			c       = "C limit: one cache line ping-pong, PAUSE spin (C loop)"
		)
		limit := func(ctx context.Context) (Result, error) { return e.spinC(ctx, "pong-line", 0, cbench.LineSize, nil) }
		strat := func(f func(context.Context, int, memfile.WaitStrategy) (Result, error), s memfile.WaitStrategy) func(context.Context) (Result, error) {
			return func(ctx context.Context) (Result, error) { return f(ctx, size, s) }
		}
		// The busy-spin rows and their limit in turns (interleaved): their
		// ratio is the goal.
		paired := e.interleaved(strat(e.echoEvent, memfile.BusySpin), strat(e.echoRing, memfile.BusySpin), limit)
		return []row{
			{g, ev, true, "", paired[0]},
			{g, ring, true, "", paired[1]},
			{g, evBlock, true, "", strat(e.echoEvent, memfile.Block)},
			{g, rgBlock, true, "", strat(e.echoRing, memfile.Block)},
			{g, c, false, ev, paired[2]},
			{g, c, false, ring, paired[2]},
		}
	}
	const (
		copied = "memfile Ring" // messageRows' copying Ring row
		zc     = "memfile Ring, zero-copy (BeginSend/BeginRecv, filled and summed in place)"
		zcSpin = "memfile Ring, zero-copy, busy-spin (TryBeginSend/TryBeginRecv + Pause)"
		cCopy  = "C limit: spinning flag, copied (C loop)"
		cIn    = "C limit: spinning flag, filled and summed in place (C loop)"
	)
	more := []string{"-size", fmt.Sprint(size)}
	// The zero-copy rows and their in-place limit in turns, as above.
	paired := e.interleaved(
		func(ctx context.Context) (Result, error) { return e.echoRingZeroCopy(ctx, size, false) },
		func(ctx context.Context) (Result, error) { return e.echoRingZeroCopy(ctx, size, true) },
		func(ctx context.Context) (Result, error) {
			return e.spinC(ctx, "pong-flag-inplace", size, cbench.FlagSize(size), more)
		})
	return []row{
		{g, zc, true, "", paired[0]},
		{g, zcSpin, true, "", paired[1]},
		{g, cCopy, false, copied, func(ctx context.Context) (Result, error) {
			return e.spinC(ctx, "pong-flag-copy", size, cbench.FlagSize(size), more)
		}},
		{g, cIn, false, zc, paired[2]},
		{g, cIn, false, zcSpin, paired[2]},
	}
}

// spinPeers are the peer kinds of spinRows, by -kind.
var spinPeers = map[string]func(context.Context, *shared, peerArgs) error{
	"echo-ring-zerocopy": func(ctx context.Context, s *shared, a peerArgs) error {
		return echoRingZeroCopyPeer(ctx, s, a.size, false)
	},
	"echo-ring-zerocopy-try": func(ctx context.Context, s *shared, a peerArgs) error {
		return echoRingZeroCopyPeer(ctx, s, a.size, true)
	},
	"pong-line":         func(ctx context.Context, s *shared, a peerArgs) error { return spinCPeer(ctx, s, a) },
	"pong-flag-copy":    func(ctx context.Context, s *shared, a peerArgs) error { return spinCPeer(ctx, s, a) },
	"pong-flag-inplace": func(ctx context.Context, s *shared, a peerArgs) error { return spinCPeer(ctx, s, a) },
}

// spinner paces a polling loop: one shmx.Pause per failed try, and a look
// at ctx every 1024 tries (a peer that died must not leave us spinning).
type spinner struct {
	ctx context.Context
	n   int
}

func (p *spinner) pause() error {
	p.n++
	if p.n&1023 == 0 && p.ctx.Err() != nil {
		return fmt.Errorf("the peer stopped answering: %w", p.ctx.Err())
	}
	shmx.Pause()
	return nil
}

// Layout of the payload of a C spinning row's memfile.
const (
	offSpinStop = offPayload       // uint32: 1 ends both C loops (cbench's stop word)
	offSpinMem  = offPayload + 128 // the C exchange's memory
)

// spinC runs a C spinning exchange of kind (pong-line: cbench.LinePong;
// pong-flag-copy, pong-flag-inplace: cbench.FlagPong of size bytes) of
// mem bytes with a peer. As in pongC, a first run of calibrate rounds
// sizes the second to last about Duration; the C loop times each round
// trip of the second run, so these rows have percentiles. The C loops
// cannot see ctx: when it is done the stop word ends them.
func (e *env) spinC(ctx context.Context, kind string, size, mem int, more []string) (Result, error) {
	if !cbench.Available {
		return Result{Unit: NsPerRoundTrip}, errNoCgo
	}
	return e.withPeer(ctx, kind, 128+mem, more, nil, func(s *shared) (Result, error) {
		stop := s.u32(offSpinStop)
		defer context.AfterFunc(ctx, func() { stop.Store(1) })()
		play := spinPlay(kind, s, size)
		t0 := time.Now()
		if err := play(0, 0, calibrate, nil); err != nil {
			return Result{}, spinErr(ctx, err)
		}
		per := time.Since(t0) / calibrate
		n := int64(e.Duration / max(per, 1))
		n = min(max(n, 1000), maxSpinRounds)
		s.u64(offN).Store(uint64(n))
		s.param.Set()
		lat := make([]int64, n)
		for i := 0; i < len(lat); i += 512 { // fault the pages in before the clock runs
			lat[i] = 0
		}
		t0 = time.Now()
		err := play(0, calibrate, int(n), lat)
		d := time.Since(t0)
		if err != nil {
			return Result{}, spinErr(ctx, err)
		}
		r := Result{Unit: NsPerRoundTrip}
		percentiles(&r, lat, d)
		return r, nil
	})
}

// maxSpinRounds bounds the rounds (and so the per-round-trip times held:
// 64 MiB) of a C spinning row's measured run.
const maxSpinRounds = 1 << 23

// spinCPeer plays side 1 of spinC: the calibration run, then the measured
// run of the count the parent publishes.
func spinCPeer(ctx context.Context, s *shared, a peerArgs) error {
	if !cbench.Available {
		return errNoCgo
	}
	stop := s.u32(offSpinStop)
	defer context.AfterFunc(ctx, func() { stop.Store(1) })()
	play := spinPlay(a.kind, s, a.size)
	if err := play(1, 0, calibrate, nil); err != nil {
		return spinErr(ctx, err)
	}
	if err := s.param.Wait(ctx); err != nil {
		return err
	}
	return spinErr(ctx, play(1, calibrate, int(s.u64(offN).Load()), nil))
}

// spinPlay returns the C loop of kind over s's memory.
func spinPlay(kind string, s *shared, size int) func(me, from, n int, lat []int64) error {
	word := (*uint32)(unsafe.Pointer(&s.b[offSpinStop])) // as s.u32(offSpinStop)
	mem := s.b[offSpinMem:]
	if kind == "pong-line" {
		return func(me, from, n int, lat []int64) error { return cbench.LinePong(mem, word, me, from, n, lat) }
	}
	inPlace := kind == "pong-flag-inplace"
	return func(me, from, n int, lat []int64) error {
		return cbench.FlagPong(mem, word, size, inPlace, me, from, n, lat)
	}
}

// spinErr says why a C loop stopped early: ctx ended it.
func spinErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return err
}
