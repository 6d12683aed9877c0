package memfile

import (
	"io/fs"
	"time"

	"github.com/shmx/shmx/shm"
)

// An Option changes how Create, Open, CreateRaw or OpenRaw work. Options
// that do not apply to a call are ignored by it.
type Option func(*options)

// options collects the effect of every Option.
type options struct {
	force       bool
	events      int
	perm        fs.FileMode
	readOnly    bool
	openTimeout time.Duration
	segment     []shm.Option
}

// defaultOpenTimeout is how long Open waits for a creator that is still
// writing the header: far longer than initialisation takes (microseconds),
// short enough that a creator that died mid-way is reported promptly.
const defaultOpenTimeout = 2 * time.Second

func collect(opts []Option) options {
	o := options{perm: 0o600, openTimeout: defaultOpenTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithForce makes Create replace an existing link file instead of failing
// with fs.ErrExist: the way to recover a link left behind by a creator that
// crashed. If the segment the old link names was made by a process that
// is dead, Create removes it too (processes that still have it mapped keep
// their mapping); a segment whose creator is alive is left alone. The
// replacement is atomic, but two forced creators racing on one path both
// succeed and the last one's link stays: force only a path whose creator
// you know is gone.
func WithForce() Option { return func(o *options) { o.force = true } }

// WithEvents makes Create reserve n Events in the header (0 <= n <=
// MaxEvents), reachable in every process through MemFile.Event.
func WithEvents(n int) Option { return func(o *options) { o.events = n } }

// WithPerm sets the permission bits of a created segment and link file
// (default 0600: only the creating user), exactly, whatever the umask.
// Windows has no such bits: its objects get the default security of the
// creator, and a link file only honours the owner-write bit (read-only).
func WithPerm(perm fs.FileMode) Option { return func(o *options) { o.perm = perm.Perm() } }

// WithReadOnly makes Open and OpenRaw map the segment read-only: the
// process cannot write the data, and cannot take the lock either (taking a
// lock writes to the segment). So Write always fails with an error matching
// fs.ErrPermission, and so do Read, Lock and RLock when the file has a
// lock. Bytes still gives the data to callers that read it without the
// lock on purpose: data that does not change once published, or that
// carries its own consistency check (a sequence counter, a checksum).
func WithReadOnly() Option { return func(o *options) { o.readOnly = true } }

// WithOpenTimeout sets how long Open waits for a creator that is still
// writing the header before it fails with ErrNotReady (default 2 s).
func WithOpenTimeout(d time.Duration) Option { return func(o *options) { o.openTimeout = d } }

// WithSegmentOptions passes options to package shm for the segment
// itself: huge pages, prefaulting, locking in RAM, a file-backed segment
// (shm.WithFile), the Windows Global\ namespace. Options that say where a
// segment lives (shm.WithFile, shm.WithHugePages) must be given to Open
// too; the link file records only the segment's name.
func WithSegmentOptions(opts ...shm.Option) Option {
	return func(o *options) { o.segment = append(o.segment, opts...) }
}
