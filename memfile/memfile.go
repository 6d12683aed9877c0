package memfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/shm"
)

// A MemFile is a shared-memory segment mapped into this process: either
// one made by Create (a header with a lock and events, then the user data,
// reachable through a link file) or a raw OS segment (CreateRaw, OpenRaw).
//
// Its methods are safe for concurrent use by goroutines, except SetOwner,
// which must not run concurrently with Close. Close may run while other
// goroutines use f or the objects in its memory: see Close.
type MemFile struct {
	seg      *shm.Segment
	mapping  []byte // the whole segment
	data     []byte // the user data within it
	hdr      HeaderInfo
	link     string // "" for raw segments
	osid     string
	mu       *Mutex   // the lock when hdr.Lock == LockMutex
	rw       *RWMutex // the lock when hdr.Lock == LockRWMutex
	readOnly bool
	closed   atomic.Bool
	// dom vouches for this process in the segment (internal/live): it is
	// joined before any lock in the segment can be taken through f, and
	// the mapping is tracked so that waiters on words inside it can ask
	// whether a holder is alive and whether f was closed.
	dom     *live.Domain
	tracked *live.Mapping
	// owner says this MemFile removes the segment (and link) on Close;
	// ownerPID is the process that was made owner, so that a forked child
	// that inherited the MemFile never removes what its parent owns.
	owner    bool
	ownerPID int
}

// Create makes a new shared-memory segment holding a header, a lock of
// type lock, the events asked for with WithEvents, and size bytes of user
// data (zeroed), and publishes it under linkPath: a small link file naming
// the segment, which other processes pass to Open.
//
// If linkPath exists, Create fails with an error matching fs.ErrExist,
// unless WithForce is given. Of several processes creating the same link
// path at once, exactly one succeeds; the others get fs.ErrExist. The
// header is complete before the link file appears, so an opener never sees
// a half-initialised one.
//
// The caller owns the segment: its Close removes the segment and the link
// file (see SetOwner).
func Create(linkPath string, lock LockType, size int, opts ...Option) (*MemFile, error) {
	o := collect(opts)
	h, err := createLayout(lock, size, o)
	if err != nil {
		return nil, &fs.PathError{Op: "create", Path: linkPath, Err: err}
	}
	if !o.force {
		// Fail fast without making a segment; writeLink is the real,
		// race-free check.
		if _, err := os.Lstat(linkPath); err == nil {
			return nil, &fs.PathError{Op: "create", Path: linkPath, Err: fs.ErrExist}
		}
	}
	var stale *shm.Segment
	if o.force {
		if stale = staleSegment(linkPath, o); stale != nil {
			defer stale.Close()
		}
	}
	osid := newOSID()
	total := int64(h.DataOffset) + int64(size)
	seg, err := shm.Create(osid, total, shmOptions(o)...)
	if err != nil {
		return nil, &fs.PathError{Op: "create", Path: linkPath, Err: err}
	}
	b := seg.Bytes()
	encodeHeader(b, h) // lock and events: all-zero bytes are their initial state
	markReady(b)
	if err := writeLink(linkPath, LinkInfo{OSID: osid, Size: total}, o.perm, o.force); err != nil {
		seg.Remove()
		seg.Close()
		return nil, err
	}
	if stale != nil {
		// The link that named it is gone, and so is its creator: nobody
		// would ever remove it otherwise.
		stale.Remove()
	}
	f, err := newMemFile(seg, h, linkPath, false)
	if err != nil { // cannot happen: the layout was computed here
		seg.Remove()
		seg.Close()
		removeLink(linkPath, osid)
		return nil, err
	}
	f.SetOwner(true)
	return f, nil
}

// staleSegment returns, mapped read-only, the segment that the link at
// linkPath names if the process that created it is dead, so that a forced
// Create can remove it once the link is replaced; nil if there is no such
// segment, its creator may be alive, or its header cannot say.
func staleSegment(linkPath string, o options) *shm.Segment {
	l, err := readLink(linkPath)
	if err != nil {
		return nil
	}
	o.readOnly = true
	seg, err := shm.Open(l.OSID, shmOptions(o)...)
	if err != nil {
		return nil
	}
	b := seg.Bytes()
	h, err := ParseHeader(b[:min(int64(len(b)), l.Size)])
	if err == nil {
		if live.Probe(seg.Fd(), h.CreatorToken) == live.Dead {
			return seg
		}
	}
	seg.Close()
	return nil
}

// createLayout checks Create's arguments and returns the header to write.
func createLayout(lock LockType, size int, o options) (HeaderInfo, error) {
	if lock > LockRWMutex {
		return HeaderInfo{}, fmt.Errorf("memfile: unknown lock type %d", lock)
	}
	if o.events < 0 || o.events > MaxEvents {
		return HeaderInfo{}, fmt.Errorf("memfile: %d events, want 0 to %d", o.events, MaxEvents)
	}
	h := layoutFor(lock, o.events)
	if size <= 0 || int64(size) > maxLinkSize-int64(h.DataOffset) {
		return HeaderInfo{}, fmt.Errorf("memfile: data size %d out of range", size)
	}
	h.DataSize = size
	h.CreatorPID, h.CreatorToken = uint32(os.Getpid()), live.Self()
	return h, nil
}

// Open maps the segment named by the link file at linkPath, created by
// Create in this or another process. It waits (see WithOpenTimeout) for a
// creator that is still writing the header, then validates the header
// against the mapping before using any of it.
//
// Errors: fs.ErrNotExist if the link file or the segment it names is gone
// (the message says which); ErrCorrupt or ErrVersion for a bad link file
// or header (the message names the field); ErrNotReady if the header was
// never completed. All are wrapped in an *fs.PathError naming linkPath.
//
// The caller does not own the segment: its Close only unmaps it.
func Open(linkPath string, opts ...Option) (*MemFile, error) {
	o := collect(opts)
	l, err := readLink(linkPath)
	if err != nil {
		return nil, err
	}
	seg, err := shm.Open(l.OSID, shmOptions(o)...)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &fs.PathError{Op: "open", Path: linkPath, Err: fmt.Errorf("memfile: segment %s named by the link is gone (its creator closed it or died): %w", l.OSID, fs.ErrNotExist)}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: linkPath, Err: err}
	}
	f, err := openHeader(seg, l, linkPath, o)
	if err != nil {
		seg.Close()
		return nil, &fs.PathError{Op: "open", Path: linkPath, Err: err}
	}
	return f, nil
}

// openHeader waits for and validates the header of a segment opened
// through link l.
func openHeader(seg *shm.Segment, l LinkInfo, linkPath string, o options) (*MemFile, error) {
	b := seg.Bytes()
	if int64(len(b)) < l.Size {
		return nil, fmt.Errorf("memfile: link size %d but segment %s maps %d bytes: %w", l.Size, l.OSID, len(b), ErrCorrupt)
	}
	b = b[:l.Size]
	if err := waitReady(b, o.openTimeout); err != nil {
		return nil, err
	}
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	return newMemFile(seg, h, linkPath, o.readOnly)
}

// newMemFile places the lock described by a validated header.
func newMemFile(seg *shm.Segment, h HeaderInfo, linkPath string, readOnly bool) (*MemFile, error) {
	b := seg.Bytes()
	f := &MemFile{seg: seg, mapping: b, hdr: h, link: linkPath, osid: seg.Name(), readOnly: readOnly}
	f.data = b[h.DataOffset : h.DataOffset+h.DataSize : h.DataOffset+h.DataSize]
	var err error
	switch h.Lock {
	case LockMutex:
		f.mu, err = MutexAt(b[h.LockOffset : h.LockOffset+h.LockSize])
	case LockRWMutex:
		f.rw, err = RWMutexAt(b[h.LockOffset : h.LockOffset+h.LockSize])
	}
	if err == nil {
		err = f.join()
	}
	return f, err
}

// join registers this process in the segment's liveness domain and
// tracks the mapping (see MemFile.dom).
func (f *MemFile) join() error {
	d, err := live.Join(f.seg.Fd(), strings.HasPrefix(f.seg.OSName(), `Global\`))
	if err != nil {
		return fmt.Errorf("memfile: joining segment %s: %w", f.osid, err)
	}
	f.dom, f.tracked = d, live.Track(f.mapping, d)
	if !f.readOnly && f.hdr.Participants > 0 {
		f.participants().enter()
	}
	return nil
}

// leave undoes join; a retired mapping stays tracked (closed), see Close.
func (f *MemFile) leave(retired bool) {
	if f.dom == nil {
		return
	}
	if !retired {
		f.tracked.Untrack()
	}
	f.dom.Leave()
}

// CreateRaw makes a bare OS shared-memory segment of exactly size bytes,
// named osID, with no header, lock or link file: the whole segment is the
// data. Other programs open it by that name (C shm_open, Python's
// multiprocessing.shared_memory, OpenRaw). The caller owns it: Close
// removes it. It fails with fs.ErrExist if the name is taken.
func CreateRaw(osID string, size int, opts ...Option) (*MemFile, error) {
	o := collect(opts)
	if size <= 0 {
		return nil, &fs.PathError{Op: "create", Path: osID, Err: fmt.Errorf("memfile: size %d out of range", size)}
	}
	seg, err := shm.Create(osID, int64(size), shmOptions(o)...)
	if err != nil {
		return nil, err
	}
	f, err := rawMemFile(seg, false)
	if err != nil {
		seg.Remove()
		seg.Close()
		return nil, &fs.PathError{Op: "create", Path: osID, Err: err}
	}
	f.SetOwner(true)
	return f, nil
}

// OpenRaw maps an existing OS shared-memory segment by its OS name, made
// by CreateRaw or any other program. The whole segment is the data; there
// is no lock (LockNone). The caller does not own it.
func OpenRaw(osID string, opts ...Option) (*MemFile, error) {
	o := collect(opts)
	seg, err := shm.Open(osID, shmOptions(o)...)
	if err != nil {
		return nil, err
	}
	f, err := rawMemFile(seg, o.readOnly)
	if err != nil {
		seg.Close()
		return nil, &fs.PathError{Op: "open", Path: osID, Err: err}
	}
	return f, nil
}

// rawMemFile wraps a segment with no header. It joins the segment's
// liveness domain all the same, so that locks placed in it by the caller
// recover from dead holders.
func rawMemFile(seg *shm.Segment, readOnly bool) (*MemFile, error) {
	b := seg.Bytes()
	f := &MemFile{seg: seg, mapping: b, data: b[:len(b):len(b)], osid: seg.Name(), readOnly: readOnly,
		hdr: HeaderInfo{Lock: LockNone, DataSize: len(b)}}
	return f, f.join()
}

// Bytes returns the user data, for callers that synchronise by themselves
// (with Lock and Unlock, atomics, or a Ring). It is valid until Close.
// Writing to it after a read-only Open faults (a fatal signal), like any
// write to a read-only mapping.
//
// After Close it returns nil. A slice taken before Close stays readable
// and writable after it, but is no longer shared (see Close).
func (f *MemFile) Bytes() []byte {
	if f.closed.Load() {
		return nil
	}
	return f.data
}

// Size returns the size of the user data in bytes.
func (f *MemFile) Size() int { return len(f.data) }

// LinkPath returns the link file's path, "" for a raw segment.
func (f *MemFile) LinkPath() string { return f.link }

// OSID returns the OS name of the segment (what OpenRaw takes).
func (f *MemFile) OSID() string { return f.osid }

// LockType returns the kind of lock protecting the data.
func (f *MemFile) LockType() LockType { return f.hdr.Lock }

// Header returns the decoded header (zero fields for a raw segment apart
// from Lock and DataSize).
func (f *MemFile) Header() HeaderInfo { return f.hdr }

// IsOwner reports whether Close will remove the segment and link file:
// true for the creator, unless moved with SetOwner, and never in a process
// other than the one that became owner (a forked child).
func (f *MemFile) IsOwner() bool { return f.owner && f.ownerPID == os.Getpid() }

// SetOwner gives (true) or gives up (false) the duty of removing the
// segment and link file on Close. Typically a creator that hands the
// segment over to a longer-lived process calls SetOwner(false), and that
// process calls SetOwner(true) on its opened MemFile.
func (f *MemFile) SetOwner(owner bool) {
	f.owner = owner
	f.ownerPID = os.Getpid()
}

// Event returns event i of the header (0 <= i < the count given to
// WithEvents at Create). It fails on a read-only MemFile: waiting on or
// setting an event writes to the segment.
func (f *MemFile) Event(i int) (*Event, error) {
	if f.closed.Load() {
		return nil, f.errClosed("event")
	}
	if f.readOnly {
		return nil, f.errReadOnly("event")
	}
	if i < 0 || i >= f.hdr.Events {
		return nil, fmt.Errorf("memfile: event %d out of range: %s has %d", i, f.name(), f.hdr.Events)
	}
	off := f.hdr.EventOffset + i*f.hdr.EventStride
	return EventAt(f.mapping[off : off+EventSize])
}

// Close unmaps the segment. If f is the owner (IsOwner), Close first
// removes the link file (if it still names this segment) and the segment,
// so that no new Open finds them; processes that have it mapped keep
// their mapping. A second Close returns an error matching fs.ErrClosed.
//
// Close may run while other goroutines use f or wait on objects in its
// memory (its lock and events, and whatever the caller placed in Bytes):
//
//   - every method of f called after Close returns an error matching
//     fs.ErrClosed (Lock and RLock panic with it, holding nothing; Unlock,
//     RUnlock and MarkConsistent do nothing; Bytes returns nil);
//   - a goroutine asleep in a wait on any word of the segment (a lock, an
//     Event, a Semaphore, a Cond, a Ring) is woken and returns such an error
//     within about a millisecond, having backed out as a cancelled wait
//     does; a wait started later fails at once;
//   - the segment's pages are not unmapped but replaced, at the same
//     address and in one step, by private zero pages that stay for the
//     life of the process (shm.Segment.Retire): a pointer still held into
//     the memory (a *Mutex, a slice from Bytes) never faults. Calls that
//     complete without waiting (an uncontended Lock, TryLock, Set,
//     TrySend) then act on that private memory, which no other process
//     sees. Each Close thus keeps the segment's address range and one
//     kernel mapping entry (Linux allows 65,530 by default); the pages
//     cost nothing unless touched. On Windows the view is unmapped and
//     private memory committed at its address right after: an access in
//     those microseconds faults.
//
// To the other processes, Close is this process leaving the segment: a
// lock that this process holds through f when Close runs is taken over
// by the next waiter as a dead owner's (inconsistent), unless the
// process still has the segment open through another MemFile.
//
// The fast paths pay nothing for this: the objects' uncontended calls
// never look at the closed state, and f's methods read one atomic flag.
func (f *MemFile) Close() error {
	if !f.closed.CompareAndSwap(false, true) {
		return f.errClosed("close")
	}
	// Wake every sleeper first: they see the mapping closed and leave,
	// so none of them is in the kernel's wait on the shared pages when
	// they are swapped out (one that is would only sleep out its slice).
	f.tracked.Close(wakeAll, closeWakeBudget)
	var errs []error
	if f.IsOwner() {
		if f.link != "" {
			errs = append(errs, removeLink(f.link, f.osid))
		}
		// Segment.Remove knows where the segment lives (WithFile,
		// WithHugePages). Someone may have removed it already.
		if err := f.seg.Remove(); !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	retired, err := f.seg.Retire()
	errs = append(errs, err)
	f.leave(retired)
	if f.dom != nil {
		f.dom.Retake() // closing the segment's descriptor dropped it (macOS, FreeBSD)
	}
	return errors.Join(errs...)
}

// closeWakeBudget bounds how long Close keeps waking the sleepers in the
// segment until all have left: they leave within microseconds once woken,
// so the bound only matters for a goroutine that is not scheduled.
const closeWakeBudget = 5 * time.Millisecond

// errClosed is f's error for a call after Close; kept out of line so
// that the checks for it stay two instructions in the fast paths.
//
//go:noinline
func (f *MemFile) errClosed(op string) error {
	return &fs.PathError{Op: op, Path: f.name(), Err: fs.ErrClosed}
}

// name is how errors refer to f: its link path, or its OS name if raw.
func (f *MemFile) name() string {
	if f.link != "" {
		return f.link
	}
	return f.osid
}

// shmOptions translates memfile options into shm options.
func shmOptions(o options) []shm.Option {
	opts := append([]shm.Option{shm.WithMode(o.perm)}, o.segment...)
	if o.readOnly {
		opts = append(opts, shm.WithReadOnly())
	}
	return opts
}
