// Package shm creates, opens and removes named shared-memory segments of
// the operating system, and maps them into the process.
//
// A segment is a named piece of memory that several processes map at the
// same time; a write by one is seen by all (at CPU speed: no system call is
// involved after the mapping is made). This package only makes and maps
// segments; memfile builds headers, locks and typed views on top.
//
//	seg, err := shm.Create("orders", 1<<20) // exclusive: fs.ErrExist if taken
//	...
//	other, err := shm.Open("orders")        // in another process
//	copy(other.Bytes(), "hello")
//	other.Close()                           // unmaps; the segment lives on
//	shm.Remove("orders")                    // removes the name
//
// # What a segment is, per OS
//
//   - Linux: the file /dev/shm/<name>, exactly what shm_open("/<name>")
//     uses, so C programs and Python's
//     multiprocessing.shared_memory.SharedMemory(name="<name>") open the
//     same memory. Create reserves the memory up front (fallocate), so a
//     full /dev/shm (Docker's 64 MiB default) is an ENOSPC error from
//     Create, never a SIGBUS later.
//   - FreeBSD: a POSIX shared-memory object "/<name>" (shm_open2(2)),
//     openable by C's shm_open("/<name>").
//   - macOS: shm_open is a variadic libc function, and Go on macOS must call
//     the kernel through libc; on arm64 a variadic argument travels on the
//     stack where Go's libc trampolines do not put it, so this package does
//     not call it. A segment is instead the file /tmp/shmx/<name>, mapped
//     shared: the same semantics between Go programs using shmx, but not
//     the same object as a C program's shm_open("/<name>"). Names are still
//     limited to 31 bytes (PSHMNAMLEN) so that they stay valid if a later
//     version uses shm_open.
//   - Windows: a pagefile-backed file mapping named Local\<name> (or
//     Global\<name> with WithGlobal). Windows destroys such a mapping when
//     its last handle closes: a segment lives only as long as some process
//     has it open, and Remove cannot remove it earlier. See Create.
//   - Elsewhere: every call fails with an error matching
//     errors.ErrUnsupported.
//
// WithFile makes any of them a file at a path of your choosing instead
// (kept on disk, surviving reboots).
//
// # Errors
//
// Every error is an *fs.PathError naming the operation and the segment,
// and matches with errors.Is: fs.ErrExist (Create of a taken name),
// fs.ErrNotExist (Open or Remove of a missing one), fs.ErrPermission,
// fs.ErrInvalid (a bad name or size), fs.ErrClosed (Close twice),
// errors.ErrUnsupported (a feature this OS or machine lacks; the message
// says why), ErrEmpty, or the OS's own errno (syscall.ENOSPC...).
//
// # Futex registration
//
// Every mapping is registered with futex.Register under its OS name and
// unregistered by Close, so that futex.Wait and futex.Wake on words inside
// a segment reach other processes on Windows too (see package futex).
package shm

import (
	"errors"
	"io/fs"
	"math"
	"strings"
	"sync/atomic"
)

// ErrEmpty is returned by Open for a segment whose size is 0: its creator
// (typically another program that creates first and sizes afterwards, as
// shm_open + ftruncate do) has not sized it yet. Retrying a little later
// is the usual answer. Create of this package never exposes an empty
// segment for long: it sizes the segment right after creating it.
var ErrEmpty = errors.New("shm: segment is empty (not sized by its creator yet)")

// MaxNameLen is the longest accepted name, in bytes: NAME_MAX on Linux,
// the limit of a file name in /dev/shm. macOS accepts at most 31 bytes
// (its PSHMNAMLEN).
const MaxNameLen = 255

// A Segment is one mapping of a shared-memory segment into this process.
// Its methods other than Close may be called from several goroutines;
// Close must not run concurrently with users of Bytes, since the memory
// goes away.
type Segment struct {
	name   string // as given, without a leading '/'
	osName string // what the OS calls it: a path, or a Windows object name
	size   int64  // the size asked for at Create (or found at Open)
	mem    []byte // the mapping, len(mem) == size
	closed atomic.Bool
	sys    sysSegment // per-OS state needed to unmap
}

// Create makes a new segment called name of exactly size bytes, all zero,
// and maps it read-write. It fails with fs.ErrExist when a segment of that
// name exists already, so of several processes racing to create one name,
// exactly one succeeds. On any error nothing is left behind.
//
// A name is 1 to MaxNameLen bytes (31 on macOS) without '/', '\\' or NUL;
// a single leading '/' is accepted and ignored, as shm_open does ("/a" and
// "a" are the same segment). size must be positive and fit in the address
// space.
//
// On Windows a segment exists only while some process holds it: when the
// creator closes it before anyone else opened it, it is gone.
func Create(name string, size int64, opts ...Option) (*Segment, error) {
	o := collect(opts)
	name, err := checkName("create", name)
	if err != nil {
		return nil, err
	}
	if size <= 0 || uint64(size) > maxSize {
		return nil, &fs.PathError{Op: "create", Path: name, Err: errSize}
	}
	if o.readOnly {
		return nil, &fs.PathError{Op: "create", Path: name, Err: errReadOnlyCreate}
	}
	s, err := create(name, size, &o)
	if err != nil {
		return nil, err
	}
	if err := s.register("create"); err != nil {
		return nil, err
	}
	return s, nil
}

// Open maps the existing segment called name, read-write unless
// WithReadOnly is given. It fails with fs.ErrNotExist when there is none.
// Size reports the size its creator asked for: the file's size on Unix; on
// Windows the size recorded by this package's Create, or, for a mapping
// made by another program, the page-rounded size Windows reports.
func Open(name string, opts ...Option) (*Segment, error) {
	o := collect(opts)
	name, err := checkName("open", name)
	if err != nil {
		return nil, err
	}
	s, err := open(name, &o)
	if err != nil {
		return nil, err
	}
	if err := s.register("open"); err != nil {
		return nil, err
	}
	return s, nil
}

// Remove removes the name of a segment, so that later Opens fail and a
// later Create makes a new one. Mappings that exist stay valid and shared
// until they are closed; the memory is freed after the last one goes.
//
// Remove always works on the OS's default place (/dev/shm on Linux); for a
// segment made with WithFile or WithHugePages use Segment.Remove or delete
// the file. On Windows the name of a pagefile-backed mapping cannot be
// removed while someone holds it (Windows frees it with its last handle):
// Remove then only reports fs.ErrNotExist when no such segment is open
// anywhere, and nil otherwise.
func Remove(name string) error {
	name, err := checkName("remove", name)
	if err != nil {
		return err
	}
	o := collect(nil)
	return remove(name, &o)
}

// Remove removes the name of the segment s was mapped from, wherever it
// lives (WithFile, WithHugePages or the default place), like the function
// Remove. s stays mapped and usable until Close.
func (s *Segment) Remove() error {
	if err := s.sys.remove(s.osName); err != nil {
		return &fs.PathError{Op: "remove", Path: s.name, Err: err}
	}
	return nil
}

// Bytes returns the whole mapping: len == cap == Size(). Do not use it
// after Close; the memory is unmapped then. When the segment was opened
// read-only, writing to it makes the process fault (a fatal SIGSEGV, or
// a panic under debug.SetPanicOnFault).
func (s *Segment) Bytes() []byte { return s.mem }

// Name returns the segment's name as given to Create or Open, without a
// leading '/'.
func (s *Segment) Name() string { return s.name }

// OSName returns what the OS calls the segment: a file's path on Linux
// (/dev/shm/<name>) and macOS (/tmp/shmx/<name>), the shm_open name on
// FreeBSD (/<name>), the mapping object's name on Windows (Local\<name>),
// or the file's path for WithFile. It is what another program uses to
// reach the same memory, and the name shm registers with futex.
func (s *Segment) OSName() string { return s.osName }

// Fd returns the open descriptor of the segment's file on Unix (valid
// until Close, which closes it; close-on-exec), or the handle of the
// file-mapping object on Windows. memfile takes the locks that tell its
// peers this process is alive on it (internal/live); callers must not
// close it.
func (s *Segment) Fd() uintptr { return s.sys.handle() }

// Size returns the size of the segment in bytes as asked for at Create,
// never rounded up to a page.
func (s *Segment) Size() int64 { return s.size }

// Close unmaps the segment from this process. It does not remove the
// segment (see Remove). Closing twice fails with fs.ErrClosed.
func (s *Segment) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return &fs.PathError{Op: "close", Path: s.name, Err: fs.ErrClosed}
	}
	unregisterFutex(s.mem)
	s.mem = nil
	if err := s.sys.unmap(); err != nil {
		return &fs.PathError{Op: "close", Path: s.name, Err: err}
	}
	return nil
}

// Retire closes the segment like Close, but leaves its address range
// mapped to private, zero-filled memory instead of unmapping it, for the
// life of the process, and reports whether it could (retired): a pointer
// into the segment that some goroutine still holds then reads zeros and
// writes to memory no other process sees, instead of faulting. The pages
// cost nothing until touched; the address range and one kernel mapping
// entry stay taken. On Linux, macOS and FreeBSD the replacement is one
// atomic mmap. On Windows the view is unmapped and private memory
// committed at its address right after, so an access in between faults
// (and if the range was taken meanwhile, retired is false and it stays
// unmapped). Where the replacement fails the segment is unmapped as
// Close does and retired is false.
func (s *Segment) Retire() (retired bool, err error) {
	if !s.closed.CompareAndSwap(false, true) {
		return false, &fs.PathError{Op: "close", Path: s.name, Err: fs.ErrClosed}
	}
	unregisterFutex(s.mem)
	retired, err = s.sys.retire()
	if err != nil {
		return retired, &fs.PathError{Op: "close", Path: s.name, Err: err}
	}
	return retired, nil
}

// register tells futex about a fresh mapping; on failure the mapping is
// undone (and a created segment removed) so that nothing leaks.
func (s *Segment) register(op string) error {
	if err := registerFutex(s.mem, s.osName); err != nil {
		s.closed.Store(true)
		s.sys.unmap()
		if op == "create" {
			s.sys.remove(s.osName)
		}
		s.mem = nil
		return &fs.PathError{Op: op, Path: s.name, Err: err}
	}
	return nil
}

var (
	errSize           = invalid("size must be positive and fit in the address space")
	errReadOnlyCreate = invalid("WithReadOnly applies to Open, not Create")
)

// maxSize bounds a segment so that the size plus a page of rounding (and
// Windows' trailer) still fits in an int on every architecture.
const maxSize = uint64(math.MaxInt) - 1<<20

// checkName validates a segment name and strips one leading '/'.
func checkName(op, name string) (string, error) {
	name = strings.TrimPrefix(name, "/")
	why := ""
	switch {
	case name == "":
		why = "empty name"
	case name == "." || name == "..":
		why = "name is . or .."
	case strings.ContainsAny(name, "/\\\x00"):
		why = "name contains '/', '\\' or NUL"
	case len(name) > maxNameLen:
		why = "name longer than " + itoa(maxNameLen) + " bytes"
	}
	if why != "" {
		return "", &fs.PathError{Op: op, Path: name, Err: invalid(why)}
	}
	return name, nil
}

// invalid returns an error matching fs.ErrInvalid with a reason.
func invalid(why string) error { return wrapped{"shm: " + why, fs.ErrInvalid} }

// unsupported returns an error matching errors.ErrUnsupported with a reason.
func unsupported(why string) error { return wrapped{"shm: " + why, errors.ErrUnsupported} }

// wrapped is an error with its own message that matches a sentinel.
type wrapped struct {
	msg string
	err error
}

func (w wrapped) Error() string { return w.msg }
func (w wrapped) Unwrap() error { return w.err }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}
