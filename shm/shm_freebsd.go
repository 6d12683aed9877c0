package shm

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const maxNameLen = MaxNameLen

// sysShmOpen2 is shm_open2(2), the system call behind libc's shm_open
// since FreeBSD 13.0. x/sys only has SYS_SHM_OPEN (482), which FreeBSD 13
// keeps as freebsd12_shm_open for old binaries (COMPAT_FREEBSD12); it is
// used only when the kernel lacks shm_open2 (ENOSYS: FreeBSD 12).
const sysShmOpen2 = 571

// osPath returns a segment's POSIX shm path "/<name>" (FreeBSD needs the
// leading '/' for a named object; without it the call fails), or a file
// for WithFile.
func osPath(name string, o *options) (string, bool, error) {
	if o.huge {
		return "", false, unsupported("huge pages: FreeBSD large-page shm objects (SHM_LARGEPAGE) are not supported by shmx")
	}
	if o.fileBased {
		return filePath(name, o), true, nil
	}
	return "/" + name, false, nil
}

// openPath opens a shm object with shm_open2 (flags limited to access,
// O_CREAT, O_EXCL, O_CLOEXEC as that call requires) or an ordinary file.
func openPath(path string, file bool, flags int, mode uint32) (int, error) {
	if file {
		return openFile(path, flags, mode)
	}
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	call := uintptr(sysShmOpen2)
	for {
		fd, _, e := unix.Syscall6(call, uintptr(unsafe.Pointer(p)),
			uintptr(flags|unix.O_CLOEXEC), uintptr(mode), 0, 0, 0)
		switch {
		case e == 0:
			return int(fd), nil
		case e == unix.EINTR:
			continue
		case e == unix.ENOSYS && call == sysShmOpen2:
			call = unix.SYS_SHM_OPEN
			continue
		}
		return -1, e
	}
}

func unlinkPath(path string, file bool) error {
	if file {
		return unix.Unlink(path)
	}
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	if _, _, e := unix.Syscall(unix.SYS_SHM_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0); e != 0 {
		return e
	}
	return nil
}

// reserve sizes a new segment. FreeBSD shm objects are swap-backed and
// get their pages on first touch; there is no /dev/shm-style size cap to
// run into, so ftruncate is enough.
func reserve(fd int, size int64, o *options) (int, error) {
	return int(size), unix.Ftruncate(fd, size)
}

func mmapFlags(o *options) int { return 0 }

// populates reports that mmap does not prefault here: touch does it.
func populates(o *options) bool { return false }

// mapNoReserve asks for no swap reservation for the private pages that
// Retire leaves behind (they are zeros nobody is meant to touch).
const mapNoReserve = 0
