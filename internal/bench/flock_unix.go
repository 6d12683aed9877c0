//go:build linux || darwin || freebsd

package bench

import (
	"errors"

	"golang.org/x/sys/unix"
)

// flockAvailable: BSD flock(2) exists here.
const flockAvailable = true

var errNoFlock = errors.New("flock is not available on this OS")

func flockOpen(path string) (int, error) {
	return unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
}

func flockLock(fd int, shared bool) error {
	how := unix.LOCK_EX
	if shared {
		how = unix.LOCK_SH
	}
	for {
		err := unix.Flock(fd, how)
		if err != unix.EINTR {
			return err
		}
	}
}

func flockUnlock(fd int) error { return unix.Flock(fd, unix.LOCK_UN) }

func flockClose(fd int) error { return unix.Close(fd) }
