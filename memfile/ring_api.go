package memfile

import (
	"context"
	"fmt"
	"io"

	sw "github.com/shmx/shmx/internal/word"
)

// TrySend copies msg into a free slot and publishes it, and reports
// whether it did; false means the ring is full. It never blocks and never
// makes a system call unless a consumer sleeps. It panics if msg is longer
// than SlotSize, a bug in the caller.
func (r *Ring) TrySend(msg []byte) bool {
	if len(msg) > r.slotSize {
		panic("memfile: Ring.TrySend message longer than the slot size")
	}
	pos, ok, _ := r.claimSend()
	if !ok {
		return false
	}
	copy(r.payload(r.slot(pos)), msg)
	r.commit(pos, uint32(len(msg)))
	return true
}

// Send copies msg into a slot, waiting while the ring is full until ctx is
// done (then it returns ctx.Err() and the ring is unchanged). It returns
// an error if msg is longer than SlotSize.
func (r *Ring) Send(ctx context.Context, msg []byte) error {
	ctx = background(ctx)
	if len(msg) > r.slotSize {
		return fmt.Errorf("memfile: Ring.Send: message of %d bytes exceeds the slot size %d", len(msg), r.slotSize)
	}
	pos, err := r.acquire(ctx, false)
	if err != nil {
		return err
	}
	copy(r.payload(r.slot(pos)), msg)
	r.commit(pos, uint32(len(msg)))
	return nil
}

// TryRecv takes the oldest ready message, copies it into buf and returns
// its length and true; false means none is ready. If the message is longer
// than buf, only len(buf) bytes are copied and n is still the message's
// full length (n > len(buf) tells the caller it was truncated; a buf of
// SlotSize bytes never truncates).
func (r *Ring) TryRecv(buf []byte) (n int, ok bool) {
	for {
		pos, ok, _ := r.claimRecv()
		if !ok {
			return 0, false
		}
		if n, ok := r.take(pos, buf); ok {
			return n, true
		}
	}
}

// Recv takes the oldest message, waiting while the ring is empty until ctx
// is done (then it returns ctx.Err() and the ring is unchanged), and copies
// it into buf. A message longer than buf is truncated to len(buf) and
// reported with n = its full length and io.ErrShortBuffer.
func (r *Ring) Recv(ctx context.Context, buf []byte) (int, error) {
	ctx = background(ctx)
	for {
		pos, err := r.acquire(ctx, true)
		if err != nil {
			return 0, err
		}
		if n, ok := r.take(pos, buf); ok {
			if n > len(buf) {
				return n, fmt.Errorf("memfile: Ring.Recv: message of %d bytes into %d: %w", n, len(buf), io.ErrShortBuffer)
			}
			return n, nil
		}
	}
}

// take copies the message claimed at pos into buf and releases the slot;
// false for a slot that had nothing to deliver.
func (r *Ring) take(pos uint64, buf []byte) (int, bool) {
	n, ok := r.message(pos)
	if ok {
		copy(buf, r.payload(r.slot(pos))[:n])
	}
	r.release(pos)
	return n, ok
}

// SendSlot is a slot claimed for sending by BeginSend or TryBeginSend: the
// zero-copy form of Send. The caller writes the message in place into
// Bytes() and publishes it with Commit (or gives the slot up with Abort).
// Exactly one of them must be called, exactly once (a second call on the
// same SendSlot panics, a bug like unlocking an unlocked mutex); until then consumers
// wait at this slot (messages behind it are not delivered), so hold it
// briefly. If the process dies first, consumers skip the slot (see Ring).
// A SendSlot is a small value; do not copy it to commit it twice.
type SendSlot struct {
	r   *Ring
	pos uint64
}

// TryBeginSend claims a free slot without waiting; false means the ring is full.
func (r *Ring) TryBeginSend() (SendSlot, bool) {
	pos, ok, _ := r.claimSend()
	return SendSlot{r, pos}, ok
}

// BeginSend claims a free slot, waiting while the ring is full until ctx
// is done (then it returns ctx.Err()).
func (r *Ring) BeginSend(ctx context.Context) (SendSlot, error) {
	ctx = background(ctx)
	pos, err := r.acquire(ctx, false)
	return SendSlot{r, pos}, err
}

// Bytes returns the slot's payload, SlotSize bytes of shared memory, to
// write the message into. It must not be used after Commit or Abort.
func (s *SendSlot) Bytes() []byte { return s.held().payload(s.r.slot(s.pos)) }

// held returns the ring of a slot still held, and panics otherwise.
func (s *SendSlot) held() *Ring {
	if s.r == nil {
		panic("memfile: SendSlot used after Commit or Abort")
	}
	return s.r
}

// Commit publishes the first n bytes of Bytes() as the message. It panics
// if n is out of range or the slot was already committed or aborted.
func (s *SendSlot) Commit(n int) {
	r := s.held()
	if n < 0 || n > r.slotSize {
		panic("memfile: SendSlot.Commit length out of range")
	}
	s.r = nil
	r.commit(s.pos, uint32(n))
}

// Abort gives the slot up: consumers skip it and no message is delivered.
// It panics if the slot was already committed or aborted.
func (s *SendSlot) Abort() {
	r := s.held()
	s.r = nil
	r.commit(s.pos, ringSkip)
}

// RecvSlot is a message claimed for receiving by BeginRecv or
// TryBeginRecv: the zero-copy form of Recv. The caller reads the message
// in place from Bytes() and then must call Release, exactly once; until
// then producers cannot reuse this slot (they wait once the ring has
// wrapped around to it). A second Release panics. If the process dies
// first, a producer frees the slot (see Ring).
type RecvSlot struct {
	r   *Ring
	pos uint64
	n   int
}

// TryBeginRecv claims the oldest ready message without waiting; false
// means none is ready.
func (r *Ring) TryBeginRecv() (RecvSlot, bool) {
	for {
		pos, ok, _ := r.claimRecv()
		if !ok {
			return RecvSlot{}, false
		}
		if n, ok := r.message(pos); ok {
			return RecvSlot{r, pos, n}, true
		}
		r.release(pos)
	}
}

// BeginRecv claims the oldest message, waiting while the ring is empty
// until ctx is done (then it returns ctx.Err()).
func (r *Ring) BeginRecv(ctx context.Context) (RecvSlot, error) {
	ctx = background(ctx)
	for {
		pos, err := r.acquire(ctx, true)
		if err != nil {
			return RecvSlot{}, err
		}
		if n, ok := r.message(pos); ok {
			return RecvSlot{r, pos, n}, nil
		}
		r.release(pos)
	}
}

// Bytes returns the message, in shared memory. The caller must not write
// to it, nor use it after Release.
func (s *RecvSlot) Bytes() []byte { return s.held().payload(s.r.slot(s.pos))[:s.n] }

// Len returns the message's length.
func (s *RecvSlot) Len() int { return s.n }

// Release frees the slot for producers. It panics if the slot was already
// released.
func (s *RecvSlot) Release() {
	r := s.held()
	s.r = nil
	r.release(s.pos)
}

// held returns the ring of a slot still held, and panics otherwise.
func (s *RecvSlot) held() *Ring {
	if s.r == nil {
		panic("memfile: RecvSlot used after Release")
	}
	return s.r
}

// TrySendBatch copies the first messages of msgs into consecutive free
// slots, as many as are free (all of them at most), and publishes them,
// without waiting; it returns how many it sent, in order (0: the ring is
// full). One claim takes the slots and one wake-up check follows the
// last of them, so a batch costs less per message than TrySend (each
// slot still takes one compare-and-swap to claim and one to commit, which
// is what lets a process that dies mid-batch be recovered from, slot by
// slot; see Ring). It panics if a message is longer than SlotSize, a bug
// in the caller, before sending any.
func (r *Ring) TrySendBatch(msgs [][]byte) int {
	r.checkBatch(msgs)
	if len(msgs) == 0 {
		return 0
	}
	pos, k, _ := r.claimSendN(len(msgs))
	r.fill(pos, msgs[:k])
	return k
}

// SendBatch sends every message of msgs in order, claiming as many free
// slots at a time as there are (each claim a batch, as in TrySendBatch),
// waiting while the ring is full until ctx is done. It returns how many
// it sent: all of them, or fewer with ctx.Err(). A message longer than
// SlotSize is an error, before any is sent. Other producers' messages
// may come between two claims of one SendBatch.
func (r *Ring) SendBatch(ctx context.Context, msgs [][]byte) (int, error) {
	ctx = background(ctx)
	for _, m := range msgs {
		if len(m) > r.slotSize {
			return 0, fmt.Errorf("memfile: Ring.SendBatch: message of %d bytes exceeds the slot size %d", len(m), r.slotSize)
		}
	}
	sent := 0
	for sent < len(msgs) {
		pos, k, err := r.acquireN(ctx, false, len(msgs)-sent)
		if err != nil {
			return sent, err
		}
		r.fill(pos, msgs[sent:sent+k])
		sent += k
	}
	return sent, nil
}

func (r *Ring) checkBatch(msgs [][]byte) {
	for _, m := range msgs {
		if len(m) > r.slotSize {
			panic("memfile: Ring.TrySendBatch message longer than the slot size")
		}
	}
}

// fill writes msgs into the slots claimed from pos on, then publishes
// them, and then wakes a sleeping consumer if there is one. All the
// copies come before the first publication, and the publications are
// release stores (publish), not compare-and-swaps, which on x86 are
// locked instructions that wait for every store before them: written
// that way, the stores to the batch's lines (each fetched from the
// consumer that last read it) are in flight together, not one after the
// other. One fence then orders them all before the look at the sleeper
// bit, which a compare-and-swap did for each.
func (r *Ring) fill(pos uint64, msgs [][]byte) {
	if len(msgs) == 0 {
		return
	}
	for i, m := range msgs {
		s := r.slot(pos + uint64(i))
		copy(r.payload(s), m)
		s.length = uint32(len(m))
	}
	for i := range msgs {
		r.publish(pos + uint64(i))
	}
	sw.Fence() // the publications before the look at the sleeper bit
	wakeSleepers(r.recvEpoch, len(msgs))
}

// TryRecvBatch takes up to len(bufs) ready messages, oldest first, with
// one claim of consecutive slots and one wake-up check after their
// release, without waiting, and returns how many it took (0: none
// ready). Message i is copied into bufs[i][:cap(bufs[i])] and bufs[i] is
// resliced to its length. A message longer than cap(bufs[i]) is
// truncated to it; the error then wraps io.ErrShortBuffer (the count
// still includes it). Slots of aborted sends are skipped and not counted.
func (r *Ring) TryRecvBatch(bufs [][]byte) (int, error) {
	got, short := r.recvMore(bufs, 0, false)
	return got, shortErr(short)
}

// recvMore claims and drains more messages into bufs[got:] while a
// claim takes all it asks for (aborted sends made room in bufs). It
// stops after a claim that stopped short, where the next slot was not
// ready: trying that slot again at once would only take its line away
// from the producer writing it.
func (r *Ring) recvMore(bufs [][]byte, got int, short bool) (int, bool) {
	for got < len(bufs) {
		want := len(bufs) - got
		pos, k, _ := r.claimRecvN(want)
		if k == 0 {
			break
		}
		n, s := r.drain(pos, k, bufs[got:])
		got, short = got+n, short || s
		if k < want {
			break
		}
	}
	return got, short
}

// RecvBatch is TryRecvBatch that waits, while the ring is empty, for at
// least one message until ctx is done (then it returns 0 and ctx.Err()
// and the ring is unchanged). After a wait it claims every ready
// message (up to len(bufs)) at once.
func (r *Ring) RecvBatch(ctx context.Context, bufs [][]byte) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	ctx = background(ctx)
	for {
		pos, k, err := r.acquireN(ctx, true, len(bufs))
		if err != nil {
			return 0, err
		}
		got, short := r.drain(pos, k, bufs)
		if k == len(bufs) {
			got, short = r.recvMore(bufs, got, short)
		}
		if got > 0 {
			return got, shortErr(short)
		}
	}
}

// drain copies the k messages claimed from pos on into bufs (skipping
// aborted sends), frees the slots, wakes a sleeping producer if there is
// one, and returns how many messages it delivered and whether one was
// truncated.
//
// All the copies come before the first release, and the releases are
// release stores with one fence after them (free), for the reasons
// given on fill.
func (r *Ring) drain(pos uint64, k int, bufs [][]byte) (got int, short bool) {
	for i := range k {
		p := pos + uint64(i)
		if n, ok := r.message(p); ok {
			b := bufs[got][:cap(bufs[got])]
			if n > len(b) {
				short = true
				n = len(b)
			}
			copy(b, r.payload(r.slot(p))[:n])
			bufs[got] = b[:n]
			got++
		}
	}
	for i := range k {
		r.free(pos + uint64(i))
	}
	sw.Fence() // as in fill
	wakeSleepers(r.sendEpoch, k)
	return got, short
}

func shortErr(short bool) error {
	if !short {
		return nil
	}
	return fmt.Errorf("memfile: Ring.RecvBatch: a message longer than its buffer was truncated: %w", io.ErrShortBuffer)
}
