package shm

import (
	"io/fs"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/windows"
)

const maxNameLen = MaxNameLen

// OpenFileMappingW is missing from x/sys/windows; kernel32 has it.
var procOpenFileMappingW = windows.NewLazySystemDLL("kernel32.dll").NewProc("OpenFileMappingW")

// The size trailer.
//
// Windows reports the size of a mapping only as whole pages (VirtualQuery's
// RegionSize), so Create records the size asked for in the last 16 bytes of
// the mapping's last page, beyond the user's bytes:
//
//	section = roundUp(size+16, page)
//	[section-16, section-8): trailerMagic, little-endian
//	[section-8,  section):   size, little-endian
//
// The trailer sits at a place an opener can find from the page-rounded
// size alone, so Open needs nothing but the name. Open accepts it only if
// the magic matches and the size is one that Create would have put in a
// section of exactly this many pages (section-16-page < size <=
// section-16). Anything else is a mapping made by another program (or a
// trailer that a broken process scribbled over), whose size is then the
// page-rounded RegionSize: all of it is the user's. Create stores the
// size before the magic, and Open loads the magic first (both atomic), so
// an Open racing with Create never pairs a fresh magic with a stale size;
// it can, in the microseconds between CreateFileMapping and the store of
// the magic, see no trailer yet and report the page-rounded size.
// memfile's header, written after Create returns, records the size too.
const (
	trailerLen   = 16
	trailerMagic = 0x31455a4953786d68 // "hmxSIZE1" little-endian
)

// sysSegment is what a Windows mapping needs to be undone and removed.
type sysSegment struct {
	addr   uintptr        // base of the view
	length uintptr        // length of the view
	h      windows.Handle // the file-mapping object
	path   string         // the file of a WithFile segment, else ""
}

func (s *sysSegment) unmap() error {
	if s.addr == 0 {
		return nil
	}
	err := windows.UnmapViewOfFile(s.addr)
	if e := windows.CloseHandle(s.h); err == nil {
		err = e
	}
	s.addr, s.h = 0, 0
	return err
}

// retire unmaps the view and at once commits private zero pages at the
// same address (see Segment.Retire). Windows has no atomic replacement of
// a view by private memory (placeholders, MapViewOfFile3, need Windows 10
// 1803 and still unmap first), so an access in the microseconds between
// the two calls faults, and another thread's allocation could take the
// range first: then retire reports false and the range stays unmapped.
func (s *sysSegment) retire() (bool, error) {
	if s.addr == 0 {
		return true, nil
	}
	addr, length := s.addr, s.length
	err := s.unmap()
	if err != nil {
		return false, err
	}
	_, verr := windows.VirtualAlloc(addr, length, windows.MEM_RESERVE|windows.MEM_COMMIT, windows.PAGE_READWRITE)
	return verr == nil, nil
}

func (s *sysSegment) handle() uintptr { return uintptr(s.h) }

// remove deletes a WithFile segment's file. A pagefile-backed mapping
// cannot be removed: it goes with its last handle.
func (s *sysSegment) remove(osName string) error {
	if s.path == "" {
		return nil
	}
	return os.Remove(s.path)
}

// objectName is the kernel object name of a pagefile-backed segment.
func objectName(name string, o *options) string {
	if o.global {
		return `Global\` + name
	}
	return `Local\` + name
}

func create(name string, size int64, o *options) (*Segment, error) {
	s, err := createSys(name, size, o)
	if err != nil {
		return nil, &fs.PathError{Op: "create", Path: name, Err: err}
	}
	return s, nil
}

func open(name string, o *options) (*Segment, error) {
	s, err := openSys(name, o)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return s, nil
}

func createSys(name string, size int64, o *options) (*Segment, error) {
	if o.huge {
		return nil, errHuge
	}
	if o.fileBased {
		return createFile(name, size, o)
	}
	osName := objectName(name, o)
	page := int64(os.Getpagesize())
	section := (size + trailerLen + page - 1) / page * page
	np, err := windows.UTF16PtrFromString(osName)
	if err != nil {
		return nil, invalid("name is not valid UTF-16")
	}
	// SEC_COMMIT (the default) charges the whole section to the commit
	// limit now: like fallocate on Linux, running out is an error here.
	h, err := windows.CreateFileMapping(windows.InvalidHandle, nil, windows.PAGE_READWRITE,
		uint32(uint64(section)>>32), uint32(section), np)
	if err != nil {
		if h != 0 { // ERROR_ALREADY_EXISTS comes with a handle to the old one
			windows.CloseHandle(h)
		}
		if err == windows.ERROR_INVALID_HANDLE {
			// The name belongs to a kernel object of another kind
			// (an event, a mutex...): taken all the same.
			return nil, wrapped{"shm: name is taken by a kernel object that is not a file mapping", fs.ErrExist}
		}
		return nil, err
	}
	s, err := mapView(h, name, osName, size, int(section), o)
	if err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	writeTrailer(s.sys.addr, section, size)
	return s, nil
}

func openSys(name string, o *options) (*Segment, error) {
	if o.huge {
		return nil, errHuge
	}
	if o.fileBased {
		return openFile(name, o)
	}
	osName := objectName(name, o)
	np, err := windows.UTF16PtrFromString(osName)
	if err != nil {
		return nil, invalid("name is not valid UTF-16")
	}
	r, _, e := procOpenFileMappingW.Call(uintptr(viewAccess(o)), 0, uintptr(unsafe.Pointer(np)))
	if r == 0 {
		return nil, e
	}
	h := windows.Handle(r)
	s, err := mapView(h, name, osName, 0, 0, o)
	if err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	return s, nil
}

// remove checks that a pagefile-backed segment exists: Windows frees it
// with its last handle, and no call removes its name earlier.
func remove(name string, o *options) error {
	fail := func(err error) error { return &fs.PathError{Op: "remove", Path: name, Err: err} }
	np, err := windows.UTF16PtrFromString(objectName(name, o))
	if err != nil {
		return fail(invalid("name is not valid UTF-16"))
	}
	r, _, e := procOpenFileMappingW.Call(windows.FILE_MAP_READ, 0, uintptr(unsafe.Pointer(np)))
	if r == 0 {
		return fail(e)
	}
	windows.CloseHandle(windows.Handle(r))
	return nil
}

var errHuge = unsupported("huge pages: large-page sections need SeLockMemoryPrivilege and are not supported by shmx on Windows")

// viewAccess is the FILE_MAP_* access for o.
func viewAccess(o *options) uint32 {
	if o.readOnly {
		return windows.FILE_MAP_READ
	}
	return windows.FILE_MAP_READ | windows.FILE_MAP_WRITE
}

// mapView maps the whole of section object h. length is the view length
// for Create (0 maps it all, as Open does); size is the user's size, or 0
// to find it from the trailer or the region size.
func mapView(h windows.Handle, name, osName string, size int64, length int, o *options) (*Segment, error) {
	addr, err := windows.MapViewOfFile(h, viewAccess(o), 0, 0, uintptr(length))
	if err != nil {
		return nil, err
	}
	if length == 0 {
		var mbi windows.MemoryBasicInformation
		if err := windows.VirtualQuery(addr, &mbi, unsafe.Sizeof(mbi)); err != nil {
			windows.UnmapViewOfFile(addr)
			return nil, err
		}
		length = int(mbi.RegionSize)
		size = readTrailer(addr, int64(length))
	}
	m := view(addr, length)
	if o.prefault {
		touch(m, !o.readOnly)
	}
	if o.lock {
		if err := windows.VirtualLock(addr, uintptr(size)); err != nil {
			windows.UnmapViewOfFile(addr)
			return nil, err
		}
	}
	n := int(size)
	return &Segment{name: name, osName: osName, size: size, mem: m[:n:n],
		sys: sysSegment{addr: addr, length: uintptr(length), h: h}}, nil
}

// view makes a slice of a mapped view, memory the Go heap does not manage.
// Reading addr through a pointer-typed copy keeps vet's unsafeptr check
// honest about where the pointer came from.
func view(addr uintptr, n int) []byte {
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	return unsafe.Slice((*byte)(p), n)
}

// writeTrailer records size at the end of a fresh section (see trailerLen).
func writeTrailer(addr uintptr, section, size int64) {
	t := view(addr, int(section))[section-trailerLen:]
	// Both words are 8-byte aligned: section is a whole number of pages.
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&t[8])), uint64(size))
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&t[0])), trailerMagic)
}

// readTrailer returns the size recorded in a section of region bytes, or
// region itself when there is no valid trailer (a foreign segment).
func readTrailer(addr uintptr, region int64) int64 {
	page := int64(os.Getpagesize())
	if region < trailerLen || region%8 != 0 {
		return region
	}
	t := view(addr, int(region))[region-trailerLen:]
	if atomic.LoadUint64((*uint64)(unsafe.Pointer(&t[0]))) != trailerMagic {
		return region
	}
	size := int64(atomic.LoadUint64((*uint64)(unsafe.Pointer(&t[8]))))
	if size <= 0 || size > region-trailerLen || size <= region-trailerLen-page {
		return region
	}
	return size
}

// createFile makes a WithFile segment: the file <dir>\<name>, exactly size
// bytes long. No trailer is needed, the file's length is exact.
func createFile(name string, size int64, o *options) (*Segment, error) {
	path := o.dir + `\` + name
	f, err := openWinFile(path, windows.GENERIC_READ|windows.GENERIC_WRITE, windows.CREATE_NEW)
	if err != nil {
		return nil, err
	}
	defer windows.CloseHandle(f)
	// Creating a mapping larger than the file extends the file.
	h, err := windows.CreateFileMapping(f, nil, windows.PAGE_READWRITE,
		uint32(uint64(size)>>32), uint32(size), nil)
	if err == nil {
		var s *Segment
		if s, err = mapView(h, name, path, size, int(size), o); err == nil {
			s.sys.path = path
			return s, nil
		}
		windows.CloseHandle(h)
	}
	windows.CloseHandle(f)
	os.Remove(path)
	return nil, err
}

// openFile maps an existing WithFile segment at the file's size.
func openFile(name string, o *options) (*Segment, error) {
	path := o.dir + `\` + name
	access := uint32(windows.GENERIC_READ | windows.GENERIC_WRITE)
	prot := uint32(windows.PAGE_READWRITE)
	if o.readOnly {
		access, prot = windows.GENERIC_READ, windows.PAGE_READONLY
	}
	f, err := openWinFile(path, access, windows.OPEN_EXISTING)
	if err != nil {
		return nil, err
	}
	defer windows.CloseHandle(f)
	var fi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(f, &fi); err != nil {
		return nil, err
	}
	size := int64(fi.FileSizeHigh)<<32 | int64(fi.FileSizeLow)
	switch {
	case size == 0:
		return nil, ErrEmpty
	case size < 0 || uint64(size) > maxSize:
		return nil, invalid("segment larger than the address space")
	}
	h, err := windows.CreateFileMapping(f, nil, prot, 0, 0, nil)
	if err != nil {
		return nil, err
	}
	s, err := mapView(h, name, path, size, int(size), o)
	if err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	s.sys.path = path
	return s, nil
}

// openWinFile opens a segment file, shared with every other opener and
// with deletion (so that Remove works while others have it open).
func openWinFile(path string, access, disposition uint32) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, invalid("path is not valid UTF-16")
	}
	share := uint32(windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE | windows.FILE_SHARE_DELETE)
	return windows.CreateFile(p, access, share, nil, disposition, windows.FILE_ATTRIBUTE_NORMAL, 0)
}
