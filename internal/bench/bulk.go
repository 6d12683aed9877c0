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
const bulkChunk = 256 << 10

// bulkRows: the parent moves Bulk bytes to the peer, chunk by chunk, from
// a source buffer into the peer's own buffer. Plain copy, the same copies
// within one process and without any transport, is the physical limit.
func (e *env) bulkRows() []row {
	g := "bulk transfer " + sizeName(e.Bulk)
	const ring = "memfile Ring, 256 KiB slots"
	return []row{
		{g, ring, true, "", e.bulkRing},
		{g, "plain copy, one process (the limit)", false, ring, e.bulkCopy},
		{g, "Unix socket", false, ring, func(ctx context.Context) (Result, error) { return e.bulkStream(ctx, "unix") }},
		{g, "pipe", false, ring, func(ctx context.Context) (Result, error) { return e.bulkStream(ctx, "pipe") }},
	}
}

func rate(n int64, d time.Duration) Result {
	return Result{Unit: GiBPerSec, Value: float64(n) / (1 << 30) / d.Seconds(), Ops: n}
}

// chunks calls fn with the length of each chunk of a transfer of n bytes.
func chunks(n int64, fn func(k int) error) error {
	for sent := int64(0); sent < n; {
		k := int(min(n-sent, bulkChunk))
		if err := fn(k); err != nil {
			return err
		}
		sent += int64(k)
	}
	return nil
}

func (e *env) bulkCopy(ctx context.Context) (Result, error) {
	src, dst := make([]byte, bulkChunk), make([]byte, bulkChunk)
	t0 := time.Now()
	chunks(e.Bulk, func(k int) error { copy(dst[:k], src[:k]); return nil })
	return rate(e.Bulk, time.Since(t0)), nil
}

const bulkCap = 4 // slots of the bulk Ring

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
		src := make([]byte, bulkChunk)
		seq := uint64(0)
		t0 := time.Now()
		err = chunks(e.Bulk, func(k int) error {
			slot, err := r.BeginSend(ctx)
			if err != nil {
				return err
			}
			b := slot.Bytes()
			copy(b[:k], src[:k])
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
	src, ack := make([]byte, bulkChunk), make([]byte, 1)
	// The peer says it is up with one byte, so its start is not timed.
	if _, err := io.ReadFull(c, ack); err != nil {
		c.kill()
		return Result{}, err
	}
	t0 := time.Now()
	err = chunks(e.Bulk, func(k int) error { _, err := c.Write(src[:k]); return err })
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
