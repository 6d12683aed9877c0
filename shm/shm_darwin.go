package shm

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// maxNameLen is PSHMNAMLEN, the longest name macOS's shm_open accepts; the
// file fallback keeps the limit so that names stay portable.
const maxNameLen = 31

// darwinDir holds segments on macOS. It is in /tmp (shared by all users,
// unlike the per-user $TMPDIR) so that processes of different users can
// share a segment when its mode allows. macOS empties /tmp at boot, which
// matches the lifetime of POSIX shared memory.
const darwinDir = "/tmp/shmx"

// osPath returns the file of a segment: /tmp/shmx/<name>, or <dir>/<name>
// for WithFile. See the package doc for why macOS does not use shm_open.
func osPath(name string, o *options) (string, bool, error) {
	if o.huge {
		return "", true, unsupported("huge pages: macOS offers none for shared mappings")
	}
	if o.fileBased {
		return filePath(name, o), true, nil
	}
	if err := ensureDir(darwinDir); err != nil {
		return "", true, err
	}
	return darwinDir + "/" + name, true, nil
}

// ensureDir makes the shared segment directory, sticky and writable by
// all like /tmp itself, and refuses a symlink planted in its place.
func ensureDir(dir string) error {
	if err := os.Mkdir(dir, 0o1777); err == nil {
		return os.Chmod(dir, 0o1777) // undo the umask
	} else if !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return invalid(dir + " is not a directory")
	}
	return nil
}

func openPath(path string, file bool, flags int, mode uint32) (int, error) {
	return openFile(path, flags, mode)
}

func unlinkPath(path string, file bool) error { return unix.Unlink(path) }

// reserve sizes a new segment file, asking the file system to allocate
// its blocks first (F_PREALLOCATE) so that a full disk is an error here
// rather than a SIGBUS later; file systems that cannot preallocate get a
// sparse file.
func reserve(fd int, size int64, o *options) (int, error) {
	fst := unix.Fstore_t{Flags: unix.F_ALLOCATEALL, Posmode: unix.F_PEOFPOSMODE, Length: size}
	if err := unix.FcntlFstore(uintptr(fd), unix.F_PREALLOCATE, &fst); errors.Is(err, unix.ENOSPC) {
		return 0, err
	}
	return int(size), unix.Ftruncate(fd, size)
}

func mmapFlags(o *options) int { return 0 }

// populates reports that mmap cannot prefault on macOS: touch does it.
func populates(o *options) bool { return false }

// mapNoReserve asks for no swap reservation for the private pages that
// Retire leaves behind (they are zeros nobody is meant to touch).
const mapNoReserve = 0
