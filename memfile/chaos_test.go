package memfile

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/internal/testproc"
)

// TestChaos is the real-process chaos test: worker processes hammer every
// shared primitive of one MemFile at once (a Mutex and an RWMutex each
// guarding a pair of counters, a Semaphore of capacity 2, a Ring, an
// auto-reset Event ping-pong and a manual-reset start Event, a SeqLock),
// while the parent SIGKILLs a worker every 20-80 ms (1 s in all with
// -short, fewer and farther apart under emulation) and starts a
// replacement. Most victims are picked because they hold something at
// that instant: the Mutex, the RWMutex (writer or reader), or a Ring slot
// claimed for sending or receiving; the others at random. The parent, a
// checker child that is never killed, and every worker check the
// invariants as they go; at the end every worker is killed, the parent
// takes each lock once more, recovering it if its holder died, and checks
// the final counts:
//
//   - a pair is equal, and names no holder, whenever its lock is taken
//     consistent, and nobody else changes it while one holds it; a lock
//     call that returns an error holds nothing (LockContext refuses an
//     inconsistent lock with ErrOwnerDead, and the worker then takes it
//     with LockRecover); an inconsistent lock only ever names a holder
//     that was killed (never a live one); the recoverer repairs the pair
//     to the max of its two words and calls MarkConsistent; the final pair exceeds the counted
//     increments by at most the number of kills (none lost, none
//     invented);
//   - every LockContext, RLockContext, blocking Send and Recv and SeqLock
//     load has a deadline of 2 s (scaled) and must succeed: no dead holder
//     stalls anybody longer than the documented recovery time; the
//     latency from a holder's kill to its lock's recovery is logged and
//     bounded by the same 2 s;
//   - the Semaphore never admits more than 2 live holders, and the
//     units of killed holders and waiters come back by themselves: after
//     the last kill the parent's Acquire of all of them must succeed;
//   - the SeqLock value (three equal words) is never torn and never goes
//     back;
//   - each Event Set releases at most one waiter, and a ping that is never
//     answered is explained by the kill of a responder that was waiting;
//   - Ring messages (producer incarnation, sequence number, check words)
//     arrive at most once and intact, in order per producer within each
//     consumer, never beyond what their producer sent, and every one that
//     a producer saw sent but nobody received is explained by a killed
//     consumer. Killable consumers claim with TryBeginRecv and record the
//     message before they Release, so a message dies only with a claim
//     that names the dead process: the parent reads it out of that slot
//     (the layout is documented on Ring) right after the kill. Only a
//     consumer killed inside TryBeginRecv, or whose claim a blocked
//     producer freed before the parent looked, may account for one
//     message the parent did not see. The never-killed checker receives
//     with the blocking Recv and BeginRecv, which skip dead producers'
//     slots.
//
// Semaphore units held by a process that dies are recovered by the
// Semaphore itself (its holder table names each process's units). The
// test only keeps a bit per worker slot, set after Acquire and cleared
// before Release, to count the holders: the parent sets the slot's bit in
// a second word (dying) before it kills a worker and clears both after
// the post-mortem, so that a killed holder's bit, left until then, is not
// counted against the live holder its recovered unit went to. A worker's
// Acquire may time out under contention (100 ms); the parent's final one,
// of every unit, must succeed. SHMX_CHAOS_SEED replays the parent's
// random choices (not the timing).
func TestChaos(t *testing.T) {
	switch testproc.Role() {
	case chaosRoleWorker, chaosRoleChecker:
		chaosChild(t)
		return
	}
	chaosParent(t)
}

const (
	chaosRoleWorker  = "chaos-worker"
	chaosRoleChecker = "chaos-checker"
	chaosEnvLink     = "SHMX_CHAOS_LINK"
	chaosEnvID       = "SHMX_CHAOS_ID"
	chaosEnvSlot     = "SHMX_CHAOS_SLOT"

	// Incarnation ids: every process gets its own, never reused; 0 means
	// nobody in the owner words.
	chaosParentID  = 1
	chaosCheckerID = 2
	chaosFirstID   = 3 // the first worker

	chaosSlotSize = 32 // ring payload bytes
	chaosRingCap  = 64
	chaosMsgLen   = 24 // producer id 4, sequence 4, check 8, check again 8
	chaosSemCap   = 2
)

// Layout of the MemFile's data (every object at a multiple of 128).
const (
	chMutex    = 0 // Mutex, MutexSize bytes
	chMutexA   = 128
	chMutexB   = 136
	chMutexOwn = 144 // id of the holder while it holds (0 when free)
	// 256..639: free (the RWMutex of layout 3 lived here; it is after the
	// Semaphore now, RWMutexSize bytes)
	chRWA      = 640
	chRWB      = 648
	chRWOwn    = 656 // id of the writer while it holds
	chSemBits  = 896 // bit s: the worker in slot s holds a unit
	chSemDying = 904 // bit s: the worker in slot s is being killed
	chPing     = 1024
	chPong     = 1152
	chStart    = 1280 // manual-reset: set once the parent has placed everything
	chPingSeq  = 1408 // number of the ping being asked
	chPongFor  = 1416 // the ping the last pong answers
	chPingsSet = 1424 // Sets of ping so far (counted before each Set)
	chPingsGot = 1432 // Waits of ping that returned nil
	chSeqLock  = 1536 // SeqLock[[3]uint64], 40 bytes
	chMaxInc   = 1664 // parameters, written by the parent before any child starts
	chMaxSeq   = 1672
	chStop     = 1680 // 1: the checker winds down
	chFailed   = 1688 // id of the first process that failed
	chFailLen  = 1696
	chWait     = 1704 // the must-succeed deadline, ns
	chStats    = 2048 // chaosStatCount counters
	chWorst    = 2560 // the worst wait of each kind, ns
	chLat      = 3072 // two latency records of chLatSize bytes
	chLatSize  = 2048 // count, max, then samples
	chFailText = 7168 // 1024 bytes
	chRing     = 8192
	chSem      = chRing + 16384                   // Semaphore, SemaphoreSize (512) bytes
	chRW       = chSem + SemaphoreSize            // RWMutex, RWMutexSize bytes
	chRecs     = chRW + (RWMutexSize+127)/128*128 // per-incarnation records, chRecSize bytes each
	chRecSize  = 64
)

// Fields of an incarnation record.
const (
	recToken  = 0  // its process token (what lock words and ring claims name)
	recSent   = 8  // ring messages whose Send (or Commit) returned
	recInRecv = 16 // a killable consumer's phase (chRecvTrying, chRecvClaimed, chRecvRecorded), 0 outside
	recKill   = 24 // when the parent killed it (UnixNano), 0 if never
	recEvent  = 32 // responder state: chEvWaiting<<32, or chEvGot<<32|ping
	recReady  = 40 // 1 once it runs
	recInSend = 48 // 1 from before a Send or BeginSend until the sent count says it returned
)

// Phases of a killable consumer (recInRecv).
const (
	chRecvTrying   = 1 // before TryBeginRecv returned: it may have claimed a slot
	chRecvClaimed  = 2 // it holds a RecvSlot whose message is not recorded yet
	chRecvRecorded = 3 // the message is recorded; Release comes next
)

// chaosStop is the producer id of the message that tells the checker to
// finish.
const chaosStop = 0xFFFFFFFF

const (
	chEvWaiting = 1
	chEvGot     = 2
)

// Shared counters (chStats).
const (
	stMutexOps = iota
	stMutexRecov
	stMutexRepaired
	stRWWrites
	stRWReads
	stRWWriterRecov
	stRWRepaired
	stRWReaderTold
	stUnnamed // ErrOwnerDead naming no holder: a dead reader, or a holder that died before naming itself or after clearing its name
	stSemAcquired
	stSemTimeouts
	stSeqLoads
	stSeqDeadWriter
	stRingRecv
	chaosStatCount
)

// Kinds of wait (chWorst).
const (
	wkMutex = iota
	wkRWLock
	wkRLock
	wkSem
	wkSend
	wkRecv
	wkSeqLoad
	wkPong
	wkStart
	chaosWaitCount
)

var chaosWaitNames = [chaosWaitCount]string{
	"Mutex.LockContext", "RWMutex.LockContext", "RWMutex.RLockContext",
	"Semaphore.Acquire (100 ms deadline, may time out)", "Ring.Send/BeginSend",
	"Ring.Recv/BeginRecv", "SeqLock.LoadContext", "Event ping -> pong",
	"Event.Wait (start)",
}

// Latency records (chLat): kill of a holder -> its lock recovered.
const (
	latMutex = iota
	latRW
)

// chaos is one process's view of the shared state.
type chaos struct {
	b      []byte
	id     uint64
	slot   int // worker slot (semaphore bit), -1 for the parent and checker
	mu     *Mutex
	rw     *RWMutex
	sem    *Semaphore
	ping   *Event
	pong   *Event
	start  *Event
	seq    *SeqLock[[3]uint64]
	ring   *Ring
	maxInc int
	maxSeq int
	wait   time.Duration // every wait that must succeed has this deadline
	bitmap int           // offset of the received-message bitmaps
	final  bool          // the parent's last takes: no latency samples (nobody waited)
	failf  func(format string, args ...any)
}

// chaosSize returns the data size for maxInc incarnations of maxSeq
// messages each, and the offset of the bitmaps.
func chaosSize(maxInc, maxSeq int) (size, bitmap int) {
	bitmap = (chRecs + maxInc*chRecSize + 127) &^ 127
	return bitmap + maxInc*maxSeq/8, bitmap
}

func (c *chaos) w(off int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&c.b[off]))
}

func (c *chaos) rec(id uint64, field int) *atomic.Uint64 {
	return c.w(chRecs + int(id)*chRecSize + field)
}

func (c *chaos) stat(i int) *atomic.Uint64 { return c.w(chStats + 8*i) }

// waited records a wait of kind k that took d.
func (c *chaos) waited(k int, d time.Duration) {
	chaosMax(c.w(chWorst+8*k), uint64(d))
}

func chaosMax(p *atomic.Uint64, v uint64) {
	for {
		old := p.Load()
		if v <= old || p.CompareAndSwap(old, v) {
			return
		}
	}
}

// latency records one kill-to-recovery latency.
func (c *chaos) latency(k int, d time.Duration) {
	base := chLat + k*chLatSize
	n := c.w(base).Add(1)
	chaosMax(c.w(base+8), uint64(d))
	if int(n) <= chLatSize/8-2 {
		c.w(base + 8 + 8*int(n)).Store(uint64(d))
	}
}

// latencies returns the samples of record k and their count and maximum.
func (c *chaos) latencies(k int) (samples []time.Duration, n int, worst time.Duration) {
	base := chLat + k*chLatSize
	n = int(c.w(base).Load())
	for i := 1; i <= min(n, chLatSize/8-2); i++ {
		samples = append(samples, time.Duration(c.w(base+8+8*i).Load()))
	}
	slices.Sort(samples)
	return samples, n, time.Duration(c.w(base + 8).Load())
}

// ctx returns a context with the must-succeed deadline.
func (c *chaos) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.wait)
}

// chaosPlace builds the handles over the data of a MemFile; the parent
// (init) initialises the objects that need it first.
func chaosPlace(b []byte, init bool) (*chaos, error) {
	c := &chaos{b: b, slot: -1}
	var err, e error
	c.mu, e = MutexAt(b[chMutex:])
	err = errors.Join(err, e)
	c.rw, e = RWMutexAt(b[chRW:])
	err = errors.Join(err, e)
	ring := b[chRing : chRing+RingSize(chaosSlotSize, chaosRingCap)]
	if init {
		c.sem, e = InitSemaphore(b[chSem:], chaosSemCap, chaosSemCap)
		err = errors.Join(err, e)
		c.ping, e = InitEvent(b[chPing:], AutoReset)
		err = errors.Join(err, e)
		c.pong, e = InitEvent(b[chPong:], AutoReset)
		err = errors.Join(err, e)
		c.start, e = InitEvent(b[chStart:], ManualReset)
		err = errors.Join(err, e)
		c.ring, e = InitRing(ring, chaosSlotSize, chaosRingCap)
		err = errors.Join(err, e)
	} else {
		c.sem, e = SemaphoreAt(b[chSem:])
		err = errors.Join(err, e)
		c.ping, e = EventAt(b[chPing:])
		err = errors.Join(err, e)
		c.pong, e = EventAt(b[chPong:])
		err = errors.Join(err, e)
		c.start, e = EventAt(b[chStart:])
		err = errors.Join(err, e)
		c.ring, e = RingAt(ring)
		err = errors.Join(err, e)
	}
	c.seq, e = SeqLockAt[[3]uint64](b[chSeqLock:])
	err = errors.Join(err, e)
	return c, err
}

// setParams records (parent) or reads (children) the run's parameters.
func (c *chaos) setParams(maxInc, maxSeq int, wait time.Duration) {
	c.w(chMaxInc).Store(uint64(maxInc))
	c.w(chMaxSeq).Store(uint64(maxSeq))
	c.w(chWait).Store(uint64(wait))
	c.getParams()
}

func (c *chaos) getParams() {
	c.maxInc = int(c.w(chMaxInc).Load())
	c.maxSeq = int(c.w(chMaxSeq).Load())
	c.wait = time.Duration(c.w(chWait).Load())
	_, c.bitmap = chaosSize(c.maxInc, c.maxSeq)
}

// chaosPause makes a holder hold a little longer now and then, so that
// kills land inside critical sections.
func chaosPause(rng *rand.Rand) {
	switch rng.IntN(32) {
	case 0:
		time.Sleep(50 * time.Microsecond)
	case 1, 2, 3, 4:
		runtime.Gosched()
	}
}

// lockMutex takes the Mutex, repairing the pair after a dead holder, and
// returns with it held and the pair consistent; false after a failure.
func (c *chaos) lockMutex() bool {
	ctx, cancel := c.ctx()
	t0 := time.Now()
	dirty, err := lockOrRecover(ctx, c.mu)
	cancel()
	c.waited(wkMutex, time.Since(t0))
	a, b, own := c.w(chMutexA), c.w(chMutexB), c.w(chMutexOwn)
	switch {
	case err == nil && !dirty:
		if x, y, o := a.Load(), b.Load(), own.Load(); x != y || o != 0 {
			c.failf("Mutex taken without ErrOwnerDead, but the pair is (%d, %d) and names holder %d", x, y, o)
			return false
		}
	case err == nil && dirty:
		o := own.Swap(c.id)
		c.stat(stMutexRecov).Add(1)
		if !c.attribute("Mutex", o, latMutex) {
			return false
		}
		x, y := a.Load(), b.Load()
		m := max(x, y)
		if x != y {
			c.stat(stMutexRepaired).Add(1)
		}
		a.Store(m)
		b.Store(m)
		c.seq.Store([3]uint64{m, m, m})
		c.mu.MarkConsistent()
		own.Store(0)
	default:
		c.failf("Mutex.LockContext: %v after %v", err, time.Since(t0))
		return false
	}
	return true
}

// lockOrRecover is how a worker locks: LockContext, and after its
// refusal (a holder died, nothing held) LockRecover, which reports
// whether the data still needs repair (somebody may have repaired it
// between the two).
func lockOrRecover(ctx context.Context, l recoverer) (dirty bool, err error) {
	err = l.(interface{ LockContext(context.Context) error }).LockContext(ctx)
	if !errors.Is(err, ErrOwnerDead) {
		return false, err
	}
	return l.LockRecover(ctx)
}

// attribute checks that o, the holder named by a lock that was reported
// dead, was killed, and records the recovery latency; o 0 names nobody.
func (c *chaos) attribute(what string, o uint64, lat int) bool {
	if o == 0 {
		c.stat(stUnnamed).Add(1)
		return true
	}
	if o >= uint64(c.maxInc) {
		c.failf("%s: garbage holder id %d", what, o)
		return false
	}
	kt := c.rec(o, recKill).Load()
	if kt == 0 {
		c.failf("%s reported ErrOwnerDead naming holder %d, which was never killed: a live holder's lock was taken over", what, o)
		return false
	}
	if lat >= 0 && !c.final {
		c.latency(lat, time.Duration(time.Now().UnixNano()-int64(kt)))
	}
	return true
}

// mutexOp increments the Mutex pair once, and publishes the new value
// through the SeqLock (whose Stores the Mutex serialises).
func (c *chaos) mutexOp(rng *rand.Rand) {
	if !c.lockMutex() {
		return
	}
	a, b, own := c.w(chMutexA), c.w(chMutexB), c.w(chMutexOwn)
	own.Store(c.id)
	v := a.Load() + 1
	a.Store(v)
	chaosPause(rng)
	b.Store(v)
	c.seq.Store([3]uint64{v, v, v})
	if x, y, o := a.Load(), b.Load(), own.Load(); x != v || y != v || o != c.id {
		c.failf("Mutex holder %d wrote (%d, %d) and finds (%d, %d) named by %d: somebody else was inside", c.id, v, v, x, y, o)
	}
	own.Store(0)
	c.mu.Unlock()
	c.stat(stMutexOps).Add(1)
}

// lockRW takes the RWMutex for writing, repairing the pair after a dead
// holder; false after a failure (the lock is then not held).
func (c *chaos) lockRW() bool {
	ctx, cancel := c.ctx()
	t0 := time.Now()
	dirty, err := lockOrRecover(ctx, c.rw)
	cancel()
	c.waited(wkRWLock, time.Since(t0))
	a, b, own := c.w(chRWA), c.w(chRWB), c.w(chRWOwn)
	switch {
	case err == nil && !dirty:
		if x, y, o := a.Load(), b.Load(), own.Load(); x != y || o != 0 {
			c.failf("RWMutex write-locked without ErrOwnerDead, but the pair is (%d, %d) and names writer %d", x, y, o)
			return false
		}
	case err == nil && dirty:
		o := own.Swap(c.id)
		c.stat(stRWWriterRecov).Add(1)
		if !c.attribute("RWMutex", o, latRW) {
			return false
		}
		x, y := a.Load(), b.Load()
		if x != y {
			c.stat(stRWRepaired).Add(1)
		}
		a.Store(max(x, y))
		b.Store(max(x, y))
		c.rw.MarkConsistent()
		own.Store(0)
	default:
		c.failf("RWMutex.LockContext: %v after %v", err, time.Since(t0))
		return false
	}
	return true
}

// rwOp writes (increments the pair) or reads (checks it) once.
func (c *chaos) rwOp(rng *rand.Rand, write bool) {
	a, b, own := c.w(chRWA), c.w(chRWB), c.w(chRWOwn)
	if write {
		if !c.lockRW() {
			return
		}
		own.Store(c.id)
		v := a.Load() + 1
		a.Store(v)
		chaosPause(rng)
		b.Store(v)
		if x, y, o := a.Load(), b.Load(), own.Load(); x != v || y != v || o != c.id {
			c.failf("RWMutex writer %d wrote (%d, %d) and finds (%d, %d) named by %d: somebody else was inside", c.id, v, v, x, y, o)
		}
		own.Store(0)
		c.rw.Unlock()
		c.stat(stRWWrites).Add(1)
		return
	}
	ctx, cancel := c.ctx()
	t0 := time.Now()
	err := c.rw.RLockContext(ctx)
	cancel()
	c.waited(wkRLock, time.Since(t0))
	switch {
	case err == nil:
		x := a.Load()
		chaosPause(rng)
		y, o := b.Load(), own.Load()
		c.rw.RUnlock()
		if x != y || o != 0 {
			c.failf("RWMutex read-locked without ErrOwnerDead, but the pair is (%d, %d) and names writer %d", x, y, o)
			return
		}
		c.stat(stRWReads).Add(1)
	case errors.Is(err, ErrOwnerDead):
		// Refused, nothing held: a reader cannot repair the pair, so it
		// takes the write side to do it.
		c.stat(stRWReaderTold).Add(1)
		if c.lockRW() {
			c.rw.Unlock()
		}
	default:
		c.failf("RWMutex.RLockContext: %v after %v", err, time.Since(t0))
	}
}

// semOp takes a unit, checks that at most chaosSemCap live holders are
// in, and gives it back. A timeout is no failure (5 workers share 2
// units, and killed holders' units come back only after a wait slice).
func (c *chaos) semOp(rng *rand.Rand) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	t0 := time.Now()
	err := c.sem.Acquire(ctx, 1)
	cancel()
	c.waited(wkSem, time.Since(t0))
	if err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			c.failf("Semaphore.Acquire: %v", err)
		}
		c.stat(stSemTimeouts).Add(1)
		return
	}
	c.stat(stSemAcquired).Add(1)
	bit := uint64(1) << c.slot
	held := c.w(chSemBits)
	dying := c.w(chSemDying).Load()
	old := held.Or(bit)
	dying |= c.w(chSemDying).Load()
	if old&bit != 0 || bits.OnesCount64((old|bit)&^dying) > chaosSemCap {
		c.failf("Semaphore of capacity %d over-admitted: holders %b (being killed %b) after slot %d entered", chaosSemCap, old|bit, dying, c.slot)
		return
	}
	chaosPause(rng)
	held.And(^bit)
	c.sem.Release(1)
}

// seqRead loads the SeqLock and checks it; *last is the last value this
// reader saw.
func (c *chaos) seqRead(last *uint64) {
	ctx, cancel := c.ctx()
	defer cancel()
	t0 := time.Now()
	for {
		v, err := c.seq.LoadContext(ctx)
		if errors.Is(err, ErrOwnerDead) {
			// The writer died in the middle of a Store: the next Mutex
			// holder repairs and stores again.
			c.stat(stSeqDeadWriter).Add(1)
			time.Sleep(time.Millisecond)
			continue
		}
		c.waited(wkSeqLoad, time.Since(t0))
		if err != nil {
			c.failf("SeqLock.LoadContext: %v after %v", err, time.Since(t0))
			return
		}
		if v[0] != v[1] || v[1] != v[2] {
			c.failf("SeqLock value torn: %v", v)
			return
		}
		if v[0] < *last {
			c.failf("SeqLock value went back from %d to %d", *last, v[0])
			return
		}
		*last = v[0]
		c.stat(stSeqLoads).Add(1)
		return
	}
}

// chaosCheck is the check word of a message.
func chaosCheck(id, seq uint32) uint64 {
	return (uint64(id)<<32|uint64(seq))*0x9E3779B97F4A7C15 ^ 0x5DEECE66D
}

func chaosMsg(buf []byte, id, seq uint32) []byte {
	binary.LittleEndian.PutUint32(buf, id)
	binary.LittleEndian.PutUint32(buf[4:], seq)
	binary.LittleEndian.PutUint64(buf[8:], chaosCheck(id, seq))
	binary.LittleEndian.PutUint64(buf[16:], ^chaosCheck(id, seq))
	return buf[:chaosMsgLen]
}

// decode returns a message's producer and sequence, or ok false for a
// message that is not one.
func chaosDecode(msg []byte) (id, seq uint32, ok bool) {
	if len(msg) != chaosMsgLen {
		return 0, 0, false
	}
	id, seq = binary.LittleEndian.Uint32(msg), binary.LittleEndian.Uint32(msg[4:])
	k := chaosCheck(id, seq)
	return id, seq, binary.LittleEndian.Uint64(msg[8:]) == k && binary.LittleEndian.Uint64(msg[16:]) == ^k
}

// record checks a received message and marks it in the bitmaps; last
// holds, per producer, the last sequence this consumer received.
func (c *chaos) record(msg []byte, last map[uint32]uint32) bool {
	id, seq, ok := chaosDecode(msg)
	if !ok || id < chaosFirstID || int(id) >= c.maxInc || int(seq) >= c.maxSeq {
		c.failf("Ring delivered garbage %x", msg)
		return false
	}
	if l, ok := last[id]; ok && seq <= l {
		c.failf("Ring: message %d of producer %d after its message %d (per-producer order)", seq, id, l)
		return false
	}
	last[id] = seq
	word := c.w(c.bitmap + int(id)*c.maxSeq/8 + int(seq/64)*8)
	bit := uint64(1) << (seq % 64)
	if word.Or(bit)&bit != 0 {
		c.failf("Ring delivered message %d of producer %d twice", seq, id)
		return false
	}
	c.stat(stRingRecv).Add(1)
	return true
}

// received reports whether message seq of producer id was received.
func (c *chaos) received(id uint64, seq int) bool {
	return c.w(c.bitmap+int(id)*c.maxSeq/8+seq/64*8).Load()&(1<<(seq%64)) != 0
}

// sendOne sends the next message of this producer; false once it has
// sent maxSeq (it then only receives).
func (c *chaos) sendOne(rng *rand.Rand, buf []byte, zeroCopy bool) bool {
	sent := c.rec(c.id, recSent)
	seq := sent.Load()
	if seq >= uint64(c.maxSeq) {
		return false
	}
	msg := chaosMsg(buf, uint32(c.id), uint32(seq))
	ctx, cancel := c.ctx()
	defer cancel()
	inSend := c.rec(c.id, recInSend)
	inSend.Store(1)
	defer inSend.Store(0)
	t0 := time.Now()
	if zeroCopy {
		s, err := c.ring.BeginSend(ctx)
		c.waited(wkSend, time.Since(t0))
		if err != nil {
			c.failf("Ring.BeginSend: %v after %v", err, time.Since(t0))
			return false
		}
		n := copy(s.Bytes(), msg[:chaosMsgLen/2])
		chaosPause(rng) // a producer killed here leaves a half-written claimed slot
		n += copy(s.Bytes()[n:], msg[n:])
		s.Commit(n)
	} else {
		err := c.ring.Send(ctx, msg)
		c.waited(wkSend, time.Since(t0))
		if err != nil {
			c.failf("Ring.Send: %v after %v", err, time.Since(t0))
			return false
		}
	}
	sent.Store(seq + 1)
	return true
}

// tryRecvOne is a killable consumer's receive: it claims the oldest
// message without waiting (TryBeginRecv) and records it before it
// releases the slot, publishing its phase, so that a message it dies with
// is either recorded or still in a slot that names it (the post-mortem
// reads it there).
func (c *chaos) tryRecvOne(rng *rand.Rand, last map[uint32]uint32) {
	phase := c.rec(c.id, recInRecv)
	phase.Store(chRecvTrying)
	m, ok := c.ring.TryBeginRecv()
	if !ok {
		phase.Store(0)
		return
	}
	phase.Store(chRecvClaimed)
	chaosPause(rng) // a consumer killed here dies with a claimed slot
	c.record(m.Bytes(), last)
	phase.Store(chRecvRecorded)
	m.Release()
	phase.Store(0)
}

// recvOne is the checker's receive, blocking (Recv or BeginRecv) with the
// must-succeed deadline; false for the stop message.
func (c *chaos) recvOne(zeroCopy bool, buf []byte, last map[uint32]uint32) bool {
	ctx, cancel := c.ctx()
	defer cancel()
	t0 := time.Now()
	var msg []byte
	var m RecvSlot
	if zeroCopy {
		var err error
		m, err = c.ring.BeginRecv(ctx)
		c.waited(wkRecv, time.Since(t0))
		if err != nil {
			c.failf("Ring.BeginRecv: %v after %v", err, time.Since(t0))
			return false
		}
		msg = m.Bytes()
	} else {
		n, err := c.ring.Recv(ctx, buf)
		c.waited(wkRecv, time.Since(t0))
		if err != nil {
			c.failf("Ring.Recv: %v after %v", err, time.Since(t0))
			return false
		}
		msg = buf[:n]
	}
	more := len(msg) < 4 || binary.LittleEndian.Uint32(msg) != chaosStop
	if more {
		c.record(msg, last)
	}
	if zeroCopy {
		m.Release()
	}
	return more
}

// chaosChild is a worker or the checker.
func chaosChild(t *testing.T) {
	f, err := Open(os.Getenv(chaosEnvLink))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := chaosPlace(f.Bytes(), false)
	if err != nil {
		t.Fatal(err)
	}
	c.getParams()
	c.id, _ = strconv.ParseUint(os.Getenv(chaosEnvID), 10, 64)
	c.slot, _ = strconv.Atoi(os.Getenv(chaosEnvSlot))
	role := testproc.Role()
	c.failf = func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if c.w(chFailed).CompareAndSwap(0, c.id) {
			n := copy(c.b[chFailText:chFailText+1024], msg)
			c.w(chFailLen).Store(uint64(n))
		}
		fmt.Fprintf(os.Stderr, "chaos %s %d (pid %d): %s\n", role, c.id, os.Getpid(), msg)
		os.Exit(3)
	}
	if c.id < chaosCheckerID || int(c.id) >= c.maxInc {
		c.failf("bad id %q", os.Getenv(chaosEnvID))
	}
	c.rec(c.id, recToken).Store(uint64(selfToken))
	life := testproc.Context(t, 120*time.Second) // killed long before
	sctx, cancel := context.WithTimeout(life, 5*c.wait)
	t0 := time.Now()
	err = c.start.Wait(sctx)
	cancel()
	c.waited(wkStart, time.Since(t0))
	if err != nil {
		c.failf("the start Event was never set: %v", err)
	}
	c.rec(c.id, recReady).Store(1)
	seed := uint64(time.Now().UnixNano())
	var wg sync.WaitGroup
	run := func(i uint64, body func(rng *rand.Rand)) {
		wg.Go(func() { body(rand.New(rand.NewPCG(seed, c.id<<8|i))) })
	}
	if role == chaosRoleChecker {
		stop := c.w(chStop)
		run(0, func(*rand.Rand) { // the blocking consumer, never killed
			buf, last := make([]byte, chaosSlotSize), map[uint32]uint32{}
			for k := 0; c.recvOne(k%2 == 1, buf, last); k++ {
			}
		})
		run(1, func(rng *rand.Rand) {
			var last uint64
			for stop.Load() == 0 {
				c.seqRead(&last)
				c.rwOp(rng, false)
				time.Sleep(20 * time.Microsecond)
			}
		})
		wg.Wait()
		return
	}
	run(0, func(rng *rand.Rand) { // Mutex (and SeqLock writer), Semaphore
		for i := 0; life.Err() == nil; i++ {
			c.mutexOp(rng)
			if rng.IntN(2) == 0 {
				c.semOp(rng)
			}
			if i%64 == 63 {
				time.Sleep(200 * time.Microsecond)
			}
		}
	})
	run(1, func(rng *rand.Rand) { // RWMutex, SeqLock reader
		var last uint64
		for i := 0; life.Err() == nil; i++ {
			c.rwOp(rng, rng.IntN(4) == 0)
			if rng.IntN(4) == 0 {
				c.seqRead(&last)
			}
			if i%64 == 63 {
				time.Sleep(200 * time.Microsecond)
			}
		}
	})
	run(2, func(rng *rand.Rand) { // Ring producer, and a consumer a third of the time
		out, last := make([]byte, chaosSlotSize), map[uint32]uint32{}
		capped := false
		for i := 0; life.Err() == nil; i++ {
			if capped || i%3 == 2 {
				c.tryRecvOne(rng, last)
				if capped {
					time.Sleep(100 * time.Microsecond)
				}
				continue
			}
			if !c.sendOne(rng, out, i%2 == 1) {
				capped = true
			}
			if i%24 == 23 {
				time.Sleep(time.Millisecond) // at most ~16k messages a second
			}
		}
	})
	run(3, func(*rand.Rand) { // Event responder
		ev := c.rec(c.id, recEvent)
		for life.Err() == nil {
			ev.Store(chEvWaiting << 32)
			ctx, cancel := context.WithTimeout(life, 100*time.Millisecond)
			err := c.ping.Wait(ctx)
			cancel()
			if err != nil {
				continue
			}
			k := c.w(chPingSeq).Load()
			ev.Store(chEvGot<<32 | k)
			c.w(chPingsGot).Add(1)
			c.w(chPongFor).Store(k)
			c.pong.Set()
			ev.Store(0)
		}
	})
	wg.Wait()
}

// chaosProc is a child process of the parent.
type chaosProc struct {
	cmd    *exec.Cmd
	id     uint64
	slot   int
	role   string
	killed atomic.Bool // set before the parent kills it
	done   chan struct{}
	err    error // of Wait, once done is closed
}

// chaosVictim is what the parent saw of a killed worker.
type chaosVictim struct {
	id             uint64
	killed, dead   time.Time
	recvPhase      uint64 // recInRecv at death
	inSend         bool
	event          uint64
	consumerClaim  bool // the ring held a slot it had claimed for receiving
	producerClaim  bool
	lostIdentified []uint64 // id<<32|seq of the message in its consumer claim
	semHeld        bool     // killed holding a Semaphore unit
	starting       bool     // killed before it ran (opening the MemFile, or waiting for the start Event)
	targeted       string
}

func chaosParent(t *testing.T) {
	dur, minGap, maxGap, workers := 4*time.Second, 20*time.Millisecond, 80*time.Millisecond, 5
	maxSeq := 1 << 17
	switch {
	case testproc.IsEmulated():
		dur, minGap, maxGap, workers = 3*time.Second, 150*time.Millisecond, 400*time.Millisecond, 3
	case testing.Short():
		dur, workers = time.Second, 4
	}
	wait := testproc.Scale(2 * time.Second)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SHMX_CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 0, 64); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0xC4A05))
	maxInc := chaosFirstID + workers + int(dur/minGap) + 2
	size, _ := chaosSize(maxInc, maxSeq)
	t.Logf("seed %d (SHMX_CHAOS_SEED replays the kill choices); %v of kills every %v-%v among %d workers; %d KiB of shared data",
		seed, dur, minGap, maxGap, workers, size>>10)

	link := tempLink(t)
	f := mustCreate(t, link, LockNone, size)
	c, err := chaosPlace(f.Bytes(), true)
	if err != nil {
		t.Fatal(err)
	}
	c.id = chaosParentID
	c.setParams(maxInc, maxSeq, wait)
	c.rec(c.id, recToken).Store(uint64(selfToken))
	var failMu sync.Mutex
	var failures []string
	c.failf = func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		c.w(chFailed).CompareAndSwap(0, c.id)
		failMu.Lock()
		failures = append(failures, msg)
		failMu.Unlock()
	}

	// Children.
	var procsMu sync.Mutex
	var all []*chaosProc
	nextID := uint64(chaosFirstID)
	startProc := func(role string, id uint64, slot int) *chaosProc {
		gorace := strings.TrimSpace(os.Getenv("GORACE") + " halt_on_error=1")
		cmd := testproc.Command(t, "TestChaos", role,
			chaosEnvLink+"="+link, chaosEnvID+"="+strconv.FormatUint(id, 10),
			chaosEnvSlot+"="+strconv.Itoa(slot), "GORACE="+gorace)
		p := &chaosProc{cmd: cmd, id: id, slot: slot, role: role, done: make(chan struct{})}
		if err := cmd.Start(); err != nil {
			c.failf("starting %s %d: %v", role, id, err)
			close(p.done)
			return p
		}
		procsMu.Lock()
		all = append(all, p)
		procsMu.Unlock()
		go func() {
			p.err = cmd.Wait()
			close(p.done)
			if !p.killed.Load() && (role != chaosRoleChecker || p.err != nil || c.w(chStop).Load() == 0) {
				c.failf("%s %d (pid %d) exited by itself: %v%s", role, id, cmd.Process.Pid, p.err, chaosFailText(c))
			}
		}()
		return p
	}
	t.Cleanup(func() { // before the MemFile's Close (cleanups run last first)
		procsMu.Lock()
		defer procsMu.Unlock()
		for _, p := range all {
			p.killed.Store(true)
			p.cmd.Process.Kill()
		}
		for _, p := range all {
			select {
			case <-p.done:
			case <-time.After(testproc.Scale(10 * time.Second)):
				t.Errorf("%s %d never exited after SIGKILL", p.role, p.id)
			}
		}
	})
	checker := startProc(chaosRoleChecker, chaosCheckerID, -1)
	slots := make([]*chaosProc, workers)
	startWorker := func(slot int) {
		slots[slot] = startProc(chaosRoleWorker, nextID, slot)
		nextID++
	}
	for s := range slots {
		startWorker(s)
	}
	c.start.Set()

	// The kill and its post-mortem.
	var victimsMu sync.Mutex
	var victims []chaosVictim
	identified := map[uint64]bool{} // lost messages found in dead consumers' claims
	ringHdr := c.b[chRing : chRing+RingHeaderSize]
	ringCap := int(binary.LittleEndian.Uint32(ringHdr[ringCapOffDoc:]))
	ringStride := int(binary.LittleEndian.Uint32(ringHdr[ringStrideOffDoc:]))
	ringSlots := int(binary.LittleEndian.Uint32(ringHdr[ringSlotsOffDoc:]))
	kill := func(p *chaosProc, why string) {
		v := chaosVictim{id: p.id, targeted: why}
		v.killed = time.Now()
		c.rec(p.id, recKill).Store(uint64(v.killed.UnixNano()))
		if p.slot >= 0 {
			c.w(chSemDying).Or(uint64(1) << p.slot)
		}
		p.killed.Store(true)
		if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			c.failf("kill %d: %v", p.id, err)
		}
		select {
		case <-p.done:
		case <-time.After(testproc.Scale(10 * time.Second)):
			c.failf("worker %d never exited after SIGKILL", p.id)
		}
		v.dead = time.Now()
		v.starting = c.rec(p.id, recReady).Load() == 0
		v.recvPhase = c.rec(p.id, recInRecv).Load()
		v.inSend = c.rec(p.id, recInSend).Load() != 0
		v.event = c.rec(p.id, recEvent).Load()
		// Slots of the ring the dead process had claimed (the layout is
		// documented on Ring): read them before a repairer frees them.
		if tok := uint32(c.rec(p.id, recToken).Load()); tok != 0 {
			for i := range ringCap {
				so := chRing + ringSlots + i*ringStride
				st := c.w(so).Load()
				if uint32(st>>32) != tok {
					continue
				}
				switch seq := int(uint32(st)); {
				case seq%ringCap == i:
					v.producerClaim = true
				case (seq-1)%ringCap == i:
					v.consumerClaim = true
					var msg [chaosMsgLen]byte
					copy(msg[:], c.b[so+16:])
					if c.w(so).Load() == st {
						if id, s, ok := chaosDecode(msg[:]); ok {
							v.lostIdentified = append(v.lostIdentified, uint64(id)<<32|uint64(s))
						} else {
							c.failf("Ring: the slot dead worker %d had claimed for receiving holds garbage %x", p.id, msg)
						}
					}
				}
			}
		}
		// Forget its Semaphore holder bit (set after Acquire, cleared
		// before Release): the Semaphore gives its unit back itself.
		if p.slot >= 0 {
			bit := uint64(1) << p.slot
			v.semHeld = c.w(chSemBits).And(^bit)&bit != 0
			c.w(chSemDying).And(^bit)
		}
		if v.consumerClaim && v.recvPhase == 0 {
			c.failf("Ring: killed worker %d had a slot claimed for receiving while it was not receiving", p.id)
		}
		if v.producerClaim && !v.inSend {
			c.failf("Ring: killed worker %d had a slot claimed for sending while it was not sending", p.id)
		}
		victimsMu.Lock()
		victims = append(victims, v)
		for _, k := range v.lostIdentified {
			identified[k] = true
		}
		victimsMu.Unlock()
	}
	bySlotToken := func(tok uint32) int {
		for s, p := range slots {
			if tok != 0 && uint32(c.rec(p.id, recToken).Load()) == tok {
				return s
			}
		}
		return -1
	}

	// The parent's own participants: a Mutex user and checker, and the
	// Event pinger.
	stopParent := make(chan struct{})
	var pwg sync.WaitGroup
	var pongTimeouts, pongExplained, pings int
	pwg.Go(func() {
		prng := rand.New(rand.NewPCG(seed, 1))
		var last uint64
		for {
			select {
			case <-stopParent:
				return
			default:
			}
			c.mutexOp(prng)
			c.seqRead(&last)
			dying := c.w(chSemDying).Load()
			h := c.w(chSemBits).Load()
			if dying |= c.w(chSemDying).Load(); bits.OnesCount64(h&^dying) > chaosSemCap {
				c.failf("Semaphore over-admitted: holders %b (being killed %b)", h, dying)
			}
			if got, set := c.w(chPingsGot).Load(), c.w(chPingsSet).Load(); got > set {
				c.failf("Event: %d waits returned for %d Sets of an auto-reset event", got, set)
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	pwg.Go(func() {
		timedOut := map[uint64]bool{}
		for k := uint64(1); ; k++ {
			select {
			case <-stopParent:
				return
			default:
			}
			c.w(chPingSeq).Store(k)
			c.w(chPingsSet).Add(1)
			t0 := time.Now()
			c.ping.Set()
			pings++
			ctx, cancel := c.ctx()
			var err error
			for {
				if err = c.pong.Wait(ctx); err != nil {
					break
				}
				if pf := c.w(chPongFor).Load(); pf == k {
					break
				} else if pf > k || len(timedOut) == 0 {
					c.failf("Event: pong for ping %d while ping %d is asked (no ping timed out)", pf, k)
					break
				} // else a late answer after a ping that timed out: wait on
			}
			cancel()
			if err == nil {
				c.waited(wkPong, time.Since(t0))
				time.Sleep(500 * time.Microsecond)
				continue
			}
			// Unanswered: a responder that had the ping (or was in its
			// Wait) must have been killed since it was set.
			timedOut[k] = true
			pongTimeouts++
			victimsMu.Lock()
			ok := false
			for _, v := range victims {
				if !v.dead.Before(t0) && (v.event == chEvWaiting<<32 || v.event == chEvGot<<32|k) {
					ok = true
				}
			}
			victimsMu.Unlock()
			if ok {
				pongExplained++
			} else {
				c.failf("Event: ping %d unanswered for %v and no responder was killed since it was set", k, c.wait)
			}
		}
	})

	// Chaos.
	began := time.Now()
	targeted := map[string]int{}
	for time.Since(began) < dur && c.w(chFailed).Load() == 0 {
		time.Sleep(minGap + time.Duration(rng.Int64N(int64(maxGap-minGap))))
		if int(nextID) >= maxInc {
			break
		}
		slot, why := -1, "random"
		switch rng.IntN(4) {
		case 0:
			if st := c.mu.State(); st.Locked {
				slot, why = bySlotToken(st.Owner), "Mutex holder"
			}
		case 2:
			var in []int
			for s, p := range slots {
				if ph := c.rec(p.id, recInRecv).Load(); ph == chRecvClaimed || c.rec(p.id, recInSend).Load() != 0 {
					in = append(in, s)
				}
			}
			if len(in) > 0 {
				slot, why = in[rng.IntN(len(in))], "Ring claimant"
			}
		case 1:
			st := c.rw.State()
			if st.Writer.Locked {
				slot, why = bySlotToken(st.Writer.Owner), "RWMutex writer"
			} else if len(st.Readers) > 0 {
				slot, why = bySlotToken(st.Readers[rng.IntN(len(st.Readers))].Token), "RWMutex reader"
			}
		}
		if slot < 0 {
			slot, why = rng.IntN(workers), "random"
		}
		targeted[why]++
		kill(slots[slot], why)
		startWorker(slot)
	}
	chaosTime := time.Since(began)
	close(stopParent)
	pwg.Wait()

	// The end: kill every worker, let the checker finish, drain the ring.
	for _, p := range slots {
		kill(p, "final")
	}
	c.w(chStop).Store(1)
	{
		ctx, cancel := c.ctx()
		var stop [chaosMsgLen]byte
		binary.LittleEndian.PutUint32(stop[:], chaosStop)
		if err := c.ring.Send(ctx, stop[:]); err != nil {
			c.failf("sending the checker its stop message: %v", err)
		}
		cancel()
	}
	select {
	case <-checker.done:
		if checker.err != nil {
			c.failf("checker: %v%s", checker.err, chaosFailText(c))
		}
	case <-time.After(3 * wait):
		c.failf("the checker did not finish within %v of the stop", 3*wait)
	}
	buf, last := make([]byte, chaosSlotSize), map[uint32]uint32{}
	drained := 0
	for {
		// A blocked Recv skips the slots of dead producers after a slice.
		ctx, cancel := context.WithTimeout(context.Background(), testproc.Scale(4*RingWaitSlice))
		n, err := c.ring.Recv(ctx, buf)
		cancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				c.failf("draining the ring: %v", err)
			}
			break
		}
		c.record(buf[:n], last)
		drained++
	}
	c.ring.Reclaim()
	if n, ok := c.ring.TryRecv(buf); ok {
		c.failf("the ring still holds a message (%x) after draining", buf[:n])
	}

	// Take every lock once more.
	var mutexFinal, rwFinal uint64
	c.final = true
	recovBefore := c.stat(stMutexRecov).Load() + c.stat(stRWWriterRecov).Load()
	if c.lockMutex() {
		x, y := c.w(chMutexA).Load(), c.w(chMutexB).Load()
		ctx, cancel := c.ctx()
		v, err := c.seq.LoadContext(ctx)
		cancel()
		if x != y || err != nil || v != [3]uint64{x, x, x} {
			c.failf("final Mutex pair (%d, %d), SeqLock %v (%v)", x, y, v, err)
		}
		mutexFinal = x
		c.mu.Unlock()
	}
	if c.lockRW() {
		x, y := c.w(chRWA).Load(), c.w(chRWB).Load()
		if x != y {
			c.failf("final RWMutex pair (%d, %d)", x, y)
		}
		rwFinal = x
		c.rw.Unlock()
		ctx, cancel := c.ctx()
		if err := c.rw.RLockContext(ctx); err != nil {
			c.failf("RLockContext after the final recovery: %v", err)
		} else {
			c.rw.RUnlock()
		}
		cancel()
	}
	finalRecov := c.stat(stMutexRecov).Load() + c.stat(stRWWriterRecov).Load() - recovBefore
	if h := c.w(chSemBits).Load(); h != 0 {
		c.failf("Semaphore holders %b left after every worker was killed", h)
	}
	semLeft := c.sem.Count()
	if semLeft > chaosSemCap {
		c.failf("Semaphore count %d above its capacity", semLeft)
	}
	// Every worker is dead: whatever units they held or were granted in
	// their queue slots come back to the parent's Acquire of all of them
	// (after one wait slice at most), and nobody is left queued.
	semT0 := time.Now()
	ctx, cancel := c.ctx()
	if err := c.sem.Acquire(ctx, chaosSemCap); err != nil {
		c.failf("Semaphore: the final Acquire(%d) with %d available: %v (units of killed holders not recovered)", chaosSemCap, semLeft, err)
	} else {
		if w := c.sem.Waiters(); w != 0 {
			c.failf("Semaphore: %d waiters left after every worker was killed", w)
		}
		c.sem.Release(chaosSemCap)
	}
	cancel()
	semRecovery := time.Since(semT0)
	if got, set := c.w(chPingsGot).Load(), c.w(chPingsSet).Load(); got > set {
		c.failf("Event: %d waits returned for %d Sets", got, set)
	}

	// Every completed increment counted once; the difference is the
	// holders killed after their increment of the first word and before
	// they counted it.
	for _, p := range []struct {
		what       string
		final, ops uint64
	}{{"Mutex", mutexFinal, c.stat(stMutexOps).Load()}, {"RWMutex", rwFinal, c.stat(stRWWrites).Load()}} {
		if p.final < p.ops || p.final-p.ops > uint64(len(victims)) {
			c.failf("%s pair ends at %d after %d counted increments and %d kills: increments were lost or invented", p.what, p.final, p.ops, len(victims))
		}
	}

	// Ring accounting.
	var sent, recvBits, lostIdent, lostOther, inflightDelivered, inflightLost int
	for id := uint64(chaosFirstID); id < nextID; id++ {
		n := int(c.rec(id, recSent).Load())
		sent += n
		for s := range c.maxSeq {
			got := c.received(id, s)
			if got {
				recvBits++
			}
			switch {
			case s < n && !got:
				if identified[id<<32|uint64(s)] {
					lostIdent++
				} else {
					lostOther++
				}
			case s == n:
				if got {
					inflightDelivered++
				} else {
					inflightLost++
				}
			case s > n && got:
				c.failf("Ring: message %d of producer %d received, but it sent only %d", s, id, n)
			}
		}
	}
	// A consumer killed while trying may have claimed a slot an instant
	// before (TryBeginRecv had not returned); one killed holding its claim
	// may have had it freed by a blocked producer before the post-mortem
	// looked. Each may account for one lost message.
	allowance, consumerClaims, producerClaims, semHeld, starting := 0, 0, 0, 0, 0
	for _, v := range victims {
		if v.starting {
			starting++
		}
		if (v.recvPhase == chRecvTrying || v.recvPhase == chRecvClaimed) && !v.consumerClaim {
			allowance++
		}
		if v.consumerClaim {
			consumerClaims++
		}
		if v.producerClaim {
			producerClaims++
		}
		if v.semHeld {
			semHeld++
		}
	}
	if lostOther > allowance {
		c.failf("Ring: %d messages lost that no killed consumer explains (%d consumers were killed trying or holding a claim that the post-mortem did not find)", lostOther, allowance)
	}

	// Report.
	var rep strings.Builder
	fmt.Fprintf(&rep, "chaos for %v: %d kills during it (%v), %d at the end (%d victims were still starting); %d worker incarnations; the parent's final takes recovered %d locks\n",
		chaosTime.Round(time.Millisecond), len(victims)-workers, targeted, workers, starting, nextID-chaosFirstID, finalRecov)
	st := func(i int) uint64 { return c.stat(i).Load() }
	latLine := func(k int) string {
		s, n, worst := c.latencies(k)
		if n == 0 {
			return "no latency samples"
		}
		return fmt.Sprintf("kill->recovered n=%d median %v p90 %v max %v", n,
			s[len(s)/2].Round(time.Microsecond), s[len(s)*9/10].Round(time.Microsecond), worst.Round(time.Microsecond))
	}
	fmt.Fprintf(&rep, "Mutex: %d increments (final pair %d), %d recoveries (%d repaired an unequal pair); %s\n",
		st(stMutexOps), mutexFinal, st(stMutexRecov), st(stMutexRepaired), latLine(latMutex))
	fmt.Fprintf(&rep, "RWMutex: %d writes (final pair %d), %d reads, %d writer recoveries (%d repaired), %d readers told ErrOwnerDead; %s\n",
		st(stRWWrites), rwFinal, st(stRWReads), st(stRWWriterRecov), st(stRWRepaired), st(stRWReaderTold), latLine(latRW))
	fmt.Fprintf(&rep, "ErrOwnerDead naming no holder (dead reader, or holder died before naming itself / after clearing): %d\n", st(stUnnamed))
	fmt.Fprintf(&rep, "Semaphore: %d acquired, %d Acquire timeouts (100 ms), %d workers killed holding a unit; after the last kill %d of %d units were free, the rest recovered in %v\n",
		st(stSemAcquired), st(stSemTimeouts), semHeld, semLeft, chaosSemCap, semRecovery.Round(time.Millisecond))
	fmt.Fprintf(&rep, "SeqLock: %d consistent loads, %d loads told the writer died mid-Store\n", st(stSeqLoads), st(stSeqDeadWriter))
	fmt.Fprintf(&rep, "Event: %d pings, %d consumed, %d unanswered (all explained by a killed responder: %d)\n",
		pings, c.w(chPingsGot).Load(), pongTimeouts, pongExplained)
	fmt.Fprintf(&rep, "Ring: %d sent (Send returned), %d received (%d drained at the end); lost %d: %d found in a dead consumer's claimed slot, %d covered by %d consumers killed trying or claiming with no claimed slot found; the next message of each killed producer: %d delivered before its Send returned, %d never delivered (not begun, or its claimed slot skipped); dead claims seen at the kill: %d consumer, %d producer\n",
		sent, recvBits, drained, lostIdent+lostOther, lostIdent, lostOther, allowance, inflightDelivered, inflightLost, consumerClaims, producerClaims)
	rep.WriteString("worst waits:")
	for k := range chaosWaitCount {
		fmt.Fprintf(&rep, " %s %v;", chaosWaitNames[k], time.Duration(c.w(chWorst+8*k).Load()).Round(time.Microsecond))
	}
	t.Log(rep.String())
	// Registrations of killed waiters left in the waiter counts after the
	// final Lock/Unlock rounds above: an Unlock whose wake-up found nobody
	// dropped them (a dead waiter that owned a Mutex's woken flag keeps
	// its count until a live waiter wakes).
	ms, rs := c.mu.State(), c.rw.State()
	t.Logf("waiter registrations left: Mutex %d (woken %v), RWMutex writers %d (woken %v), readers at the gate %d",
		ms.Waiters, ms.Woken, rs.Writer.Waiters, rs.Writer.Woken, rs.ReadersWaiting)

	for _, k := range []int{latMutex, latRW} {
		if _, n, worst := c.latencies(k); n > 0 && worst > wait {
			c.failf("a dead holder was recovered only %v after its kill (bound %v)", worst, wait)
		}
	}
	failMu.Lock()
	defer failMu.Unlock()
	for i, msg := range failures {
		if i == 20 {
			t.Errorf("... and %d more failures", len(failures)-i)
			break
		}
		t.Error(msg)
	}
	if len(failures) > 0 {
		t.Logf("seed %d", seed)
	}
}

// The Ring header fields the post-mortem reads, as documented on Ring.
const (
	ringCapOffDoc    = 16
	ringStrideOffDoc = 20
	ringSlotsOffDoc  = 24
)

// chaosFailText returns the first failure a child recorded, if any.
func chaosFailText(c *chaos) string {
	n := int(c.w(chFailLen).Load())
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (first failure, by %d: %s)", c.w(chFailed).Load(), c.b[chFailText:chFailText+min(n, 1024)])
}
