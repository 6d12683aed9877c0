//go:build unix && !linux && !darwin && !(freebsd && (amd64 || arm64))

package proc

import (
	"errors"

	"golang.org/x/sys/unix"
)

func getpid() int { return unix.Getpid() }

// startHash is not implemented here (FreeBSD's kinfo_proc is not in
// x/sys): 0 means unknown, and Alive checks only that the pid exists.
func startHash(pid uint32) (uint32, error) {
	return 0, errors.ErrUnsupported
}

func alive0(pid, start uint32) (bool, error) {
	err := unix.Kill(int(pid), 0)
	switch err {
	case nil, unix.EPERM:
		return true, nil
	case unix.ESRCH:
		return false, nil
	}
	return true, err
}
