package fuzz_test

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"sync"
	"testing"

	"github.com/shmx/shmx/memfile"
)

// Ring header offsets, from the layout table on memfile.Ring.
const (
	ringSumFrom = 4  // the check covers bytes 4..27
	ringSumAt   = 28 // FNV-1a of them
	ringHdrXor  = 32 // header bytes the fuzzer may change
	ringCtrAt   = 128
)

// ringCounters are the offsets of tail, head, the two epoch words (bit 0:
// a sleeper may be there) and the reserved words after each, which
// FuzzRing's counter mask changes in this order.
var ringCounters = []struct{ off, size int }{{128, 8}, {256, 8}, {384, 4}, {388, 4}, {512, 4}, {516, 4}}

// ringGeometry decodes the fuzzer's geometry word: slot size 1..128,
// capacity 2..16, so that an execution stays small; bit 15 asks to
// recompute the header check after the header mask, so that a hostile
// geometry gets past the checksum and reaches RingAt's bounds checks.
func ringGeometry(geom uint16) (slotSize, capacity int, fixSum bool) {
	return 1 + int(geom&0x7f), 2 << (geom >> 7 & 3), geom&0x8000 != 0
}

// xorInto XORs mask into b (as far as both go).
func xorInto(b, mask []byte) {
	for i := range min(len(b), len(mask)) {
		b[i] ^= mask[i]
	}
}

// FuzzRing lays out a memfile.Ring with InitRing in memory ending at a
// PROT_NONE page on Linux, then corrupts it as a dying or hostile process
// might: hdr is XORed onto header bytes 0-31 (state, magic, version,
// geometry, check; recomputing the check when the geometry word asks),
// ctr onto tail, head and the epoch words, slots onto the slot
// area (states, lengths, payloads). All-zero masks leave a valid, empty
// ring. Then up to 16 operations from ops run on 3 goroutines. Each op
// byte: bits 0-2 the operation (TrySend, TryRecv, Send, Recv,
// TryBeginSend with Commit or Abort, TryBeginRecv/Release, Reclaim, Len),
// bits 3-4 the timeout, bit 5 Commit or Abort (and, for ops 0-3, the
// batch form: TrySendBatch, TryRecvBatch, SendBatch, RecvBatch of 3),
// bits 6-7 the goroutine.
//
// Property: RingAt fails with ErrCorrupt or ErrVersion, or returns a ring
// whose geometry fits the memory; no operation panics, hangs or touches
// memory outside the ring; a received message is never longer than the
// slot size; Len stays within 0..Cap. On an uncorrupted ring, in
// addition, every message sent (and not aborted) is received exactly
// once, intact, by the operations or by draining the ring at the end.
func FuzzRing(f *testing.F) {
	f.Fuzz(func(t *testing.T, geom uint16, hdr, ctr, slots, ops []byte) {
		slotSize, capacity, fixSum := ringGeometry(geom)
		n := memfile.RingSize(slotSize, capacity)
		b := guarded(t, n)
		if _, err := memfile.InitRing(b, slotSize, capacity); err != nil {
			t.Fatalf("InitRing(%d, %d) over %d bytes: %v", slotSize, capacity, n, err)
		}
		clean := allZero(hdr) && allZero(ctr) && allZero(slots)
		corruptRing(b, hdr, ctr, slots, fixSum)
		r, err := memfile.RingAt(b)
		if err != nil {
			if !errors.Is(err, memfile.ErrCorrupt) && !errors.Is(err, memfile.ErrVersion) {
				t.Fatalf("RingAt error matches no sentinel: %v", err)
			}
			return
		}
		if need := memfile.RingSize(r.SlotSize(), r.Cap()); need == 0 || need > len(b) {
			t.Fatalf("RingAt accepted slot size %d, capacity %d (%d bytes) in %d bytes", r.SlotSize(), r.Cap(), need, len(b))
		}
		if clean && (r.SlotSize() != slotSize || r.Cap() != capacity) {
			t.Fatalf("RingAt read geometry %d/%d, InitRing wrote %d/%d", r.SlotSize(), r.Cap(), slotSize, capacity)
		}
		ledger := newLedger(r.SlotSize())
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		runWorkers(t, schedule(ops), func(g int, ops []byte) {
			for _, op := range ops {
				ringOp(t, ctx, r, ledger, op)
			}
		})
		drain(t, r, ledger)
		if clean {
			ledger.check(t)
		}
	})
}

// corruptRing applies FuzzRing's masks to an initialised ring in b.
func corruptRing(b, hdr, ctr, slots []byte, fixSum bool) {
	xorInto(b[:ringHdrXor], hdr)
	if fixSum {
		h := fnv.New32a()
		h.Write(b[ringSumFrom:ringSumAt])
		binary.NativeEndian.PutUint32(b[ringSumAt:], h.Sum32())
	}
	for _, c := range ringCounters {
		if len(ctr) == 0 {
			break
		}
		k := min(c.size, len(ctr))
		xorInto(b[c.off:c.off+k], ctr[:k])
		ctr = ctr[k:]
	}
	xorInto(b[memfile.RingHeaderSize:], slots)
}

// ringOp runs one operation of FuzzRing.
func ringOp(t *testing.T, parent context.Context, r *memfile.Ring, l *ledger, op byte) {
	ctx, cancel := opContext(parent, op)
	defer cancel()
	buf := make([]byte, r.SlotSize())
	if op&7 < 4 && op&32 != 0 {
		ringBatchOp(t, ctx, r, l, op)
		return
	}
	switch op & 7 {
	case 0:
		msg := l.next()
		l.sending(msg, 1) // before: a consumer may take it at once
		if !r.TrySend(msg) {
			l.sending(msg, -1)
		}
	case 1:
		if n, ok := r.TryRecv(buf); ok {
			l.received(t, buf, n)
		}
	case 2:
		msg := l.next()
		l.sending(msg, 1)
		if err := r.Send(ctx, msg); err != nil {
			l.sending(msg, -1)
			if !isCtxErr(err) {
				t.Errorf("Ring.Send: %v", err)
			}
		}
	case 3:
		n, err := r.Recv(ctx, buf)
		if err == nil {
			l.received(t, buf, n)
		} else if !isCtxErr(err) {
			t.Errorf("Ring.Recv: %v", err)
		}
	case 4:
		if s, ok := r.TryBeginSend(); ok {
			if op&32 != 0 {
				s.Abort()
				return
			}
			msg := l.next()
			copy(s.Bytes(), msg)
			l.sending(msg, 1)
			s.Commit(len(msg))
		}
	case 5:
		if s, ok := r.TryBeginRecv(); ok {
			m := s.Bytes()
			l.received(t, m, len(m))
			s.Release()
		}
	case 6:
		r.Reclaim()
	case 7:
		if n := r.Len(); n < 0 || n > r.Cap() {
			t.Errorf("Ring.Len() = %d with capacity %d", n, r.Cap())
		}
	}
}

// ringBatchOp is ringOp's batch form of ops 0-3 (bit 5 set): TrySendBatch,
// TryRecvBatch, SendBatch, RecvBatch, of 3 messages.
func ringBatchOp(t *testing.T, ctx context.Context, r *memfile.Ring, l *ledger, op byte) {
	const k = 3
	switch op & 7 {
	case 0, 2:
		msgs := make([][]byte, k)
		for i := range msgs {
			msgs[i] = l.next()
			l.sending(msgs[i], 1)
		}
		var n int
		if op&7 == 0 {
			n = r.TrySendBatch(msgs)
		} else {
			var err error
			if n, err = r.SendBatch(ctx, msgs); err != nil && !isCtxErr(err) {
				t.Errorf("Ring.SendBatch: %v", err)
			}
		}
		if n < 0 || n > k {
			t.Errorf("Ring.SendBatch of %d sent %d", k, n)
			return
		}
		for _, m := range msgs[n:] {
			l.sending(m, -1)
		}
	case 1, 3:
		bufs := make([][]byte, k)
		for i := range bufs {
			bufs[i] = make([]byte, r.SlotSize())
		}
		var n int
		var err error
		if op&7 == 1 {
			n, err = r.TryRecvBatch(bufs)
		} else if n, err = r.RecvBatch(ctx, bufs); isCtxErr(err) {
			err = nil
		}
		if err != nil {
			t.Errorf("Ring.RecvBatch into slot-sized buffers: %v", err)
		}
		if n < 0 || n > k {
			t.Errorf("Ring.RecvBatch into %d received %d", k, n)
			return
		}
		for _, m := range bufs[:n] {
			l.received(t, m, len(m))
		}
	}
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// drain receives what is left, as a consumer coming later would.
func drain(t *testing.T, r *memfile.Ring, l *ledger) {
	buf := make([]byte, r.SlotSize())
	for range 4 * r.Cap() {
		n, ok := r.TryRecv(buf)
		if !ok {
			return
		}
		l.received(t, buf, n)
	}
}

// ledger numbers the messages FuzzRing sends (a 32-bit id in the first
// bytes, then bytes derived from it, filling the slot) and checks each
// received one: not longer than the slot, and on a clean ring intact and
// received once.
type ledger struct {
	mu       sync.Mutex
	slotSize int
	id       uint32
	out      map[uint32]int // sent and not yet received: count
	dups     []uint32
	torn     int
	sentN    int
	gotN     int
}

func newLedger(slotSize int) *ledger {
	return &ledger{slotSize: slotSize, out: map[uint32]int{}}
}

// next returns a new message, as long as the slot.
func (l *ledger) next() []byte {
	l.mu.Lock()
	l.id++
	id := l.id
	l.mu.Unlock()
	msg := make([]byte, l.slotSize)
	var idb [4]byte
	binary.LittleEndian.PutUint32(idb[:], id)
	for i := range msg {
		if i < 4 {
			msg[i] = idb[i]
		} else {
			msg[i] = byte(id) + byte(i)
		}
	}
	return msg
}

// sending records msg as sent (d = 1) before the send, so that a
// consumer quicker than the producer's return finds it recorded, or
// withdraws it (d = -1) when the send failed.
func (l *ledger) sending(msg []byte, d int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sentN += d
	l.out[l.idOf(msg)] += d
}

// idOf reads a message's id (the first min(4, slot size) bytes).
func (l *ledger) idOf(msg []byte) uint32 {
	var idb [4]byte
	copy(idb[:], msg[:min(4, len(msg))])
	return binary.LittleEndian.Uint32(idb[:])
}

func (l *ledger) received(t *testing.T, buf []byte, n int) {
	if n < 0 || n > l.slotSize || n > len(buf) {
		t.Errorf("received a %d-byte message from %d-byte slots", n, l.slotSize)
		return
	}
	msg := buf[:n]
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gotN++
	id := l.idOf(msg)
	if n != l.slotSize {
		l.torn++
		return
	}
	for i := 4; i < n; i++ {
		if msg[i] != byte(id)+byte(i) {
			l.torn++
			return
		}
	}
	if l.out[id] == 0 {
		l.dups = append(l.dups, id)
		return
	}
	l.out[id]--
}

// check requires exactly-once, intact delivery (on a clean ring). With
// slots of fewer than 4 bytes ids repeat, so only the counts are checked.
func (l *ledger) check(t *testing.T) {
	if l.gotN != l.sentN {
		t.Fatalf("clean ring: %d messages sent, %d received", l.sentN, l.gotN)
	}
	if l.slotSize < 4 {
		return
	}
	if l.torn != 0 || len(l.dups) != 0 {
		t.Fatalf("clean ring: %d torn messages, received twice or never sent: %v", l.torn, l.dups)
	}
}
