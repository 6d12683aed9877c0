//go:build linux || darwin || freebsd

package shm

import (
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysSegment is what a Unix mapping needs to be undone and removed.
type sysSegment struct {
	mapped []byte // the slice unix.Mmap returned (maybe longer than size)
	file   bool   // an ordinary file (WithFile, hugetlbfs, macOS), not a POSIX shm object
	fd     int    // the open segment file, kept for Fd (liveness locks live on it)
}

func (s *sysSegment) unmap() error {
	if s.mapped == nil {
		return nil
	}
	m := s.mapped
	s.mapped = nil
	err := unix.Munmap(m)
	if e := unix.Close(s.fd); err == nil {
		err = e
	}
	s.fd = -1
	return err
}

// retire replaces the mapping by private zero pages at the same address
// in one system call (mmap MAP_FIXED over it: the kernel swaps the pages
// atomically, so a concurrent access sees the segment or zeros, never a
// hole), then closes the descriptor. If that mmap fails it unmaps and
// reports false.
func (s *sysSegment) retire() (bool, error) {
	if s.mapped == nil {
		return true, nil
	}
	m := s.mapped
	_, err := unix.MmapPtr(-1, 0, unsafe.Pointer(unsafe.SliceData(m)), uintptr(len(m)),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_FIXED|mapNoReserve)
	if err != nil {
		return false, s.unmap()
	}
	// The replacement is never unmapped: x/sys/unix keeps m in its table
	// of mappings, a few words for the life of the process.
	s.mapped = nil
	err = unix.Close(s.fd)
	s.fd = -1
	return true, err
}

func (s *sysSegment) handle() uintptr { return uintptr(s.fd) }

func (s *sysSegment) remove(osName string) error { return unlinkPath(osName, s.file) }

// create makes, sizes and maps a new segment. The name is created with
// O_EXCL (exactly one of several racing creators wins) and removed again
// if anything after that fails.
func create(name string, size int64, o *options) (*Segment, error) {
	fail := func(err error) (*Segment, error) {
		return nil, &fs.PathError{Op: "create", Path: name, Err: err}
	}
	path, file, err := osPath(name, o)
	if err != nil {
		return fail(err)
	}
	fd, err := openPath(path, file, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, uint32(o.mode))
	if err != nil {
		return fail(err)
	}
	maplen, err := sizeNew(fd, size, o)
	if err == nil {
		var s *Segment
		if s, err = mapFD(fd, name, path, file, size, maplen, o); err == nil {
			return s, nil // s owns fd now
		}
	}
	unix.Close(fd)
	unlinkPath(path, file)
	return fail(err)
}

// sizeNew sets the permissions and size of a freshly created segment and
// reserves its memory; it returns the length to map.
func sizeNew(fd int, size int64, o *options) (int, error) {
	// Set the mode exactly: the umask applied by open must not weaken or
	// strengthen what the caller asked for.
	if err := unix.Fchmod(fd, uint32(o.mode)); err != nil {
		return 0, err
	}
	return reserve(fd, size, o)
}

// open maps an existing segment, at the size its file has.
func open(name string, o *options) (*Segment, error) {
	fail := func(err error) (*Segment, error) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	path, file, err := osPath(name, o)
	if err != nil {
		return fail(err)
	}
	flags := unix.O_RDWR
	if o.readOnly {
		flags = unix.O_RDONLY
	}
	fd, err := openPath(path, file, flags, 0)
	if err != nil {
		return fail(err)
	}
	s, err := openFD(fd, name, path, file, o)
	if err != nil {
		unix.Close(fd)
		return fail(err)
	}
	return s, nil // s owns fd now
}

// openFD checks and maps the open segment file fd.
func openFD(fd int, name, path string, file bool, o *options) (*Segment, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, invalid("not a regular file or shared-memory object")
	case st.Size == 0:
		return nil, ErrEmpty
	case st.Size < 0 || uint64(st.Size) > maxSize:
		return nil, invalid("segment larger than the address space")
	}
	return mapFD(fd, name, path, file, st.Size, int(st.Size), o)
}

// remove unlinks the segment name in the place o points to.
func remove(name string, o *options) error {
	path, file, err := osPath(name, o)
	if err == nil {
		err = unlinkPath(path, file)
	}
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}

// mapFD maps maplen bytes of fd shared, prefaults and locks them as asked,
// and wraps the first size bytes in a Segment.
func mapFD(fd int, name, path string, file bool, size int64, maplen int, o *options) (*Segment, error) {
	prot := unix.PROT_READ | unix.PROT_WRITE
	if o.readOnly {
		prot = unix.PROT_READ
	}
	m, err := unix.Mmap(fd, 0, maplen, prot, unix.MAP_SHARED|mmapFlags(o))
	if err != nil {
		if o.huge && err == unix.EINVAL {
			// The file is sized in whole huge pages, so the kernel's
			// alignment rules are met; what refuses is a layer between,
			// such as qemu-user, which maps guest memory at small-page
			// alignment.
			return nil, errHugeMap
		}
		return nil, err
	}
	if o.prefault && !populates(o) {
		touch(m, !o.readOnly)
	}
	if o.lock {
		if err := unix.Mlock(m); err != nil {
			unix.Munmap(m)
			return nil, err
		}
	}
	n := int(size)
	return &Segment{name: name, osName: path, size: size, mem: m[:n:n],
		sys: sysSegment{mapped: m, file: file, fd: fd}}, nil
}

var errHugeMap = unsupported("huge pages: mapping the hugetlbfs file failed with EINVAL (an emulator such as qemu-user cannot map huge pages)")

// fileOpenFlags are added to every open of an ordinary file: no
// inheritance by exec'd children, no following a symlink planted in a
// shared directory, and no blocking on a FIFO planted there.
const fileOpenFlags = unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK

// openFile opens an ordinary file backing a segment.
func openFile(path string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Open(path, flags|fileOpenFlags, mode)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// filePath is the segment file for WithFile.
func filePath(name string, o *options) string {
	return o.dir + string(os.PathSeparator) + name
}
