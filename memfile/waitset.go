package memfile

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/internal/live"
	sw "github.com/shmx/shmx/internal/word"
)

// A WaitSet lets one goroutine wait for any of several shared-memory
// objects, in any processes, and for channels, timers and network reads,
// in one select statement: each object added to the set gets a Watcher,
// whose channel C receives when the object may be ready.
//
//	ws := memfile.NewWaitSet()
//	defer ws.Close()
//	quit, _ := ws.AddEvent(stop)     // an Event another process sets
//	msgs, _ := ws.AddRecv(ring)      // a Ring another process sends on
//	for {
//		select {
//		case <-quit.C:
//			if stop.TryWait() { return }
//		case <-msgs.C:
//			for { n, ok, err := ring.TryRecv(buf); if !ok || err != nil { break }; use(buf[:n]) }
//		case <-ticker.C:
//		case line := <-netLines:
//		}
//	}
//
// # What a receive from C means
//
// A receive means "the object may be ready now": call its non-blocking
// form (Event.TryWait, Ring.TryRecv or TrySend, Subscriber.TryRecv) until
// it reports that nothing is left, then select again. Readiness is an
// edge, as with epoll's EPOLLET: C receives when the object's word
// changes and the object is ready then (and once when it is added, if it
// is ready already), and holds at most one value, so that a burst of
// messages makes one receive. A program that takes one message per
// receive and selects again may wait with messages left. A receive may
// also find nothing (another process took the message, or a spurious
// wake-up): the non-blocking form then reports nothing, which is fine.
// After the MemFile holding a watched object is closed, C receives once,
// the blocking forms fail with an error matching fs.ErrClosed and the
// non-blocking ones find nothing.
//
// # How it waits
//
// The set waits for its objects in the kernel, without a goroutine per
// object: one goroutine per 127 objects (one OS thread while it sleeps)
// registers as a sleeper of each object exactly as a blocked Wait or Recv
// would, so that the processes that change them wake it, and sleeps on
// all of their futex words at once (futex.WaitAny: one futex_waitv(2)
// system call on Linux 5.16 and later). On other systems, and on older
// kernels, futex.WaitAny polls the words, backing off to 1 ms: readiness
// is then noticed up to about 1 ms late. After a notification the loop
// first watches the words for 10 µs without sleeping (Backoff's spin:
// the answer to a message usually comes within microseconds, and a
// thread's wake-up takes 20-30 µs on a virtual machine): measured in
// shmx bench's WaitSet hand-off row, the round trip's p50 went from 16-24
// µs to 0.84-0.88 µs. While nothing happens the set
// costs nothing but, when it watches a Ring, one look every 50 ms at a
// claimant the ring waits behind, as a blocked Recv does (a claimant
// found dead is repaired, so that a ring with a killed producer does not
// stay silent).
//
// Watching costs the other side what a sleeping waiter costs: a Set,
// Send or Publish makes one wake-up system call while the set is
// registered, even if this process is not waiting at that moment. Stop
// the Watchers of objects you no longer wait for.
//
// A WaitSet is safe for concurrent use. Close it when done: its
// goroutines run until then.
type WaitSet struct {
	mu     sync.Mutex
	shards []*waitShard
	closed bool
}

// A Watcher is one object of a WaitSet. C receives when the object may be
// ready; see WaitSet.
type Watcher struct {
	// C receives when the object may be ready (see WaitSet: it is an
	// edge, and holds at most one value).
	C <-chan struct{}

	c        chan struct{}
	src      waitSource
	addr     *uint32 // the futex word src sleeps on, for Close (enterWait)
	mp       *live.Mapping
	shard    *waitShard
	stop     chan struct{} // closed by the loop once it let go of src
	stopping bool          // guarded by the set's mu: Stop was called
	notes    uint32        // bumped at every notification in the explorer's build (see notify)
	gone     bool          // loop only: the MemFile was closed, src let go of
}

// waitSource is an object a WaitSet watches: the same registration a
// blocked call of that object makes, split into steps the set's loop
// runs.
type waitSource interface {
	// arm makes sure the set is registered where the object's wakers
	// look and returns the futex word to sleep on, the value to sleep on
	// (read after the registration) and whether the object is ready.
	arm() (addr *uint32, val uint32, ready bool)
	// slice does what a blocked call does at the end of a wait slice
	// (repair a dead claimant); the loop calls it at least every
	// sliceWait while the object is watched, if sliced says so.
	slice()
	sliced() bool
	// disarm undoes the registration when the watcher stops.
	disarm()
}

// maxPerShard is how many objects one loop watches: futex.MaxWatches
// words less the loop's own control word.
const maxPerShard = futex.MaxWatches - 1

// waitShard is one loop goroutine of a WaitSet and the objects it
// watches.
type waitShard struct {
	set     *WaitSet
	ctl     uint32     // the loop's control word: bumped and woken when entries change
	entries []*Watcher // guarded by the set's mu; only the loop removes one
	quit    bool       // guarded by the set's mu: the set is closed
	done    chan struct{}
}

// startLoop runs a shard's loop: a goroutine, or a simulated one in the
// explorer's models.
var startLoop = func(f func()) { go f() }

// NewWaitSet returns an empty WaitSet.
func NewWaitSet() *WaitSet { return &WaitSet{} }

// errWaitSetClosed is what adding to a closed WaitSet returns.
var errWaitSetClosed = errors.New("memfile: WaitSet is closed")

// AddEvent watches e: the Watcher's C receives when e may be set. The
// set counts as one waiter of e, so an auto-reset Set may wake the set
// rather than another waiter; the set then passes the wake-up on to
// another waiter of e, if there is one, and the first TryWait takes the
// signal.
func (ws *WaitSet) AddEvent(e *Event) (*Watcher, error) {
	return ws.add(&eventSource{e: e}, &e.state)
}

// AddRecv watches r for receiving: C receives when r may hold a message.
func (ws *WaitSet) AddRecv(r *Ring) (*Watcher, error) {
	return ws.add(&ringSource{r: r, recv: true}, epochAddr(r.epoch(true)))
}

// AddSend watches r for sending: C receives when r may have room.
func (ws *WaitSet) AddSend(r *Ring) (*Watcher, error) {
	return ws.add(&ringSource{r: r}, epochAddr(r.epoch(false)))
}

// AddSubscriber watches s: C receives when the publisher may have
// published past s's cursor (a message to read, or news that s was
// lapped). Stop the Watcher before s.Close.
func (ws *WaitSet) AddSubscriber(s *Subscriber) (*Watcher, error) {
	if err := s.usable(); err != nil && s.closed {
		return nil, err
	}
	return ws.add(&subscriberSource{s: s}, epochAddr(s.bc.subEpoch))
}

// add places a watcher for src in a shard with room, starting a new
// shard if there is none.
func (ws *WaitSet) add(src waitSource, addr *uint32) (*Watcher, error) {
	mp, err := enterWait(addr) // Close of the MemFile wakes the loop and waits for it
	if err != nil {
		return nil, err
	}
	c := make(chan struct{}, 1)
	w := &Watcher{C: c, c: c, src: src, addr: addr, mp: mp, stop: make(chan struct{})}
	ws.mu.Lock()
	if ws.closed {
		ws.mu.Unlock()
		mp.Leave(addr)
		return nil, errWaitSetClosed
	}
	var sh *waitShard
	for _, s := range ws.shards {
		if len(s.entries) < maxPerShard {
			sh = s
			break
		}
	}
	start := sh == nil
	if start {
		sh = &waitShard{set: ws, done: make(chan struct{})}
		ws.shards = append(ws.shards, sh)
	}
	w.shard = sh
	sh.entries = append(sh.entries, w)
	ws.mu.Unlock()
	if start {
		startLoop(func() { ws.loop(sh) })
	} else {
		sh.kick()
	}
	return w, nil
}

// kick makes the shard's loop look at its entries again.
func (sh *waitShard) kick() {
	sw.AddUint32(&sh.ctl, 1)
	sw.Wake(&sh.ctl, 1)
}

// Stop stops watching. When it returns, the set no longer touches the
// object (its memory may be unmapped) and is no longer registered with
// it; C receives nothing more. Stopping twice does nothing.
func (w *Watcher) Stop() {
	w.stopAsync()
	<-w.stop // the loop lets go of it (also when the set was closed)
}

// stopAsync asks the loop to let go of w, without waiting.
func (w *Watcher) stopAsync() {
	ws := w.shard.set
	ws.mu.Lock()
	w.stopping = true
	ws.mu.Unlock()
	w.shard.kick()
}

// Close stops every Watcher of the set and its goroutines, and waits for
// them. Adding to a closed set fails.
func (ws *WaitSet) Close() error {
	for _, sh := range ws.closeAsync() {
		<-sh.done
	}
	return nil
}

// closeAsync closes the set without waiting for its loops, and returns
// those it asked to end (none if the set was closed already).
func (ws *WaitSet) closeAsync() []*waitShard {
	ws.mu.Lock()
	if ws.closed {
		ws.mu.Unlock()
		return nil
	}
	ws.closed = true
	shards := ws.shards
	for _, sh := range shards {
		sh.quit = true
	}
	ws.mu.Unlock()
	for _, sh := range shards {
		sh.kick()
	}
	return shards
}

// loop is a shard's goroutine: arm every entry, notify the ready ones,
// sleep on all their words and the control word, again and again. An
// entry that left the shard (Stop) is disarmed and let go of here, so
// that only this goroutine ever touches an entry's object.
func (ws *WaitSet) loop(sh *waitShard) {
	var watches [futex.MaxWatches]futex.Watch
	var cur, leaving []*Watcher
	lastSlice := sw.Now()
	busy := false // the last look or the one before notified
	for {
		ctl := sw.LoadUint32(&sh.ctl) // before the look at the entries: a kick after it ends the sleep
		leaving = leaving[:0]
		ws.mu.Lock()
		quit := sh.quit
		cur = cur[:0]
		for _, w := range sh.entries {
			if quit || w.stopping {
				leaving = append(leaving, w)
			} else {
				cur = append(cur, w)
			}
		}
		sh.entries = append(sh.entries[:0], cur...)
		ws.mu.Unlock()
		for _, w := range leaving {
			w.release() // disarm, leave the mapping, tell Stop
		}
		clear(leaving) // no reference kept to what left
		if quit {
			close(sh.done)
			return
		}
		watches[0].Set(&sh.ctl, ctl)
		n := 1
		sliced, notified := false, false
		doSlice := sw.Since(lastSlice) >= sliceWait
		if doSlice {
			lastSlice = sw.Now()
		}
		for _, w := range cur {
			if w.gone {
				continue
			}
			if w.mp.Closed() {
				w.let()
				notified = w.notify() || notified
				continue
			}
			if doSlice && w.src.sliced() {
				w.src.slice()
			}
			addr, val, ready := w.src.arm()
			if ready {
				notified = w.notify() || notified
			}
			sliced = sliced || w.src.sliced()
			watches[n].Set(addr, val)
			n++
		}
		if notified {
			// A notified receiver was readied onto this P's run queue,
			// where it would wait while this goroutine sleeps in the
			// system call below (the P is retaken from a blocked system
			// call only by sysmon, after 20 µs to 10 ms): let it run
			// first. Measured: a select round trip of 39-66 µs at p50
			// without this.
			runtime.Gosched()
		}
		timeout := time.Hour // an idle set sleeps; a kick or a Close ends it
		if sliced {
			timeout = max(sliceWait-sw.Since(lastSlice), time.Millisecond)
		}
		// After a notification the next change usually follows within
		// microseconds (the receiver answers a peer, which answers back):
		// watch the words for handoffSpinBudget before sleeping, as a
		// blocked Wait spins before it sleeps, so that the answer is seen
		// at once instead of after a thread's wake-up (20-30 µs on the
		// virtual machines measured). An idle set does not spin.
		active := busy || notified
		busy = notified
		if active && spinFor(handoffSpinBudget, func() bool { return changed(watches[:n]) }) {
			continue
		}
		if !sw.WaitAnyWakes() {
			// WaitAny polls here and a Wake does not reach it: MemFile.Close
			// wakes its sleepers and then waits for them (5 ms at most)
			// before it takes the memory away, so look at least every
			// millisecond, as the poll does anyway.
			timeout = time.Millisecond
		}
		sw.WaitAny(watches[:n], timeout)
	}
}

// changed reports whether any watched word no longer holds the value
// the loop would sleep on.
func changed(ws []futex.Watch) bool {
	for i := range ws {
		if sw.LoadUint32(ws[i].Addr()) != ws[i].Val() {
			return true
		}
	}
	return false
}

// notify makes C receive, unless a value is pending already, and
// reports whether it sent one.
func (w *Watcher) notify() (sent bool) {
	select {
	case w.c <- struct{}{}:
		sent = true
	default:
	}
	if sw.Exploring {
		// The explorer's models wait for notifications on a word they
		// can sleep on (a simulated goroutine cannot block on a channel).
		sw.AddUint32(&w.notes, 1)
		sw.WakeAll(&w.notes)
	}
	return sent
}

// let lets go of the object of a watcher whose MemFile was closed: the
// registration went with the memory, so there is nothing to disarm.
func (w *Watcher) let() {
	if !w.gone {
		w.gone = true
		w.mp.Leave(w.addr)
	}
}

// release lets go of a watcher that left its shard: disarm (unless the
// memory is gone), leave the mapping, drop a pending notification, and
// tell Stop.
func (w *Watcher) release() {
	if !w.gone {
		if !w.mp.Closed() {
			w.src.disarm()
		}
		w.let()
	}
	// A notification sent before the stop may still be pending in C
	// (the object stayed ready while the loop looked again): take it, so
	// that C receives nothing once Stop has returned, as Stop says.
	select {
	case <-w.c:
	default:
	}
	close(w.stop)
}

// eventSource watches an Event as a counted waiter (see waitCount).
type eventSource struct {
	e     *Event
	epoch uint32 // the registration's epoch, 0 while not counted
}

func (s *eventSource) arm() (*uint32, uint32, bool) {
	e := s.e
	for {
		v := sw.LoadUint32(&e.state) // first the word, then the count (see waitCount)
		if !e.waiters.counted(s.epoch) {
			// Counted also when the event is set: the set then sleeps on
			// the set state, which a TryWait changes without a wake-up,
			// and the next Set brings back; only its wake-up, which needs
			// the count, ends that sleep. (Skipping this once left the
			// set asleep for good after a recount: TestWaitSetPingPong.)
			if s.epoch = e.waiters.register(); s.epoch != 0 {
				continue // look again before sleeping
			}
			// A full count (garbage) registers nobody: Set will not
			// wake us, so look every slice (sliced).
		}
		if v&eventSet != 0 {
			if v&eventManual == 0 && e.waiters.n() > 1 {
				// An auto-reset Set wakes one waiter, maybe this set,
				// which takes nothing: pass the wake-up on, so that a
				// waiter asleep in Wait gets its chance at the signal.
				wake(&e.state, 1)
			}
			return &e.state, v, true
		}
		return &e.state, v, false
	}
}

func (s *eventSource) slice()       {}
func (s *eventSource) sliced() bool { return s.epoch == 0 }
func (s *eventSource) disarm()      { s.e.giveUp(s.epoch); s.epoch = 0 }

// ringSource watches one direction of a Ring as a sleeper does (the
// sleeper bit of the direction's epoch word, see Ring.sleep).
type ringSource struct {
	r     *Ring
	recv  bool
	stuck ringStuck
	slept uint32 // the value the last arm returned, 0 before the first (markSleeper's values have bit 0 set)
}

// arm registers as a sleeper of the direction. A ring wakes one sleeper
// per message (see "Why no wake-up is lost" on Ring), and that one may be
// this set, which takes nothing: so when the word moved since the set
// last slept on it (a waker changed it, and may have woken the set
// instead of a Recv or Send asleep behind it) and the ring is ready,
// wake one more sleeper, without changing the word. Once per change of
// the word: a set woken by another set's pass, the word unchanged, passes
// nothing on, so two sets watching one ring cannot wake each other for
// ever. A sleeper passed over even so (the sets' passes all reached sets)
// sleeps out its slice.
func (s *ringSource) arm() (*uint32, uint32, bool) {
	addr, e, ready := armEpoch(s.r.epoch(s.recv), func() bool { return s.r.ready(s.recv) })
	if ready && s.slept != 0 && e != s.slept {
		sw.Wake(addr, 1)
	}
	s.slept = e
	return addr, e, ready
}

// slice repairs a claimant the ring has waited behind for RingWaitSlice
// if the kernel says it is dead, as a sleeping Recv or Send does.
func (s *ringSource) slice()       { s.r.unstick(&s.stuck, s.recv, s.r.blockerAt(s.recv)) }
func (s *ringSource) sliced() bool { return true }
func (s *ringSource) disarm()      {} // the sleeper bit stays: the next waker pays one needless wake-up

// subscriberSource watches a Subscriber as its blocked Recv does.
type subscriberSource struct{ s *Subscriber }

func (s *subscriberSource) arm() (*uint32, uint32, bool) {
	bc := s.s.bc
	// The cursor in the subscriber table, not s.next: the Subscriber's
	// own goroutine moves that one, without synchronisation.
	return armEpoch(bc.subEpoch, func() bool { return bc.tail.Load() != s.s.e.cursor.Load() })
}

func (s *subscriberSource) slice()       {}
func (s *subscriberSource) sliced() bool { return false }
func (s *subscriberSource) disarm()      {}

// armEpoch sets the sleeper bit of an epoch word (Ring, Broadcast) and
// then, only then, looks whether the object is ready, as their sleeping
// waits do ("Why no wake-up is lost" on Ring).
func armEpoch(epoch *sw.Uint32, ready func() bool) (*uint32, uint32, bool) {
	e := markSleeper(epoch)
	return epochAddr(epoch), e, ready()
}

// String names the watched object, for logs.
func (w *Watcher) String() string {
	switch s := w.src.(type) {
	case *eventSource:
		return "Watcher(Event)"
	case *ringSource:
		if s.recv {
			return "Watcher(Ring, receive)"
		}
		return "Watcher(Ring, send)"
	case *subscriberSource:
		return "Watcher(Subscriber)"
	}
	return fmt.Sprintf("Watcher(%T)", w.src)
}
