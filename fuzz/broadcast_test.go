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

// Broadcast header offsets, from the layout table on memfile.Broadcast.
const (
	bcSumFrom = 4  // the check covers bytes 4..39
	bcSumAt   = 40 // FNV-1a of them
	bcHdrXor  = 48 // header bytes the fuzzer may change
	bcHdrSize = memfile.BroadcastHeaderSize
	bcEntry   = 128
)

// bcCounters are the offsets of tail, the two epoch words, the publisher
// role, the join counter and wakeAt, which FuzzBroadcast's counter mask
// changes in this order.
var bcCounters = []struct{ off, size int }{{128, 8}, {256, 4}, {384, 4}, {512, 8}, {520, 8}, {528, 8}}

// bcGeometry decodes the fuzzer's geometry word: slot size 1..64,
// capacity 2..16, subscribers 1..4, back-pressure (bit 13); bit 15 asks to
// recompute the header check after the header mask.
func bcGeometry(geom uint16) (memfile.BroadcastConfig, bool) {
	return memfile.BroadcastConfig{
		SlotSize:     1 + int(geom&0x3f),
		Capacity:     2 << (geom >> 6 & 3),
		Subscribers:  1 + int(geom>>8&3),
		BackPressure: geom&(1<<13) != 0,
	}, geom&0x8000 != 0
}

// bcLen and bcByte are the length and bytes of message seq of FuzzBroadcast.
func bcLen(seq uint64, slot int) int { return 1 + int(seq%uint64(slot)) }
func bcByte(seq uint64, i int) byte  { return byte(seq*31) + byte(i*7) }

// FuzzBroadcast lays out a memfile.Broadcast in memory ending at a
// PROT_NONE page (Linux), then corrupts it as a dying or hostile process
// might: hdr is XORed onto header bytes 0-47 (state, magic, version,
// geometry, flags, offsets, check; recomputing the check when the
// geometry word asks), ctr onto tail, the epoch words, the publisher
// role, the join counter and wakeAt, subs onto the subscriber table
// (owners, cursors, missed counts), slots onto the slot area (marks,
// lengths, payloads). All-zero masks leave a valid, empty ring. Then a
// publisher goroutine and two subscriber goroutines run the op bytes
// (bits 6-7 pick the goroutine, 3: round robin): the publisher's ops are
// TryPublish, Publish, TryBegin with Commit or Abort, Begin with Commit;
// a subscriber's are TryRecv, Recv, TryNext or Next with Done, Lag, and
// Close followed by a new Subscribe (from the newest or the oldest).
// Bits 3-4 of an op pick its timeout.
//
// Property: BroadcastAt fails with ErrCorrupt or ErrVersion, or accepts a
// geometry that fits the memory; no operation panics, hangs or touches
// memory outside the ring; a received message is never longer than the
// slot size; every error is a context error, ErrLapped,
// ErrNoSubscriberSlot or ErrCorrupt. On an uncorrupted ring, in
// addition, every message a subscriber accepts is the intact message of
// its sequence, sequences grow, and under back-pressure none is skipped
// (no lap) but the aborted ones. Messages are read and written in place only under
// back-pressure on a clean ring, where no write overlaps a read (so that
// the race detector, which sees such plain accesses, stays meaningful).
func FuzzBroadcast(f *testing.F) {
	f.Add(uint16(0x2047), []byte{}, []byte{}, []byte{}, []byte{}, []byte{0x00, 0x41, 0x82, 0x01, 0x42, 0x83, 0x09, 0x4a, 0x8b, 0x03})
	f.Add(uint16(0x0107), []byte{}, []byte{}, []byte{}, []byte{}, []byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x81, 0x45, 0x86})
	f.Add(uint16(0x8107), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3}, []byte{9}, []byte{1, 2, 3}, []byte{0xff, 0xff}, []byte{0x00, 0x41, 0x82})
	f.Fuzz(func(t *testing.T, geom uint16, hdr, ctr, subs, slots, ops []byte) {
		c, fixSum := bcGeometry(geom)
		n := memfile.BroadcastSize(c)
		b := guarded(t, n)
		if _, err := memfile.InitBroadcast(b, c); err != nil {
			t.Fatalf("InitBroadcast(%+v) over %d bytes: %v", c, n, err)
		}
		clean := allZero(hdr) && allZero(ctr) && allZero(subs) && allZero(slots)
		corruptBroadcast(b, c, hdr, ctr, subs, slots, fixSum)
		bc, err := memfile.BroadcastAt(b)
		if err != nil {
			if !errors.Is(err, memfile.ErrCorrupt) && !errors.Is(err, memfile.ErrVersion) {
				t.Fatalf("BroadcastAt error matches no sentinel: %v", err)
			}
			return
		}
		got := bc.Config()
		if need := memfile.BroadcastSize(got); need == 0 || need > len(b) {
			t.Fatalf("BroadcastAt accepted %+v (%d bytes) in %d bytes", got, need, len(b))
		}
		if clean && got != c {
			t.Fatalf("BroadcastAt read %+v, InitBroadcast wrote %+v", got, c)
		}
		inPlace := clean && got.BackPressure
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		ab := &aborted{seqs: map[uint64]bool{}}
		runWorkers(t, schedule(ops), func(g int, ops []byte) {
			if g == 0 {
				bcPublisher(t, ctx, bc, ops, inPlace, ab)
				return
			}
			bcSubscriber(t, ctx, bc, ops, clean, inPlace, ab)
		})
	})
}

// corruptBroadcast applies FuzzBroadcast's masks.
func corruptBroadcast(b []byte, c memfile.BroadcastConfig, hdr, ctr, subs, slots []byte, fixSum bool) {
	xorInto(b[:bcHdrXor], hdr)
	if fixSum {
		h := fnv.New32a()
		h.Write(b[bcSumFrom:bcSumAt])
		binary.NativeEndian.PutUint32(b[bcSumAt:], h.Sum32())
	}
	for _, w := range bcCounters {
		if len(ctr) == 0 {
			break
		}
		k := min(w.size, len(ctr))
		xorInto(b[w.off:w.off+k], ctr[:k])
		ctr = ctr[k:]
	}
	table := bcHdrSize + c.Subscribers*bcEntry
	xorInto(b[bcHdrSize:table], subs)
	xorInto(b[table:], slots)
}

// aborted records the sequences the publisher aborted, which subscribers
// skip without a lap.
type aborted struct {
	mu   sync.Mutex
	seqs map[uint64]bool
}

func (a *aborted) add(seq uint64) {
	a.mu.Lock()
	a.seqs[seq] = true
	a.mu.Unlock()
}

// only reports whether every sequence in (from, to) was aborted.
func (a *aborted) only(from, to int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for s := from + 1; s < to; s++ {
		if !a.seqs[uint64(s)] {
			return false
		}
	}
	return true
}

func isBcErr(err error) bool {
	return isCtxErr(err) || errors.Is(err, memfile.ErrLapped) || errors.Is(err, memfile.ErrNoSubscriberSlot) || errors.Is(err, memfile.ErrCorrupt)
}

// bcPublisher runs the publisher's ops of FuzzBroadcast.
func bcPublisher(t *testing.T, parent context.Context, bc *memfile.Broadcast, ops []byte, inPlace bool, ab *aborted) {
	p, err := bc.Publisher(parent)
	if err != nil {
		if !isBcErr(err) {
			t.Errorf("Publisher: %v", err)
		}
		return
	}
	defer p.Close()
	slot := bc.SlotSize()
	msg := make([]byte, slot)
	fill := func(dst []byte, seq uint64) int {
		n := bcLen(seq, slot)
		for i := range n {
			dst[i] = bcByte(seq, i)
		}
		return n
	}
	for _, op := range ops {
		ctx, cancel := opContext(parent, op)
		switch op & 7 {
		case 0, 4:
			n := fill(msg, p.Published())
			p.TryPublish(msg[:n])
		case 1, 5:
			n := fill(msg, p.Published())
			if err := p.Publish(ctx, msg[:n]); err != nil && !isBcErr(err) {
				t.Errorf("Publish: %v", err)
			}
		case 2, 6:
			if !inPlace {
				break
			}
			if s, ok := p.TryBegin(); ok {
				if op&32 != 0 {
					ab.add(p.Published())
					s.Abort()
				} else {
					s.Commit(fill(s.Bytes(), p.Published()))
				}
			}
		case 3, 7:
			if !inPlace {
				break
			}
			s, err := p.Begin(ctx)
			if err != nil {
				if !isBcErr(err) {
					t.Errorf("Begin: %v", err)
				}
				break
			}
			s.Commit(fill(s.Bytes(), p.Published()))
		}
		cancel()
	}
}

// bcSubscriber runs one subscriber's ops of FuzzBroadcast.
func bcSubscriber(t *testing.T, parent context.Context, bc *memfile.Broadcast, ops []byte, clean, inPlace bool, ab *aborted) {
	from := memfile.StartOldest
	s, err := bc.Subscribe(from)
	if err != nil {
		if !isBcErr(err) {
			t.Errorf("Subscribe: %v", err)
		}
		return
	}
	defer func() { s.Close() }()
	slot := bc.SlotSize()
	buf := make([]byte, slot)
	last := int64(s.Position()) - 1
	accept := func(msg []byte, seq uint64) {
		if len(msg) > slot {
			t.Errorf("a %d-byte message from %d-byte slots", len(msg), slot)
			return
		}
		if !clean {
			return
		}
		bad := len(msg) != bcLen(seq, slot)
		for i := range msg {
			bad = bad || msg[i] != bcByte(seq, i)
		}
		switch {
		case bad:
			t.Errorf("clean ring: message %d torn or misplaced: %x", seq, msg)
		case int64(seq) <= last:
			t.Errorf("clean ring: message %d after %d", seq, last)
		case bc.Config().BackPressure && !ab.only(last, int64(seq)):
			t.Errorf("clean ring under back-pressure: message %d after %d", seq, last)
		}
		last = int64(seq)
	}
	lapped := func(err error) {
		switch {
		case err == nil:
		case errors.Is(err, memfile.ErrLapped):
			if clean && bc.Config().BackPressure {
				t.Errorf("clean ring: lapped under back-pressure: %v", err)
			}
			last = int64(s.Position()) - 1
		case !isBcErr(err):
			t.Errorf("subscriber: %v", err)
		}
	}
	for _, op := range ops {
		ctx, cancel := opContext(parent, op)
		switch op & 7 {
		case 0:
			n, ok, err := s.TryRecv(buf)
			if ok {
				accept(buf[:n], s.Position()-1)
			}
			lapped(err)
		case 1, 5:
			n, err := s.Recv(ctx, buf)
			if err == nil {
				accept(buf[:n], s.Position()-1)
			}
			lapped(err)
		case 2, 3:
			var m memfile.BroadcastMsg
			var ok bool
			var err error
			if op&1 == 0 {
				m, ok, err = s.TryNext()
			} else if m, err = s.Next(ctx); err == nil {
				ok = true
			}
			if ok {
				var cp []byte
				if inPlace {
					cp = append(cp, m.Bytes()...)
				}
				seq := m.Seq()
				if derr := m.Done(); derr == nil && inPlace {
					accept(cp, seq)
				} else {
					lapped(derr)
				}
			}
			lapped(err)
		case 4:
			if lag := s.Lag(); lag > 1<<62 {
				t.Errorf("Lag %d", lag)
			}
		case 6, 7:
			if err := s.Close(); err != nil && !isBcErr(err) {
				t.Errorf("Close: %v", err)
			}
			if op&32 != 0 {
				from = memfile.StartNewest
			}
			ns, err := bc.Subscribe(from)
			if err != nil {
				if !isBcErr(err) {
					t.Errorf("Subscribe: %v", err)
				}
				cancel()
				return
			}
			s, last = ns, int64(ns.Position())-1
		}
		cancel()
	}
}
