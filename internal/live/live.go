// Package live owns process identity and liveness for every shmx
// primitive that recovers from a process that died: who a lock word names,
// how a waiter learns that this process is gone, and when a waiter may
// believe it. No other package decides that a process is dead.
//
// # Identity: a token, not a pid
//
// A pid means nothing outside its pid namespace (the containers of one
// Kubernetes pod share /dev/shm but not their pids; pid 1 exists in every
// namespace) and is reused. So a process is named in shared memory by its
// token: 32 random bits, never 0, drawn once when the process starts
// (Self). Lock words, reader slots and Ring claims hold tokens.
//
// # Liveness: a kernel lock that dies with the process
//
// A token says nothing by itself; what vouches for it is a lock the
// kernel drops when the process dies, on an object every participant
// already reaches. Before a process uses any object in a segment it joins
// the segment's Domain (Join), taking that lock:
//
//   - Linux: an open-file-description read lock (fcntl F_OFD_SETLK) on
//     byte <token> of the segment's own file (/dev/shm/<name>, the
//     WithFile or hugetlbfs file), held through a duplicate of the file
//     descriptor that stays open while the process has the segment
//     mapped. A waiter asks F_OFD_GETLK whether a write lock on that byte
//     would conflict: if nothing holds it, the process is gone (or left
//     the segment). The lock belongs to the open file, not to a pid or a
//     thread, so it is valid across pid namespaces (F_OFD_GETLK reports
//     l_pid -1 there), immune to pid reuse and to goroutines moving
//     between threads; the descriptor is close-on-exec. This is LMDB's
//     reader-table idea (it locks byte <pid> of its lock file) with the
//     token as the offset.
//   - macOS and FreeBSD: the same byte, with classic POSIX record locks
//     (F_SETLK/F_GETLK; neither kernel offers OFD locks through a public
//     API). They belong to the process, and POSIX drops all of a
//     process's locks on a file when it closes any descriptor of that
//     file: Domain therefore re-takes its lock whenever one of this
//     process's segments of the same file is closed while others stay
//     open (see Domain.Retake). Compiled and vetted only.
//   - Windows: a named event Local\shmx-live-<token> (and Global\... for
//     a process that joins a Global\ segment), created when the process
//     starts and never closed: a kernel object lives while any handle to
//     it is open, so it vanishes when the process dies, however it dies.
//     A waiter asks OpenEvent whether it exists. A token whose event
//     already exists at start is drawn again.
//   - Other systems: no domain vouches for anybody.
//
// Below any segment, futex's Windows waiter queue names the process of a
// waiter slot by its process word (pid and a hash of its creation time,
// owner_windows.go): in one Windows kernel those name a process for good,
// and a process handle vouches for it. That is decided here too
// (ProcessWordAlive).
//
// # The suspicion rule
//
// A waiter believes that the process behind a token is dead only when the
// domain of the memory it waits on says so (Gone). Memory that lies in no
// tracked mapping (MutexAt over a Go slice, or over a mapping this package
// was not told about with Track) never has a dead owner: its waiters wait,
// or time out under a context, and never take a lock from a process that
// may be alive. A process never judges its own token. Errors while asking
// the kernel count as alive.
//
// Two processes that draw the same token (a chance of n²/2^33 among n
// live participants of one segment) are caught when the second one joins:
// Join fails with ErrTokenClash. A token drawn again after its first
// holder died makes that holder's leftovers look alive (waiters wait
// instead of recovering): it is never unsafe, and happens with
// probability 2^-32 per process start.
package live

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// ErrTokenClash is returned by Join when another live process of the
// segment holds this process's token.
var ErrTokenClash = errors.New("live: another live process of this segment drew the same 32-bit token (restart this process)")

// Verdict is what a domain says of a token.
type Verdict uint8

const (
	// Unknown: nothing vouches either way (no domain, or the kernel did
	// not answer). Callers treat it as alive.
	Unknown Verdict = iota
	// Alive: the process holds its liveness lock.
	Alive
	// Dead: nothing holds the token's lock: the process died or left.
	Dead
)

// String returns "unknown", "alive" or "dead".
func (v Verdict) String() string {
	switch v {
	case Alive:
		return "alive"
	case Dead:
		return "dead"
	}
	return "unknown"
}

var self = drawToken()

// Self returns this process's token, fixed for its life and never 0.
func Self() uint32 { return self }

// random returns a random non-zero token.
func random() uint32 {
	var b [4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic("live: no randomness for the process token: " + err.Error())
		}
		if t := binary.LittleEndian.Uint32(b[:]); t != 0 {
			return t
		}
	}
}

// Domain is where the liveness of tokens is vouched for: one segment
// file (Unix) or one named-object namespace (Windows). A process joins
// each domain once, however many times it maps the segment; Join and
// Leave count.
type Domain struct {
	key  domainKey
	refs int // under domains.mu
	sys  sysDomain
}

var domains struct {
	mu sync.Mutex
	m  map[domainKey]*Domain
}

// Join registers this process in the domain of a segment: fd is an open
// descriptor of the segment's file on Unix (Join keeps a duplicate; the
// caller may close fd), ignored on Windows, where global says whether the
// segment lives in the Global\ namespace. The process must join before it
// takes any lock in the segment, and Leave when it unmaps it.
func Join(fd uintptr, global bool) (*Domain, error) {
	key, err := keyOf(fd, global)
	if err != nil {
		return nil, err
	}
	domains.mu.Lock()
	defer domains.mu.Unlock()
	if d := domains.m[key]; d != nil {
		d.refs++
		return d, nil
	}
	d := &Domain{key: key, refs: 1}
	if err := d.sys.join(fd, global); err != nil {
		return nil, err
	}
	if domains.m == nil {
		domains.m = make(map[domainKey]*Domain)
	}
	domains.m[key] = d
	return d, nil
}

// Leave undoes one Join. When the last one is undone the process's
// liveness lock in the domain is released: from then on its token counts
// as dead there.
func (d *Domain) Leave() {
	domains.mu.Lock()
	defer domains.mu.Unlock()
	if d.refs <= 0 {
		panic("live: Leave of a domain not joined")
	}
	d.refs--
	if d.refs == 0 {
		delete(domains.m, d.key)
		d.sys.leave()
	}
}

// Retake takes this process's lock again after a descriptor of the
// domain's file was closed, for systems whose record locks die with any
// close (macOS, FreeBSD); elsewhere it does nothing.
func (d *Domain) Retake() {
	domains.mu.Lock()
	defer domains.mu.Unlock()
	if d.refs > 0 {
		d.sys.retake()
	}
}

// Judge says whether the process behind token is alive in d.
func (d *Domain) Judge(token uint32) Verdict {
	if token == 0 || token == self {
		return Alive
	}
	return d.sys.judge(token)
}

// Probe judges token through fd, a descriptor of a segment's file, without
// joining: for inspection tools. On Windows fd is ignored.
func Probe(fd uintptr, token uint32) Verdict {
	if token == 0 || token == self {
		return Alive
	}
	return probe(fd, token)
}

// Mapping is one tracked mapping: the domain that vouches for the
// processes named in its words, and whether the MemFile that mapped it
// was closed. Close is here, beside the address index, because a waiter
// asks both questions of the same address: who may be dead, and whether
// the memory it sleeps on is still the segment.
//
// States of a Mapping, each changed by the process that tracked it:
//
//	from      to        by       effect
//	tracked   closed    Close    Enter fails; DomainOf is nil (nobody is
//	                             judged dead in memory that is no longer
//	                             shared); registered sleepers are woken
//	tracked   gone      Untrack  the range is forgotten (about to unmap)
//	closed    gone      Untrack  the same, when the range is unmapped after all
//
// A closed Mapping stays in the index for as long as its address range
// is reserved (shm.Segment.Retire keeps it for the life of the process),
// so that a call on a stale pointer into it still learns that it is
// closed.
type Mapping struct {
	lo, hi uintptr // [lo, hi)
	d      *Domain
	closed atomic.Bool
	mu     sync.Mutex      // guards asleep
	asleep map[*uint32]int // words of the mapping that goroutines sleep on, and how many
	// polling counts the goroutines that poll words of the mapping
	// (EnterPoll): they need no wake-up, only Close's wait until they
	// left, so a counter does instead of the map.
	polling atomic.Int32
}

var spans struct {
	mu  sync.Mutex
	cur atomic.Pointer[[]*Mapping] // sorted by lo, never overlapping; replaced whole
}

// Track tells Judge and Gone that the memory b belongs to domain d, until
// Untrack (before b is unmapped). b must not be Go-managed memory (a
// mapping is not).
func Track(b []byte, d *Domain) *Mapping {
	if len(b) == 0 {
		return nil
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	m := &Mapping{lo: lo, hi: lo + uintptr(len(b)), d: d}
	spans.mu.Lock()
	defer spans.mu.Unlock()
	old := load()
	next := make([]*Mapping, 0, len(old)+1)
	for _, o := range old {
		if o.lo < m.hi && m.lo < o.hi {
			panic("live: Track of overlapping mappings")
		}
		next = append(next, o)
	}
	next = append(next, m)
	sort.Slice(next, func(i, j int) bool { return next[i].lo < next[j].lo })
	spans.cur.Store(&next)
	return m
}

// Untrack forgets m; a second Untrack, or one of nil, does nothing.
func (m *Mapping) Untrack() {
	if m == nil {
		return
	}
	spans.mu.Lock()
	defer spans.mu.Unlock()
	old := load()
	next := make([]*Mapping, 0, len(old))
	for _, o := range old {
		if o != m {
			next = append(next, o)
		}
	}
	spans.cur.Store(&next)
}

func load() []*Mapping {
	if p := spans.cur.Load(); p != nil {
		return *p
	}
	return nil
}

// MappingOf returns the tracked mapping holding p, or nil. Its methods
// accept nil (memory that is no tracked mapping is never closed).
func MappingOf(p unsafe.Pointer) *Mapping {
	a := uintptr(p)
	ms := load()
	i := sort.Search(len(ms), func(i int) bool { return ms[i].hi > a })
	if i < len(ms) && ms[i].lo <= a {
		return ms[i]
	}
	return nil
}

// DomainOf returns the domain of the tracked mapping holding p, or nil
// (also once that mapping is closed).
func DomainOf(p unsafe.Pointer) *Domain {
	if m := MappingOf(p); m != nil && !m.closed.Load() {
		return m.d
	}
	return nil
}

// Closed reports whether m was closed.
func (m *Mapping) Closed() bool { return m != nil && m.closed.Load() }

// Enter registers a goroutine about to sleep on the word addr of m, so
// that Close can wake it; it fails, registering nothing, once m is
// closed. Every successful Enter is followed by one Leave.
func (m *Mapping) Enter(addr *uint32) bool {
	if m == nil {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return false
	}
	if m.asleep == nil {
		m.asleep = make(map[*uint32]int)
	}
	m.asleep[addr]++
	return true
}

// Waiting reports how many goroutines are registered by Enter and have
// not yet left: tests use it to know that waiters reached their wait.
func (m *Mapping) Waiting() int {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := int(m.polling.Load())
	for _, k := range m.asleep {
		n += k
	}
	return n
}

// EnterPoll registers a goroutine about to poll words of m (a busy-spin
// wait, which sleeps nowhere and checks Closed itself), so that Close
// waits until it has left; it fails, registering nothing, once m is
// closed. Every successful EnterPoll is followed by one LeavePoll. It is
// two atomic operations, not Enter's lock and map: a poller leaves
// right after its word changed, on the path of the message it waited
// for. The count comes before the look at closed and Close's store of
// closed before its look at the count, so either the poller sees m
// closed or Close waits for it.
func (m *Mapping) EnterPoll() bool {
	if m == nil {
		return true
	}
	m.polling.Add(1)
	if m.closed.Load() {
		m.polling.Add(-1)
		return false
	}
	return true
}

// LeavePoll undoes one EnterPoll.
func (m *Mapping) LeavePoll() {
	if m != nil {
		m.polling.Add(-1)
	}
}

// Leave undoes one Enter of addr.
func (m *Mapping) Leave(addr *uint32) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.asleep[addr]--; m.asleep[addr] <= 0 {
		delete(m.asleep, addr)
	}
}

// Close marks m closed and wakes (with wake, the futex wake-all of the
// caller's package) every goroutine registered by Enter, again and again
// until they have all left or budget has passed: a sleeper that entered
// before Close but had not yet reached the kernel's wait when it was
// woken would sleep through one wake-up. Woken sleepers find m closed
// and return; pollers (EnterPoll) find it at their next look. It reports
// how many sleepers and pollers were still registered when budget ran
// out (0: all left).
func (m *Mapping) Close(wake func(addr *uint32), budget time.Duration) int {
	if m == nil {
		return 0
	}
	m.closed.Store(true)
	deadline := time.Now().Add(budget)
	var addrs []*uint32
	for {
		addrs = addrs[:0]
		m.mu.Lock()
		n := int(m.polling.Load())
		for a, k := range m.asleep {
			addrs = append(addrs, a)
			n += k
		}
		m.mu.Unlock()
		if n == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			return n
		}
		for _, a := range addrs {
			wake(a)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// Judge says whether the process behind token, found in a word at p, is
// alive, by the domain of the mapping p lies in: Unknown outside any
// tracked mapping.
func Judge(p unsafe.Pointer, token uint32) Verdict {
	if d := DomainOf(p); d != nil {
		return d.Judge(token)
	}
	if token == 0 || token == self {
		return Alive
	}
	return Unknown
}

// Gone reports whether the process behind token, found in a word at p,
// is known to be gone: the suspicion rule of the package doc. It is the
// only question the primitives ask; they take over what a dead process
// held only when it says true.
func Gone(p unsafe.Pointer, token uint32) bool { return Judge(p, token) == Dead }

// Namespace returns an identifier of this process's pid namespace (the
// inode of /proc/self/ns/pid on Linux), or 0 where there is none or it
// cannot be read: for inspection tools, which show pids with it because a
// pid means nothing outside its namespace.
func Namespace() uint64 { return namespace() }
