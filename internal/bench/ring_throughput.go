package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/shmx/shmx/internal/cbench"
	"github.com/shmx/shmx/memfile"
)

// ringThroughputRows: one producer process (the parent) streams 64-byte
// messages to one consumer process (the peer) for Duration, and the
// figure is messages per second until the consumer has them all. Each
// shmx row follows a run of the plain C SPSC ring (internal/cbench), its
// baseline, so that the ratio compares two runs made one after the
// other. Every consumer reads all 64 bytes of every message and the
// parent checks the sum of what it read.
func (e *env) ringThroughputRows() []row {
	const g = "Ring throughput 64 B, 2 processes"
	const (
		copying = "shmx Ring Send/Recv"
		inPlace = "shmx Ring zero-copy (64 B written and read in place)"
		batch   = "shmx Ring SendBatch/RecvBatch of 32"
	)
	tp := func(kind string) func(context.Context) (Result, error) {
		return func(ctx context.Context) (Result, error) { return e.ringThroughput(ctx, kind) }
	}
	// Each shmx row in turns with a C ring of its own (interleaved): the
	// ratio is the point, and the machine changes between stretches.
	var rows []row
	for _, r := range []struct{ name, kind string }{
		{copying, "ringtp-copy"}, {inPlace, "ringtp-inplace"}, {batch, "ringtp-batch"},
	} {
		p := e.interleaved(e.ringThroughputC, tp(r.kind))
		rows = append(rows,
			row{g, "C SPSC ring (C loops), in turns with " + r.name, false, r.name, p[0]},
			row{g, r.name, true, "", p[1]})
	}
	return rows
}

const (
	ringTPMsg   = 64
	ringTPCap   = 256 // = cbench.SPSCSlots
	ringTPBatch = 32
	// ringTPChunk is the message count of one C loop of the C rows.
	ringTPChunk = 1 << 16
	// Where the consumer reports: messages and the sum of their words.
	offTPCount = offResults
	offTPSum   = offResults + 8
)

// ringTPPeers are the consumers of these rows, by -kind (RunPeer).
var ringTPPeers = map[string]func(ctx context.Context, s *shared, kind string) error{
	"ringtp-c":       ringTPPeerC,
	"ringtp-copy":    ringTPPeer,
	"ringtp-inplace": ringTPPeer,
	"ringtp-batch":   ringTPPeer,
}

// ringTPSum is what a consumer adds up for messages first..first+n-1:
// the producers write the number of each message in all 8 of its words.
func ringTPSum(first, n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return 8 * (n*first + n*(n-1)/2)
}

// ringThroughput measures one shmx row; kind says how both ends use the
// Ring (the peer learns it from -kind, the parent from the same string).
func (e *env) ringThroughput(ctx context.Context, kind string) (Result, error) {
	size := memfile.RingSize(ringTPMsg, ringTPCap)
	prepare := func(s *shared) error {
		_, err := memfile.InitRing(s.b[offPayload:offPayload+size], ringTPMsg, ringTPCap)
		return err
	}
	return e.withPeer(ctx, kind, size, nil, prepare, func(s *shared) (Result, error) {
		r, err := memfile.RingAt(s.b[offPayload : offPayload+size])
		if err != nil {
			return Result{}, err
		}
		msgs := make([][]byte, ringTPBatch)
		for i := range msgs {
			msgs[i] = make([]byte, ringTPMsg)
		}
		stamp := func(m []byte, i uint64) {
			for w := 0; w < ringTPMsg; w += 8 {
				binary.LittleEndian.PutUint64(m[w:], i)
			}
		}
		n := uint64(0)
		start := time.Now()
		for time.Since(start) < e.Duration {
			// 1024 messages between two looks at the clock.
			for end := n + 1024; n < end; {
				switch kind {
				case "ringtp-copy":
					stamp(msgs[0], n)
					if err := r.Send(ctx, msgs[0]); err != nil {
						return Result{}, err
					}
					n++
				case "ringtp-inplace":
					slot, err := r.BeginSend(ctx)
					if err != nil {
						return Result{}, err
					}
					stamp(slot.Bytes()[:ringTPMsg], n)
					slot.Commit(ringTPMsg)
					n++
				case "ringtp-batch":
					for i, m := range msgs {
						stamp(m, n+uint64(i))
					}
					if _, err := r.SendBatch(ctx, msgs); err != nil {
						return Result{}, err
					}
					n += ringTPBatch
				}
			}
		}
		if err := r.Send(ctx, nil); err != nil { // the end
			return Result{}, err
		}
		if err := s.resp.Wait(ctx); err != nil {
			return Result{}, err
		}
		d := time.Since(start)
		if got, sum := s.u64(offTPCount).Load(), s.u64(offTPSum).Load(); got != n || sum != ringTPSum(0, n) {
			return Result{}, fmt.Errorf("the consumer got %d messages summing to %d, want %d summing to %d", got, sum, n, ringTPSum(0, n))
		}
		return Result{Unit: OpsPerSec, Value: float64(n) / d.Seconds(), Ops: int64(n)}, nil
	})
}

// ringTPPeer consumes until a 0-byte message, the way -kind says, and
// reports the count and sum.
func ringTPPeer(ctx context.Context, s *shared, kind string) error {
	size := memfile.RingSize(ringTPMsg, ringTPCap)
	r, err := memfile.RingAt(s.b[offPayload : offPayload+size])
	if err != nil {
		return err
	}
	bufs := make([][]byte, ringTPBatch)
	for i := range bufs {
		bufs[i] = make([]byte, ringTPMsg)
	}
	count, sum := uint64(0), uint64(0)
	add := func(m []byte) {
		for w := 0; w+8 <= len(m); w += 8 {
			sum += binary.LittleEndian.Uint64(m[w:])
		}
	}
	for {
		switch kind {
		case "ringtp-copy":
			n, err := r.Recv(ctx, bufs[0])
			if err != nil {
				return err
			}
			if n == 0 {
				return ringTPReport(s, count, sum)
			}
			add(bufs[0][:n])
			count++
		case "ringtp-inplace":
			slot, err := r.BeginRecv(ctx)
			if err != nil {
				return err
			}
			m := slot.Bytes()
			add(m)
			slot.Release()
			if len(m) == 0 {
				return ringTPReport(s, count, sum)
			}
			count++
		case "ringtp-batch":
			for i := range bufs {
				bufs[i] = bufs[i][:cap(bufs[i])]
			}
			n, err := r.RecvBatch(ctx, bufs)
			if err != nil {
				return err
			}
			for _, m := range bufs[:n] {
				if len(m) == 0 {
					return ringTPReport(s, count, sum)
				}
				add(m)
				count++
			}
		default:
			return fmt.Errorf("bench peer: unknown -kind %q", kind)
		}
	}
}

func ringTPReport(s *shared, count, sum uint64) error {
	s.u64(offTPCount).Store(count)
	s.u64(offTPSum).Store(sum)
	s.resp.Set()
	return nil
}

// ringThroughputC measures the C SPSC ring: the parent produces in C
// loops of ringTPChunk messages, looking at the clock between two (the
// cgo call is once per chunk), for Duration, then sends the C consumer
// its stop message.
func (e *env) ringThroughputC(ctx context.Context) (Result, error) {
	if !cbench.Available {
		return Result{Unit: OpsPerSec}, errNoCgo
	}
	return e.withPeer(ctx, "ringtp-c", cbench.SPSCSize, nil,
		func(s *shared) error { return cbench.SPSCInit(s.b[offPayload:]) },
		func(s *shared) (Result, error) {
			mem := s.b[offPayload:]
			deadline, _ := ctx.Deadline()
			n := 0
			start := time.Now()
			for time.Since(start) < e.Duration {
				if err := cbench.SPSCProduce(mem, n, ringTPChunk, deadline); err != nil {
					return Result{}, err
				}
				n += ringTPChunk
			}
			if err := cbench.SPSCStop(mem, deadline); err != nil {
				return Result{}, err
			}
			if err := s.resp.Wait(ctx); err != nil {
				return Result{}, err
			}
			d := time.Since(start)
			if got, sum := s.u64(offTPCount).Load(), s.u64(offTPSum).Load(); got != uint64(n) || sum != ringTPSum(0, uint64(n)) {
				return Result{}, fmt.Errorf("the C consumer got %d messages summing to %d, want %d summing to %d", got, sum, n, ringTPSum(0, uint64(n)))
			}
			return Result{Unit: OpsPerSec, Value: float64(n) / d.Seconds(), Ops: int64(n)}, nil
		})
}

// ringTPPeerC consumes in C until the stop message and reports.
func ringTPPeerC(ctx context.Context, s *shared, _ string) error {
	if !cbench.Available {
		return errNoCgo
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return errors.New("bench peer: no -limit")
	}
	n, sum, err := cbench.SPSCConsume(s.b[offPayload:], deadline)
	if err != nil {
		return err
	}
	return ringTPReport(s, n, sum)
}
