package shm

import "io/fs"

// An Option changes how Create or Open work. Options that do not apply to
// a call are ignored by it, except WithReadOnly given to Create (an error).
type Option func(*options)

// options collects the effect of every Option.
type options struct {
	readOnly  bool
	mode      fs.FileMode
	prefault  bool
	lock      bool
	huge      bool
	global    bool
	dir       string // WithFile: the directory holding the segment file
	fileBased bool
}

func collect(opts []Option) options {
	o := options{mode: 0o600}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithReadOnly makes Open map the segment read-only (PROT_READ, or
// FILE_MAP_READ on Windows): a write through Bytes faults. A process that
// may only read a segment (its permissions deny writing) can still open it
// this way.
func WithReadOnly() Option { return func(o *options) { o.readOnly = true } }

// WithMode sets the permission bits of a segment made by Create (default
// 0600: only the creating user). They are set exactly, regardless of the
// umask. Windows ignores them: its objects get the creator's default
// security.
func WithMode(mode fs.FileMode) Option { return func(o *options) { o.mode = mode.Perm() } }

// WithPrefault makes every page of the mapping present before Create or
// Open returns (MAP_POPULATE on Linux, touching each page elsewhere), so
// that the first accesses do not stop on page faults. Touching never
// changes the data: a writable mapping is touched with an atomic add of 0.
func WithPrefault() Option { return func(o *options) { o.prefault = true } }

// WithLockInRAM locks the mapping in RAM (mlock, VirtualLock on Windows)
// so that it is never paged out. It implies WithPrefault. It fails when
// the OS does not allow it, typically with EPERM or ENOMEM when the
// process's RLIMIT_MEMLOCK (ulimit -l) is too small, or
// ERROR_WORKING_SET_QUOTA on Windows; the error then matches
// fs.ErrPermission or the OS's errno, and nothing is left behind.
func WithLockInRAM() Option { return func(o *options) { o.lock = true; o.prefault = true } }

// WithHugePages backs the segment with huge pages, which relieve the TLB
// for large segments. On Linux the segment is then the file
// /dev/hugepages/<name> on hugetlbfs (not /dev/shm, so not what
// shm_open("/<name>") sees), its size is rounded up to a multiple of the
// huge page size (2 MiB typically) and Size reports the rounded size in
// other processes. When the OS or machine offers none (no hugetlbfs
// mounted at /dev/hugepages, no huge pages reserved in
// /proc/sys/vm/nr_hugepages, or another OS) Create and Open fail with an
// error matching errors.ErrUnsupported that says why.
func WithHugePages() Option { return func(o *options) { o.huge = true } }

// WithFile makes the segment the file <dir>/<name> on an ordinary file
// system instead of the OS's shared-memory place: it stays on disk, so
// it survives reboots, and the OS writes dirty pages back to it from time
// to time (which costs disk I/O; it is the price of persistence). Every
// process must give the same dir. A file-backed segment is not subject to
// Windows' "gone with the last handle" rule. Remove (the function) does
// not know dir: use Segment.Remove or delete the file.
func WithFile(dir string) Option {
	return func(o *options) { o.dir = dir; o.fileBased = dir != "" }
}

// WithGlobal puts a Windows segment in the Global\ namespace, visible
// from every user session (services and desktop programs), instead of
// Local\ (the caller's session). Creating a Global\ object needs the
// SeCreateGlobalPrivilege privilege (services and administrators have it),
// else Create fails with fs.ErrPermission. Other OSes ignore it: their
// names are global already.
func WithGlobal() Option { return func(o *options) { o.global = true } }
