package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/shmx/shmx/memfile"
)

// bulkChunk is the unit of a bulk transfer: one Ring slot, one write.
const bulkChunk = 1 << 20

// bulkRows: the parent moves Bulk bytes to the peer, chunk by chunk, from
// a source buffer into the peer's own buffer. Both buffers are windows of
// up to 256 MiB that the chunks cycle through (far larger than any CPU
// cache, so every transport pays for main memory as a real transfer
// would, without holding gigabytes). Plain copy, the same copy from a
// window to a window in one process without any transport, is the
// physical limit.
func (e *env) bulkRows() []row {
	g := "bulk transfer " + sizeName(e.Bulk)
	ring := "memfile Ring, " + sizeName(bulkChunk) + " slots"
	return []row{
		{g, ring, true, "", e.bulkRing},
		{g, "plain copy, one process (the limit)", false, ring, e.bulkCopy},
		{g, "Unix socket", false, ring, func(ctx context.Context) (Result, error) { return e.bulkStream(ctx, "unix") }},
		{g, "pipe", false, ring, func(ctx context.Context) (Result, error) { return e.bulkStream(ctx, "pipe") }},
	}
}

// rate is n bytes in d as a Result. A d of 0 (a clock coarser than the
// transfer, as under wine with tiny sizes) is reported as the clock's
// smallest step, 1 µs, rather than as an infinite rate.
func rate(n int64, d time.Duration) Result {
	d = max(d, time.Microsecond)
	return Result{Unit: GiBPerSec, Value: float64(n) / (1 << 30) / d.Seconds(), Ops: n}
}

// bulkWindow is the most a bulk buffer holds.
const bulkWindow = 256 << 20

// window returns a buffer for a transfer of n bytes: min(n, bulkWindow)
// rounded down to whole chunks, every page touched so that no page fault
// is timed.
func window(n int64) []byte {
	w := max(bulkChunk, min(n, bulkWindow)&^(bulkChunk-1))
	b := make([]byte, w)
	b[0] = 1
	for i := 1; i < len(b); i *= 2 {
		copy(b[i:], b[:i])
	}
	return b
}

// chunks calls fn with each chunk of a transfer of n bytes through
// buf: the slice of buf it goes to or comes from.
func chunks(n int64, buf []byte, fn func(b []byte) error) error {
	w := int64(len(buf))
	for sent := int64(0); sent < n; {
		off := sent % w
		k := min(n-sent, bulkChunk, w-off)
		if err := fn(buf[off : off+k]); err != nil {
			return err
		}
		sent += k
	}
	return nil
}

func (e *env) bulkCopy(ctx context.Context) (Result, error) {
	src, dst := window(e.Bulk), window(e.Bulk)
	t0 := time.Now()
	var off int64
	w := int64(len(dst))
	chunks(e.Bulk, src, func(b []byte) error {
		copy(dst[off%w:], b)
		off += int64(len(b))
		return nil
	})
	return rate(e.Bulk, time.Since(t0)), nil
}

const bulkCap = 8 // slots of the bulk Ring: 8 MiB, so a wake-up (10-20 µs) is rare beside the copies

func (e *env) bulkRing(ctx context.Context) (Result, error) {
	more := []string{"-bytes", fmt.Sprint(e.Bulk)}
	size := memfile.RingSize(bulkChunk, bulkCap)
	prepare := func(s *shared) error {
		_, err := memfile.InitRing(s.b[offPayload:offPayload+size], bulkChunk, bulkCap)
		return err
	}
	return e.withPeer(ctx, "sink-ring", size, more, prepare, func(s *shared) (Result, error) {
		r, err := memfile.RingAt(s.b[offPayload : offPayload+size])
		if err != nil {
			return Result{}, err
		}
		src := window(e.Bulk)
		seq := uint64(0)
		t0 := time.Now()
		err = chunks(e.Bulk, src, func(chunk []byte) error {
			slot, err := r.BeginSend(ctx)
			if err != nil {
				return err
			}
			b := slot.Bytes()
			k := copy(b, chunk)
			if k >= 8 { // stamp the chunk so that the peer checks the order
				binary.LittleEndian.PutUint64(b, seq)
			}
			seq++
			slot.Commit(k)
			return nil
		})
		if err != nil {
			return Result{}, err
		}
		if err := s.resp.Wait(ctx); err != nil { // the peer has it all
			return Result{}, err
		}
		return rate(e.Bulk, time.Since(t0)), nil
	})
}

func (e *env) bulkStream(ctx context.Context, network string) (Result, error) {
	c, err := e.dial(ctx, network, "sink-stream", "-bytes", fmt.Sprint(e.Bulk))
	if err != nil {
		return Result{Unit: GiBPerSec}, err
	}
	src, ack := window(e.Bulk), make([]byte, 1)
	t0 := time.Now()
	err = chunks(e.Bulk, src, func(b []byte) error { _, err := c.Write(b); return err })
	if err == nil {
		_, err = io.ReadFull(c, ack)
	}
	d := time.Since(t0)
	if err != nil {
		c.kill()
		return Result{}, err
	}
	return rate(e.Bulk, d), c.finish()
}
