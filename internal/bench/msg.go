package bench

import (
	"context"
	"fmt"

	"github.com/shmx/shmx/memfile"
)

// messageRows: the parent sends a message of size bytes, the peer copies
// it out and sends it back, the parent copies the answer out. Every
// transport moves the message into the receiver's own buffer, as a socket
// read does.
func (e *env) messageRows(size int) []row {
	g := "message round trip " + sizeName(int64(size))
	const ev = "memfile + Event"
	stream := func(network string) func(context.Context) (Result, error) {
		return func(ctx context.Context) (Result, error) { return e.streamRoundTrip(ctx, network, size) }
	}
	return []row{
		{g, ev, true, "", func(ctx context.Context) (Result, error) { return e.echoEvent(ctx, size, memfile.Backoff) }},
		{g, "memfile Ring", true, "", func(ctx context.Context) (Result, error) { return e.echoRing(ctx, size, memfile.Backoff) }},
		{g, "Unix socket", false, ev, stream("unix")},
		{g, "pipe", false, ev, stream("pipe")},
		{g, "TCP 127.0.0.1", false, ev, stream("tcp")},
	}
}

// sizeName formats a byte count: 64 B, 64 KiB, 1 GiB.
func sizeName(n int64) string {
	for _, u := range []struct {
		name  string
		shift uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d B", n)
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }

// eventAreas returns the request and response areas of an Event echo.
func eventAreas(s *shared, size int) (req, resp []byte) {
	r := offPayload + alignUp(size, 128)
	return s.b[offPayload : offPayload+size], s.b[r : r+size]
}

// echoEvent is the Event pair's round trip, both sides waiting with
// strategy strat.
func (e *env) echoEvent(ctx context.Context, size int, strat memfile.WaitStrategy) (Result, error) {
	more := []string{"-size", fmt.Sprint(size), "-wait", strat.String()}
	ctx = memfile.WithWaitStrategy(ctx, strat)
	return e.withPeerCPU(ctx, "echo-event", 2*alignUp(size, 128), more, nil, func(s *shared) (Result, error) {
		req, resp := eventAreas(s, size)
		msg, buf := make([]byte, size), make([]byte, size)
		l := newLatencies()
		for {
			copy(req, msg)
			s.req.Set()
			if err := s.resp.Wait(ctx); err != nil {
				return Result{}, err
			}
			copy(buf, resp)
			if !l.lap(e.Duration) {
				break
			}
		}
		s.u32(offStop).Store(1)
		s.req.Set()
		return l.result(), nil
	})
}

// ringCap is the slot count of the rings of the message rows.
const ringCap = 4

// rings returns the request and response Rings laid out in s.
func rings(s *shared, size int, init bool) (req, resp *memfile.Ring, err error) {
	n := alignUp(memfile.RingSize(size, ringCap), 128)
	at := func(b []byte) (*memfile.Ring, error) {
		if init {
			return memfile.InitRing(b, size, ringCap)
		}
		return memfile.RingAt(b)
	}
	if req, err = at(s.b[offPayload : offPayload+n]); err != nil {
		return nil, nil, err
	}
	resp, err = at(s.b[offPayload+n : offPayload+2*n])
	return req, resp, err
}

// echoRing is the Ring pair's round trip, both sides waiting with
// strategy strat.
func (e *env) echoRing(ctx context.Context, size int, strat memfile.WaitStrategy) (Result, error) {
	more := []string{"-size", fmt.Sprint(size), "-wait", strat.String()}
	ctx = memfile.WithWaitStrategy(ctx, strat)
	prepare := func(s *shared) error { _, _, err := rings(s, size, true); return err }
	n := 2 * alignUp(memfile.RingSize(size, ringCap), 128)
	return e.withPeerCPU(ctx, "echo-ring", n, more, prepare, func(s *shared) (Result, error) {
		req, resp, err := rings(s, size, false)
		if err != nil {
			return Result{}, err
		}
		msg, buf := make([]byte, size), make([]byte, size)
		l := newLatencies()
		for {
			if err := req.Send(ctx, msg); err != nil {
				return Result{}, err
			}
			if _, err := resp.Recv(ctx, buf); err != nil {
				return Result{}, err
			}
			if !l.lap(e.Duration) {
				break
			}
		}
		s.u32(offStop).Store(1)
		return l.result(), req.Send(ctx, msg) // wakes the peer to see the stop
	})
}
