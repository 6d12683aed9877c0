package shm

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// maxNameLen is NAME_MAX: a segment is a file in /dev/shm.
const maxNameLen = MaxNameLen

const (
	shmDir  = "/dev/shm"       // where glibc's shm_open puts "/<name>"
	hugeDir = "/dev/hugepages" // the usual hugetlbfs mount
)

// osPath returns the file of a segment: /dev/shm/<name> (what
// shm_open("/<name>") opens), <dir>/<name> for WithFile, or a file on
// hugetlbfs for WithHugePages.
func osPath(name string, o *options) (string, bool, error) {
	if o.huge {
		dir := hugeDir
		if o.fileBased {
			dir = o.dir
		}
		if err := checkHugetlbfs(dir); err != nil {
			return "", true, err
		}
		return dir + "/" + name, true, nil
	}
	if o.fileBased {
		return filePath(name, o), true, nil
	}
	return shmDir + "/" + name, false, nil
}

// checkHugetlbfs tells whether huge pages can back a segment in dir.
func checkHugetlbfs(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || uint32(st.Type) != unix.HUGETLBFS_MAGIC {
		return unsupported("huge pages: no hugetlbfs mounted at " + dir +
			" (mount -t hugetlbfs none " + dir + ")")
	}
	if b, err := os.ReadFile("/proc/sys/vm/nr_hugepages"); err == nil && strings.TrimSpace(string(b)) == "0" {
		return unsupported("huge pages: none reserved (/proc/sys/vm/nr_hugepages is 0)")
	}
	return nil
}

func openPath(path string, file bool, flags int, mode uint32) (int, error) {
	return openFile(path, flags, mode)
}

func unlinkPath(path string, file bool) error { return unix.Unlink(path) }

// reserve sizes a new segment and allocates its memory now, so that a full
// /dev/shm (or hugetlbfs pool) is an ENOSPC error here rather than a
// SIGBUS at the first touch of a page that cannot be had. On hugetlbfs the
// size is rounded up to a whole huge page, as that file system requires.
func reserve(fd int, size int64, o *options) (int, error) {
	if o.huge {
		var st unix.Statfs_t
		if err := unix.Fstatfs(fd, &st); err != nil {
			return 0, err
		}
		hp := int64(st.Bsize) // hugetlbfs reports its huge page size as block size
		size = (size + hp - 1) / hp * hp
	}
	for {
		err := unix.Fallocate(fd, 0, 0, size)
		switch {
		case err == unix.EINTR:
			continue
		case errors.Is(err, unix.EOPNOTSUPP) && !o.huge:
			// A WithFile file system without fallocate: size it
			// sparsely, as well as it can be done there.
			err = unix.Ftruncate(fd, size)
		}
		return int(size), err
	}
}

// mmapFlags lets the kernel prefault a mapping in mmap itself.
func mmapFlags(o *options) int {
	if o.prefault {
		return unix.MAP_POPULATE
	}
	return 0
}

// populates reports that mmapFlags already prefaulted the mapping.
func populates(o *options) bool { return true }

// mapNoReserve asks for no swap reservation for the private pages that
// Retire leaves behind (they are zeros nobody is meant to touch).
const mapNoReserve = unix.MAP_NORESERVE
