package memfile

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"unsafe"

	sw "github.com/shmx/shmx/internal/word"
)

// bcHandles numbers this process's publisher and subscriber handles, so
// that a role or entry names one handle, not just one process (never 0).
var bcHandles atomic.Uint32

func bcOwnWord() uint64 {
	n := bcHandles.Add(1)
	for n == 0 {
		n = bcHandles.Add(1)
	}
	return uint64(self())<<32 | uint64(n)
}

// ownerGone reports whether the process named by owner word w (a role or
// a subscriber entry) is judged dead; this process never judges itself.
func (bc *Broadcast) ownerGone(w uint64) bool {
	tok := uint32(w >> 32)
	return tok != 0 && tok != self() && gone(bc.slots, tok)
}

// bcMaxSeq bounds the sequences of a sound ring: at a billion messages a
// second it is reached after 146 years, so a tail beyond it is garbage,
// refused before any arithmetic on it could wrap.
const bcMaxSeq = 1 << 62

func (bc *Broadcast) checkTail() error {
	if t := bc.tail.Load(); t >= bcMaxSeq {
		return fmt.Errorf("memfile: broadcast tail %#x beyond any sound sequence: %w", t, ErrCorrupt)
	}
	return nil
}

// Publisher is the handle of the process that holds a Broadcast's
// publisher role. It is for one goroutine at a time.
type Publisher struct {
	bc    *Broadcast
	own   uint64 // the role word while held
	next  uint64 // sequence of the next message
	limit uint64 // back-pressure: sequences below it may be written
	joins uint64 // back-pressure: the join counter at the last scan
	// blocker is the owner word and entry of the slowest subscriber at
	// the last scan (back-pressure), stuck how long it has held us back.
	blocker  uint64
	blockerE *bcEntry
	stuck    ringStuck
	slotOpen bool // a BroadcastSlot from Begin is not committed yet
	closed   bool
}

// Publisher takes the publisher role, waiting while another live
// publisher (in this or another process) holds it, until ctx is done
// (nil: context.Background()); it takes the role at once from a holder
// judged dead. Several publishers thus publish in turn, each between its
// Publisher and its Close. It returns fs.ErrClosed (wrapped) if the
// MemFile holding the ring is closed while it waits.
func (bc *Broadcast) Publisher(ctx context.Context) (*Publisher, error) {
	if err := bc.checkTail(); err != nil {
		return nil, err
	}
	own := bcOwnWord()
	ctx = cancellable(ctx)
	for {
		w := bc.role.Load()
		switch {
		case w == 0, bc.ownerGone(w):
			if bc.role.CompareAndSwap(w, own) {
				return &Publisher{bc: bc, own: own, next: bc.tail.Load(), joins: ^uint64(0)}, nil
			}
			continue
		}
		if err := sleep(ctx, low32(bc.role), uint32(w), sliceWait); err != nil {
			return nil, err
		}
	}
}

// Close gives the publisher role back, waking a Publisher call waiting
// for it. A slot begun and not committed is aborted first. Close is
// idempotent.
func (p *Publisher) Close() error {
	if p.closed {
		return nil
	}
	if p.slotOpen {
		p.bc.commit(p.bc.slot(p.next), p.next, bcSkip)
		p.next++
		p.slotOpen = false
	}
	p.closed = true
	if !p.bc.role.CompareAndSwap(p.own, 0) {
		return fmt.Errorf("memfile: broadcast publisher role taken from this publisher (it was judged dead): %w", ErrCorrupt)
	}
	wakeAll(low32(p.bc.role))
	return nil
}

// Published returns the number of messages published so far through the
// ring (by every publisher): the sequence of this publisher's next one.
func (p *Publisher) Published() uint64 { return p.next }

func (p *Publisher) check(n int) error {
	switch {
	case p.closed:
		return fmt.Errorf("memfile: broadcast Publisher used after Close")
	case p.slotOpen:
		return fmt.Errorf("memfile: broadcast Publisher: a slot from Begin is not committed")
	case n > p.bc.slotSize:
		return fmt.Errorf("memfile: broadcast: message of %d bytes exceeds the slot size %d", n, p.bc.slotSize)
	}
	return nil
}

// TryPublish copies msg into the ring and publishes it, and reports
// whether it did: false only under back-pressure, when the slowest live
// subscriber has not read the message its slot holds (or for a closed
// publisher, a busy one, or msg longer than SlotSize, where Publish says
// why). It never blocks and makes no system call unless a subscriber
// sleeps.
func (p *Publisher) TryPublish(msg []byte) bool {
	if p.check(len(msg)) != nil || (p.bc.bp && !p.room()) {
		return false
	}
	p.write(msg)
	return true
}

// Publish copies msg into the ring and publishes it. Without
// back-pressure it never waits. With it, it waits while the slowest live
// subscriber has not read the message the slot holds, until ctx is done
// (nil: context.Background(); it then returns ctx.Err() and publishes
// nothing); a subscriber judged dead holds it back about RingWaitSlice,
// then is dropped.
func (p *Publisher) Publish(ctx context.Context, msg []byte) error {
	if err := p.check(len(msg)); err != nil {
		return err
	}
	if p.bc.bp {
		if err := p.waitRoom(ctx); err != nil {
			return err
		}
	}
	p.write(msg)
	return nil
}

func (p *Publisher) write(msg []byte) {
	t := p.next
	s := p.bc.begin(t)
	p.bc.copyIn(s, msg)
	p.bc.commit(s, t, uint32(len(msg)))
	p.next = t + 1
}

// BroadcastSlot is a slot claimed by Begin or TryBegin: the zero-copy
// form of Publish. Write the message into Bytes() and publish it with
// Commit, or give it up with Abort; exactly one of them, once.
type BroadcastSlot struct {
	p   *Publisher
	s   *bcSlot
	seq uint64
}

// TryBegin claims the next slot without waiting; false as for TryPublish.
// The slot's previous message is overwritten from now on: subscribers
// still reading it are told they were lapped.
func (p *Publisher) TryBegin() (BroadcastSlot, bool) {
	if p.check(0) != nil || (p.bc.bp && !p.room()) {
		return BroadcastSlot{}, false
	}
	return p.open(), true
}

// Begin claims the next slot, waiting as Publish does.
func (p *Publisher) Begin(ctx context.Context) (BroadcastSlot, error) {
	if err := p.check(0); err != nil {
		return BroadcastSlot{}, err
	}
	if p.bc.bp {
		if err := p.waitRoom(ctx); err != nil {
			return BroadcastSlot{}, err
		}
	}
	return p.open(), nil
}

func (p *Publisher) open() BroadcastSlot {
	p.slotOpen = true
	return BroadcastSlot{p, p.bc.begin(p.next), p.next}
}

func (s *BroadcastSlot) held() *Publisher {
	if s.p == nil {
		panic("memfile: BroadcastSlot used after Commit or Abort")
	}
	return s.p
}

// Bytes returns the slot's payload, SlotSize bytes of shared memory, to
// write the message into (plain stores: a subscriber lapped while it
// reads this slot races with them, which its mark check rejects, but
// which the race detector reports when both are in one process).
func (s *BroadcastSlot) Bytes() []byte { return s.held().bc.payload(s.s) }

// Commit publishes the first n bytes of Bytes() as the message. It
// panics if n is out of range or the slot was committed or aborted.
func (s *BroadcastSlot) Commit(n int) {
	p := s.held()
	if n < 0 || n > p.bc.slotSize {
		panic("memfile: BroadcastSlot.Commit length out of range")
	}
	s.finish(p, uint32(n))
}

// Abort publishes nothing: subscribers skip the slot.
func (s *BroadcastSlot) Abort() { s.finish(s.held(), bcSkip) }

func (s *BroadcastSlot) finish(p *Publisher, n uint32) {
	s.p = nil
	p.bc.commit(s.s, s.seq, n)
	p.next = s.seq + 1
	p.slotOpen = false
}

// room reports whether the publisher may write p.next without waiting
// (back-pressure): one load of the join counter while the bound cached at
// the last scan lasts, a scan of the subscriber table otherwise.
func (p *Publisher) room() bool {
	if j := p.bc.joins.Load(); j != p.joins || p.next >= p.limit {
		p.scan(j)
	}
	return p.next < p.limit
}

// roomFor rescans and reports whether k messages may be written.
func (p *Publisher) roomFor(k uint64) bool {
	p.scan(p.bc.joins.Load())
	return p.next+k <= p.limit
}

// scan computes the bound from the table: every held entry's cursor, at
// most p.next (a stale or garbage cursor ahead of the publisher counts as
// caught up), plus capacity. j is the join counter, loaded before.
func (p *Publisher) scan(j uint64) {
	bc := p.bc
	low := p.next
	p.blocker, p.blockerE = 0, nil
	for i := range bc.nsubs {
		e := bc.entry(i)
		w := e.owner.Load()
		if w == 0 {
			continue
		}
		if c := e.cursor.Load(); c < low {
			low, p.blocker, p.blockerE = c, w, e
		}
	}
	p.limit = low + bc.capacity
	p.joins = j
}

// waitRoom waits until p.next may be written (back-pressure).
func (p *Publisher) waitRoom(ctx context.Context) error {
	if p.room() {
		return nil
	}
	strat := WaitStrategyOf(ctx)
	ctx = cancellable(ctx)
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if strat.spinPhase(p.room) {
		return nil
	}
	bc := p.bc
	if !strat.registers() {
		// BusySpin: poll without the sleeper bit, so subscribers make no
		// system call; every slice, drop a dead subscriber that holds
		// the ring back, as the sleep below does.
		return pollUntil(ctx, epochAddr(bc.pubEpoch), p.room, sliceWait, func() bool {
			p.dropDeadBlocker()
			return false
		})
	}
	// Sleep until a quarter of the ring is free (see Broadcast, on
	// back-pressure): the slowest cursor must reach target. p.next >=
	// capacity here, since some cursor >= 0 holds it back.
	batch := max(bc.capacity/4, 1)
	target := p.next - bc.capacity + batch
	bc.wakeAt.Store(target)
	word := epochAddr(bc.pubEpoch)
	for {
		e := markSleeper(bc.pubEpoch)
		if p.roomFor(batch) {
			if closedAt(unsafe.Pointer(word)) {
				return errClosed // Close zeroed the table since the last sleep
			}
			return nil
		}
		if p.dropDeadBlocker() {
			continue // look again
		}
		if err := sleep(ctx, word, e, sliceWait); err != nil {
			return err
		}
	}
}

// dropDeadBlocker frees the entry of the subscriber that holds p back
// (the slowest cursor at the last scan) when it has held p back for a
// slice and the kernel says it is gone: a CAS against the exact owner
// word, so that a new subscriber that took the entry meanwhile keeps it.
// It reports whether it tried.
func (p *Publisher) dropDeadBlocker() bool {
	w := p.blocker
	if !p.stuck.behind(uint32(w>>32), self()) || !p.bc.ownerGone(w) {
		return false
	}
	p.blockerE.owner.CompareAndSwap(w, 0)
	return true
}

// StartAt says where a new subscriber starts reading.
type StartAt int

const (
	// StartNewest starts with the next message published.
	StartNewest StartAt = iota
	// StartOldest starts with the oldest message the ring still holds
	// (all but the one the publisher may be overwriting at that moment).
	StartOldest
)

// Subscriber is one reader of a Broadcast, with its own cursor. It is
// for one goroutine at a time.
type Subscriber struct {
	bc     *Broadcast
	e      *bcEntry
	own    uint64
	next   uint64 // sequence of the next message to read
	seen   uint64 // the tail at the last look: messages below it are published
	missed uint64
	lapped LappedError
	// held is the sequence of the message Next returned and Done has not
	// checked yet, +1 (0: none).
	held   uint64
	fence  sw.Uint64 // Done's barrier; private, never contended
	closed bool
}

// Subscribe joins the ring as a new subscriber, which starts at from. It
// takes a free entry of the subscriber table, or the entry of a
// subscriber judged dead, and fails with ErrNoSubscriberSlot when every
// entry is held by a live one. Under back-pressure, from the moment
// Subscribe returns the publisher never overwrites a message this
// subscriber has not read (while it lives and until Close).
func (bc *Broadcast) Subscribe(from StartAt) (*Subscriber, error) {
	if err := bc.checkTail(); err != nil {
		return nil, err
	}
	own := bcOwnWord()
	e := bc.claimEntry(own)
	if e == nil {
		return nil, fmt.Errorf("memfile: broadcast of %d subscribers: %w", bc.nsubs, ErrNoSubscriberSlot)
	}
	s := &Subscriber{bc: bc, e: e, own: own}
	e.missed.Store(0)
	c := uint64(0)
	for first := true; ; first = false {
		t := bc.tail.Load()
		want := t
		if from == StartOldest {
			want = 0
			if t+1 > bc.capacity {
				want = t + 1 - bc.capacity
			}
		}
		if first || want > c {
			c = want
		}
		e.cursor.Store(c)
		if !bc.bp {
			break
		}
		// See "Joining under back-pressure" on Broadcast.
		bc.joins.Add(1)
		if t2 := bc.tail.Load(); t2 < c || t2-c < bc.capacity {
			break // (t2 < c: only in corrupt memory, whose tail went back)
		}
	}
	s.next = c
	if bc.bp {
		// Between the claim and the store of c the entry showed its
		// previous cursor, which may have held the publisher back: it
		// may sleep for a cursor this store crossed.
		epochWake(bc.pubEpoch)
	}
	return s, nil
}

// claimEntry takes a free entry, or else one whose owner is judged dead
// (a system call per held entry, only when none is free).
func (bc *Broadcast) claimEntry(own uint64) *bcEntry {
	for i := range bc.nsubs {
		if e := bc.entry(i); e.owner.Load() == 0 && e.owner.CompareAndSwap(0, own) {
			return e
		}
	}
	for i := range bc.nsubs {
		e := bc.entry(i)
		if w := e.owner.Load(); (w == 0 || bc.ownerGone(w)) && e.owner.CompareAndSwap(w, own) {
			return e
		}
	}
	return nil
}

// Close leaves the ring: the entry is freed and, under back-pressure,
// the publisher no longer waits for this subscriber. Close is idempotent.
func (s *Subscriber) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.held = 0
	if !s.e.owner.CompareAndSwap(s.own, 0) {
		return fmt.Errorf("memfile: broadcast subscriber entry taken from this subscriber (it was judged dead): %w", ErrCorrupt)
	}
	if s.bc.bp {
		epochWake(s.bc.pubEpoch)
	}
	return nil
}

// Lag returns how many published messages this subscriber has not read
// yet (more than the capacity: it will be told it was lapped).
func (s *Subscriber) Lag() uint64 {
	if t := s.bc.tail.Load(); t > s.next {
		return t - s.next
	}
	return 0
}

// Missed returns how many messages this subscriber was lapped over, in
// total.
func (s *Subscriber) Missed() uint64 { return s.missed }

// Position returns the sequence of the next message this subscriber reads.
func (s *Subscriber) Position() uint64 { return s.next }

// poll makes one attempt at message s.next: for readOK the message's
// length n, copied (if buf is not nil) into buf, truncated to len(buf).
// With inPlace the payload is not read here (the caller reads it and
// Done checks the mark).
func (s *Subscriber) poll(buf []byte, inPlace bool) (int, readResult) {
	bc := s.bc
	c := s.next
	if c >= s.seen {
		// Nothing known to be published at c: look at the tail, the
		// line the publisher writes at every message. Below the tail
		// last seen, the slot's mark alone says whether it still holds
		// message c (or was overwritten: lapped), so a subscriber that
		// is behind reads no shared word but the slots.
		t := bc.tail.Load()
		switch {
		case t == c:
			return 0, readEmpty
		case t < c:
			return 0, readCorrupt
		case t-c > bc.capacity:
			return 0, readLapped
		}
		s.seen = t
	}
	sl := bc.slot(c)
	m1 := sl.mark.Load()
	if want := bcMark(c); m1 != want {
		if m1 > want {
			return 0, readLapped
		}
		return 0, readCorrupt
	}
	n := sl.length.Load()
	switch {
	case n == bcSkip:
		if sl.mark.Load() != m1 {
			return 0, readLapped
		}
		return 0, readSkip
	case n > uint32(bc.slotSize):
		if sl.mark.Load() != m1 {
			return 0, readLapped // a torn length
		}
		return 0, readCorrupt
	}
	if inPlace {
		return int(n), readOK
	}
	bc.copyOut(sl, buf[:min(int(n), len(buf))])
	if sl.mark.Load() != m1 {
		return 0, readLapped
	}
	return int(n), readOK
}

// advance moves the cursor to seq, publishing it for the publisher
// (back-pressure) and for inspection.
func (s *Subscriber) advance(seq uint64) {
	prev := s.next
	s.next = seq
	s.e.cursor.Store(seq)
	if bc := s.bc; bc.bp && bc.pubEpoch.Load()&ringSleeper != 0 {
		// The held-back publisher waits for a cursor to cross wakeAt.
		if w := bc.wakeAt.Load(); prev < w && w <= seq {
			epochWake(bc.pubEpoch)
		}
	}
}

// lap moves a lapped subscriber to the oldest message still held and
// returns the error that says how many it missed: a pointer to the
// subscriber's own LappedError (no allocation), valid until its next
// call.
func (s *Subscriber) lap() error {
	bc := s.bc
	t := bc.tail.Load()
	c := s.next + 1
	if t+1 > bc.capacity && t+1-bc.capacity > c {
		c = t + 1 - bc.capacity
	}
	missed := c - s.next
	s.missed += missed
	s.e.missed.Store(s.missed)
	s.advance(c)
	s.lapped.Missed = missed
	return &s.lapped
}

// corrupt describes a readCorrupt result: fs.ErrClosed (wrapped) if the
// MemFile holding the ring was closed (Close replaces its memory by
// zeros), ErrCorrupt otherwise.
func (s *Subscriber) corrupt() error {
	bc := s.bc
	if closedAt(unsafe.Pointer(bc.tail)) {
		return errClosed
	}
	sl := bc.slot(s.next)
	return bcCorrupt(s.next, bc.tail.Load(), sl.mark.Load(), sl.length.Load(), bc.slotSize)
}

func (s *Subscriber) usable() error {
	switch {
	case s.closed:
		return fmt.Errorf("memfile: broadcast Subscriber used after Close")
	case s.held != 0:
		return fmt.Errorf("memfile: broadcast Subscriber: the message from Next is not Done")
	}
	return nil
}

// TryRecv copies the next message into buf and returns its length and
// true; false with a nil error when there is nothing new. A message
// longer than buf is truncated to len(buf) (n is still its length). An
// error matching ErrLapped (a *LappedError) says messages were missed:
// the next call returns the oldest one still held. Never blocks, never
// makes a system call unless the publisher sleeps (back-pressure).
func (s *Subscriber) TryRecv(buf []byte) (n int, ok bool, err error) {
	if err := s.usable(); err != nil {
		return 0, false, err
	}
	for {
		n, r := s.poll(buf, false)
		switch r {
		case readOK:
			s.advance(s.next + 1)
			return n, true, nil
		case readSkip:
			s.advance(s.next + 1)
			continue
		case readEmpty:
			return 0, false, nil
		case readLapped:
			return 0, false, s.lap()
		}
		return 0, false, s.corrupt()
	}
}

// Recv copies the next message into buf, waiting until one is published
// or ctx is done (nil: context.Background(); then ctx.Err()). A message
// longer than buf is truncated, reported with n = its length and
// io.ErrShortBuffer. Lapping is reported as by TryRecv; after the
// MemFile holding the ring is closed it returns fs.ErrClosed (wrapped).
func (s *Subscriber) Recv(ctx context.Context, buf []byte) (int, error) {
	for {
		n, ok, err := s.TryRecv(buf)
		switch {
		case err != nil:
			return 0, err
		case ok && n > len(buf):
			return n, fmt.Errorf("memfile: broadcast: message of %d bytes into %d: %w", n, len(buf), io.ErrShortBuffer)
		case ok:
			return n, nil
		}
		if err := s.wait(ctx); err != nil {
			return 0, err
		}
	}
}

// BroadcastMsg is a message read in place by Next or TryNext: the
// zero-copy form of Recv. Read it from Bytes(), then call Done, which
// says whether what was read is intact.
type BroadcastMsg struct {
	s   *Subscriber
	sl  *bcSlot
	seq uint64
	n   int
}

// TryNext returns the next message in place without waiting; false with
// a nil error when there is nothing new; errors as for TryRecv. Until
// Done the subscriber's cursor stays at this message: under
// back-pressure the publisher does not overwrite it, otherwise it may,
// and Done says so.
func (s *Subscriber) TryNext() (BroadcastMsg, bool, error) {
	if err := s.usable(); err != nil {
		return BroadcastMsg{}, false, err
	}
	for {
		n, r := s.poll(nil, true)
		switch r {
		case readOK:
			s.held = s.next + 1
			return BroadcastMsg{s, s.bc.slot(s.next), s.next, n}, true, nil
		case readSkip:
			s.advance(s.next + 1)
			continue
		case readEmpty:
			return BroadcastMsg{}, false, nil
		case readLapped:
			return BroadcastMsg{}, false, s.lap()
		}
		return BroadcastMsg{}, false, s.corrupt()
	}
}

// Next returns the next message in place, waiting as Recv does.
func (s *Subscriber) Next(ctx context.Context) (BroadcastMsg, error) {
	for {
		m, ok, err := s.TryNext()
		if err != nil || ok {
			return m, err
		}
		if err := s.wait(ctx); err != nil {
			return BroadcastMsg{}, err
		}
	}
}

// Bytes returns the message, in shared memory: do not write to it, nor
// use it after Done, and trust what was read only if Done returns nil.
// (Plain loads: a publisher lapping this subscriber races with them,
// which Done detects, but which the race detector reports when both are
// in one process.)
func (m *BroadcastMsg) Bytes() []byte {
	if m.s == nil {
		panic("memfile: BroadcastMsg used after Done")
	}
	return m.s.bc.payload(m.sl)[:m.n]
}

// Len returns the message's length.
func (m *BroadcastMsg) Len() int { return m.n }

// Seq returns the message's sequence number.
func (m *BroadcastMsg) Seq() uint64 { return m.seq }

// Done ends the read and moves the subscriber past the message. It
// returns nil if the slot was not rewritten since Next found the message
// (what was read from Bytes() is the message, intact), or an error
// matching ErrLapped (count the message among the missed) if it was. It
// panics if called twice.
func (m *BroadcastMsg) Done() error {
	s := m.s
	if s == nil {
		panic("memfile: BroadcastMsg.Done called twice")
	}
	m.s = nil
	s.held = 0
	// A read-modify-write is a full barrier on every CPU Go supports: the
	// caller's plain loads of the payload complete before the mark is
	// loaded again (arm64 would otherwise let them pass the load).
	s.fence.Add(1)
	if m.sl.mark.Load() != bcMark(m.seq) {
		return s.lap()
	}
	s.advance(m.seq + 1)
	return nil
}

// wait sleeps until tail moves past the subscriber's cursor, ctx is done
// or the MemFile holding the ring is closed.
func (s *Subscriber) wait(ctx context.Context) error {
	bc := s.bc
	strat := WaitStrategyOf(ctx)
	ctx = cancellable(ctx)
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	moved := func() bool { return bc.tail.Load() != s.next }
	if strat.spinPhase(moved) {
		return nil
	}
	word := epochAddr(bc.subEpoch)
	if !strat.registers() {
		// BusySpin: poll without the sleeper bit, so the publisher makes
		// no system call.
		return pollUntil(ctx, word, moved, sliceWait, func() bool { return false })
	}
	for {
		e := markSleeper(bc.subEpoch)
		// The bit is set in the value this sleeper waits on: re-check
		// only now (see Ring, "Why no wake-up is lost").
		if bc.tail.Load() != s.next {
			return nil
		}
		if err := sleep(ctx, word, e, sliceWait); err != nil {
			return err
		}
	}
}
