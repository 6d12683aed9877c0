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

// span is one tracked mapping.
type span struct {
	lo, hi uintptr // [lo, hi)
	d      *Domain
}

var spans struct {
	mu  sync.Mutex
	cur atomic.Pointer[[]span] // sorted by lo, never overlapping; replaced whole
}

// Track tells Judge and Gone that the memory b belongs to domain d, until
// the returned function is called (before b is unmapped). b must not be
// Go-managed memory (a mapping is not).
func Track(b []byte, d *Domain) (untrack func()) {
	if len(b) == 0 {
		return func() {}
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	s := span{lo: lo, hi: lo + uintptr(len(b)), d: d}
	spans.mu.Lock()
	old := load()
	next := make([]span, 0, len(old)+1)
	for _, o := range old {
		if o.lo < s.hi && s.lo < o.hi {
			spans.mu.Unlock()
			panic("live: Track of overlapping mappings")
		}
		next = append(next, o)
	}
	next = append(next, s)
	sort.Slice(next, func(i, j int) bool { return next[i].lo < next[j].lo })
	spans.cur.Store(&next)
	spans.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			spans.mu.Lock()
			defer spans.mu.Unlock()
			old := load()
			next := make([]span, 0, len(old))
			for _, o := range old {
				if o != s {
					next = append(next, o)
				}
			}
			spans.cur.Store(&next)
		})
	}
}

func load() []span {
	if p := spans.cur.Load(); p != nil {
		return *p
	}
	return nil
}

// DomainOf returns the domain of the tracked mapping holding p, or nil.
func DomainOf(p unsafe.Pointer) *Domain {
	a := uintptr(p)
	ss := load()
	i := sort.Search(len(ss), func(i int) bool { return ss[i].hi > a })
	if i < len(ss) && ss[i].lo <= a {
		return ss[i].d
	}
	return nil
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
