package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/shmx/shmx/memfile"
)

// bulkChunk is the unit of a bulk transfer by stream: one write.
const bulkChunk = 1 << 20

// bulkSlot and bulkCap are the slot size and count of the bulk Ring,
// chosen by measurement (shmx bench -only bulk). The Ring is small
// enough to stay in the CPU caches, so a chunk goes from the sender's
// cache to the receiver's without a round trip through main memory, and
// its slots are below the 1 MiB from which Go's copy switches to
// non-temporal stores (which would send every byte to memory and back).
// There are enough of them that the sender rarely waits for a free one.
const (
	bulkSlot = 1 << 18
	bulkCap  = 16
)

// bulkRows: the parent moves Bulk bytes to the peer, chunk by chunk, from
// a source buffer to the peer. Shared memory is read where it lies: the
// Ring row the others are compared with copies each chunk once, into a
// slot, and the peer reads every cache line of it there, which
// is what a consumer of shared memory does. Sockets and pipes cannot do
// that: they copy into the kernel and out again into the peer's buffer;
// the "copied out" Ring row does the same second copy, for comparison.
// The sender's source and any receiver's buffer are windows of up to 256
// MiB that the chunks cycle through (far larger than any CPU cache, so
// every transport reads and writes main memory as a real transfer would,
// without holding gigabytes). Plain copy, a window copied to a window in
// one process without any transport, is the physical limit.
func (e *env) bulkRows() []row {
	g := "bulk transfer " + sizeName(e.Bulk)
	ring := "memfile Ring, " + sizeName(bulkSlot) + " slots, read in place"
	copied := "memfile Ring, " + sizeName(bulkSlot) + " slots, copied out"
	return []row{
		{g, ring, true, "", func(ctx context.Context) (Result, error) { return e.bulkRing(ctx, "sink-ring-inplace", false) }},
		{g, copied, true, "", func(ctx context.Context) (Result, error) { return e.bulkRing(ctx, "sink-ring", false) }},
		{g, "plain copy, one process (the limit)", false, ring, e.bulkCopy},
		{g, "Unix socket", false, ring, func(ctx context.Context) (Result, error) { return e.bulkStream(ctx, "unix") }},
		{g, "pipe", false, ring, func(ctx context.Context) (Result, error) { return e.bulkStream(ctx, "pipe") }},
	}
}

// bulkRounds is how many times each bulk row moves Bulk bytes. One
// transfer of 1 GiB lasts about 0.1 s at memory speed, short enough for a
// neighbour on a shared machine to halve it; the median of several
// rounds is what a row reports.
const bulkRounds = 5

// rate is n bytes per round at the median of the round times ds as a
// Result. A time of 0 (a clock coarser than the transfer, as under wine
// with tiny sizes) is counted as the clock's smallest step, 1 µs, rather
// than as an infinite rate.
func rate(n int64, ds []time.Duration) Result {
	slices.Sort(ds)
	d := max(ds[len(ds)/2], time.Microsecond)
	return Result{Unit: GiBPerSec, Value: float64(n) / (1 << 30) / d.Seconds(), Ops: n * int64(len(ds))}
}

// rounds runs one round of a bulk row bulkRounds times and returns the
// time of each.
func rounds(round func() error) ([]time.Duration, error) {
	ds := make([]time.Duration, bulkRounds)
	for i := range ds {
		t0 := time.Now()
		if err := round(); err != nil {
			return nil, err
		}
		ds[i] = time.Since(t0)
	}
	return ds, nil
}

// bulkWindow is the most a bulk buffer holds.
const bulkWindow = 256 << 20

// windowLen is the length of the buffers of a transfer of n bytes:
// min(n, bulkWindow) rounded down to whole chunks.
func windowLen(n int64) int64 { return max(bulkChunk, min(n, bulkWindow)&^(bulkChunk-1)) }

// window returns a buffer for a transfer of n bytes, every page touched
// so that no page fault is timed.
func window(n int64) []byte {
	b := make([]byte, windowLen(n))
	b[0] = 1
	for i := 1; i < len(b); i *= 2 {
		copy(b[i:], b[:i])
	}
	return b
}

// spans calls fn with the offset and length, in a window of w bytes, of
// each piece of at most chunk bytes of a transfer of n bytes.
func spans(n, w, chunk int64, fn func(off, k int64) error) error {
	for sent := int64(0); sent < n; {
		off := sent % w
		k := min(n-sent, chunk, w-off)
		if err := fn(off, k); err != nil {
			return err
		}
		sent += k
	}
	return nil
}

// chunks calls fn with each piece of at most chunk bytes of a transfer
// of n bytes through buf: the slice of buf it goes to or comes from.
func chunks(n int64, buf []byte, chunk int64, fn func(b []byte) error) error {
	return spans(n, int64(len(buf)), chunk, func(off, k int64) error { return fn(buf[off : off+k]) })
}

func (e *env) bulkCopy(ctx context.Context) (Result, error) {
	src, dst := window(e.Bulk), window(e.Bulk)
	w := int64(len(dst))
	ds, _ := rounds(func() error {
		var off int64
		return chunks(e.Bulk, src, bulkWindow, func(b []byte) error {
			copy(dst[off%w:], b)
			off += int64(len(b))
			return nil
		})
	})
	return rate(e.Bulk, ds), nil
}

// bulkMore are the peer flags of a bulk row.
func (e *env) bulkMore() []string {
	return []string{"-bytes", fmt.Sprint(e.Bulk), "-rounds", fmt.Sprint(bulkRounds)}
}

// bulkRing moves Bulk bytes through a Ring to a peer of kind sink-ring
// (copies each chunk out) or sink-ring-inplace (reads it in the slot),
// in a memfile on huge pages if huge.
func (e *env) bulkRing(ctx context.Context, kind string, huge bool) (Result, error) {
	size := memfile.RingSize(bulkSlot, bulkCap)
	prepare := func(s *shared) error {
		_, err := memfile.InitRing(s.b[offPayload:offPayload+size], bulkSlot, bulkCap)
		return err
	}
	return e.withPeerOn(ctx, huge, kind, size, e.bulkMore(), prepare, func(s *shared) (Result, error) {
		r, err := memfile.RingAt(s.b[offPayload : offPayload+size])
		if err != nil {
			return Result{}, err
		}
		src := window(e.Bulk)
		seq := uint64(0)
		send := func(chunk []byte) error {
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
		}
		ds, err := rounds(func() error {
			if err := chunks(e.Bulk, src, bulkSlot, send); err != nil {
				return err
			}
			return s.resp.Wait(ctx) // the peer has it all
		})
		if err != nil {
			return Result{}, err
		}
		return rate(e.Bulk, ds), nil
	})
}

func (e *env) bulkStream(ctx context.Context, network string) (Result, error) {
	c, err := e.dial(ctx, network, "sink-stream", e.bulkMore()...)
	if err != nil {
		return Result{Unit: GiBPerSec}, err
	}
	src, ack := window(e.Bulk), make([]byte, 1)
	ds, err := rounds(func() error {
		err := chunks(e.Bulk, src, bulkChunk, func(b []byte) error { _, err := c.Write(b); return err })
		if err == nil {
			_, err = io.ReadFull(c, ack)
		}
		return err
	})
	if err != nil {
		c.kill()
		return Result{}, err
	}
	return rate(e.Bulk, ds), c.finish()
}
