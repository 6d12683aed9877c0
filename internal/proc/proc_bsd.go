//go:build darwin || (freebsd && (amd64 || arm64))

package proc

import (
	"errors"

	"golang.org/x/sys/unix"
)

// errZombie is startHash's answer for a process that exited and awaits its
// parent's wait: Alive counts it as dead.
var errZombie = errors.New("proc: zombie")

// sZomb is the state of a process that exited and awaits its parent's
// wait (SZOMB in <sys/proc.h>: 5 on macOS and on FreeBSD).
const sZomb = 5

func getpid() int { return unix.Getpid() }

// alive0 asks kill(pid, 0) whether pid exists, then the start-time hash
// whether it is still the process that start names; a zombie is dead.
func alive0(pid, start uint32) (bool, error) {
	kerr := unix.Kill(int(pid), 0)
	if kerr == unix.ESRCH {
		return false, nil
	}
	st, err := startHash(pid)
	switch {
	case err == errZombie:
		return false, nil // exited, awaiting its parent's wait
	case err == unix.EIO || err == unix.ESRCH:
		if kerr == nil {
			return false, nil // it was there for kill and is gone now
		}
		// kill said EPERM: the process exists but belongs to another
		// user, whom the sysctl may hide (FreeBSD's
		// security.bsd.see_other_uids=0). That is no death.
		return true, err
	case errors.Is(err, errors.ErrUnsupported):
		err, start = nil, 0 // no start time here: kill's answer is all there is
	}
	if err != nil {
		return true, err
	}
	if start != 0 && st != start {
		return false, nil
	}
	if kerr != nil && kerr != unix.EPERM {
		return true, kerr
	}
	return true, nil
}
