package proc

import (
	"errors"

	"golang.org/x/sys/unix"
)

// sZomb is p_stat of a process that exited and awaits its parent's wait
// (SZOMB in <sys/proc.h>).
const sZomb = 5

var errZombie = errors.New("proc: zombie")

func getpid() int { return unix.Getpid() }

// startHash hashes p_starttime from the kern.proc.pid sysctl.
func startHash(pid uint32) (uint32, error) {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", int(pid))
	if err != nil {
		return 0, err
	}
	if k.Proc.P_stat == sZomb {
		return 0, errZombie
	}
	t := k.Proc.P_starttime
	return mix(uint64(t.Sec)*1e6 + uint64(t.Usec)), nil
}

func alive0(pid, start uint32) (bool, error) {
	err := unix.Kill(int(pid), 0)
	if err == unix.ESRCH {
		return false, nil
	}
	st, serr := startHash(pid)
	if serr == unix.EIO || serr == errZombie {
		return false, nil // no such process, or it exited and awaits its parent's wait
	}
	if serr != nil {
		return true, serr
	}
	if start != 0 && st != start {
		return false, nil
	}
	if err != nil && err != unix.EPERM {
		return true, err
	}
	return true, nil
}
