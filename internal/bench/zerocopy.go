package bench

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/shmx/shmx/memfile"
)

// echoRingZeroCopy is the zero-copy round trip through the message rows'
// Ring pair: the parent claims a request slot, writes every byte of the
// message in it (fillWords) and commits it; the peer adds up every byte
// where it lies (sumWords), checks the sum, releases the slot and answers
// the same way in a slot of the answer Ring, whose bytes the parent adds
// up in place. With poll both sides spin on TryBeginSend and
// TryBeginRecv (shmx.Pause between tries) instead of blocking in
// BeginSend and BeginRecv.
func (e *env) echoRingZeroCopy(ctx context.Context, size int, poll bool) (Result, error) {
	kind := "echo-ring-zerocopy"
	if poll {
		kind += "-try"
	}
	more := []string{"-size", fmt.Sprint(size)}
	prepare := func(s *shared) error { _, _, err := rings(s, size, true); return err }
	n := 2 * alignUp(memfile.RingSize(size, ringCap), 128)
	return e.withPeer(ctx, kind, n, more, prepare, func(s *shared) (Result, error) {
		req, resp, err := rings(s, size, false)
		if err != nil {
			return Result{}, err
		}
		x := zcSide{p: spinner{ctx: ctx}, poll: poll}
		l := newLatencies()
		for v := uint64(1); ; v++ {
			if err := x.send(req, size, v); err != nil {
				return Result{}, err
			}
			if _, err := x.recv(resp, v); err != nil {
				return Result{}, err
			}
			if !l.lap(e.Duration) {
				break
			}
		}
		s.u32(offStop).Store(1)
		return l.result(), x.send(req, size, 0) // wakes the peer to see the stop
	})
}

func echoRingZeroCopyPeer(ctx context.Context, s *shared, size int, poll bool) error {
	req, resp, err := rings(s, size, false)
	if err != nil {
		return err
	}
	x := zcSide{p: spinner{ctx: ctx}, poll: poll}
	for v := uint64(1); ; v++ {
		n, err := x.recv(req, v)
		if s.stopped() {
			return nil
		}
		if err != nil {
			return err
		}
		if err := x.send(resp, n, v); err != nil {
			return err
		}
	}
}

// zcSide is one side of a zero-copy round trip.
type zcSide struct {
	p    spinner
	poll bool
}

// send claims a slot of r, fills size bytes of it with v and commits them.
func (x *zcSide) send(r *memfile.Ring, size int, v uint64) error {
	var slot memfile.SendSlot
	if x.poll {
		for ok := false; !ok; {
			if slot, ok = r.TryBeginSend(); !ok {
				if err := x.p.pause(); err != nil {
					return err
				}
			}
		}
	} else {
		var err error
		if slot, err = r.BeginSend(x.p.ctx); err != nil {
			return err
		}
	}
	fillWords(slot.Bytes()[:size], v)
	slot.Commit(size)
	return nil
}

// recv takes the next message of r, adds up its bytes in place, releases
// it and returns its length; the sum must be that of fillWords(v).
func (x *zcSide) recv(r *memfile.Ring, v uint64) (int, error) {
	var slot memfile.RecvSlot
	if x.poll {
		for ok := false; !ok; {
			if slot, ok = r.TryBeginRecv(); !ok {
				if err := x.p.pause(); err != nil {
					return 0, err
				}
			}
		}
	} else {
		var err error
		if slot, err = r.BeginRecv(x.p.ctx); err != nil {
			return 0, err
		}
	}
	b := slot.Bytes()
	sum := sumWords(b)
	slot.Release()
	if sum != wantSum(len(b), v) {
		return len(b), fmt.Errorf("message %d of %d bytes arrived wrong (sum %#x, want %#x)", v, len(b), sum, wantSum(len(b), v))
	}
	return len(b), nil
}

// fillWords writes every byte of b: the 8 little-endian bytes of v,
// repeated, by doubling copies within b (so at the speed of a copy, not
// of a store per word). cbench's fill_words is its C twin.
func fillWords(b []byte, v uint64) {
	var w [8]byte
	binary.LittleEndian.PutUint64(w[:], v)
	if len(b) < 8 {
		copy(b, w[:])
		return
	}
	copy(b, w[:])
	for k := 8; k < len(b); k *= 2 {
		copy(b[k:], b[:k])
	}
}

// sumWords reads every byte of b and adds them up as 8-byte
// little-endian words in four sums, then the bytes of the tail. cbench's
// sum_words is its C twin.
func sumWords(b []byte) uint64 {
	var s0, s1, s2, s3 uint64
	for len(b) >= 32 {
		s0 += binary.LittleEndian.Uint64(b[0:8])
		s1 += binary.LittleEndian.Uint64(b[8:16])
		s2 += binary.LittleEndian.Uint64(b[16:24])
		s3 += binary.LittleEndian.Uint64(b[24:32])
		b = b[32:]
	}
	for len(b) >= 8 {
		s0 += binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	for _, c := range b {
		s0 += uint64(c)
	}
	return s0 + s1 + s2 + s3
}

// wantSum is sumWords of size bytes filled by fillWords with v.
func wantSum(size int, v uint64) uint64 {
	s := uint64(size/8) * v
	for k := range size % 8 {
		s += (v >> (8 * k)) & 0xff
	}
	return s
}
