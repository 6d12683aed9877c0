package proc

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

func getpid() int { return unix.Getpid() }

// statPath names /proc/<pid>/stat with a doubled slash: qemu-user fakes
// the files of "/proc/self/" and "/proc/<own pid>/" (with starttime 0 in
// older versions), but not this spelling, so that a process sees its own
// start time exactly as its peers do.
func statPath(pid uint32) string {
	return "/proc//" + strconv.FormatUint(uint64(pid), 10) + "/stat"
}

// startHash reads field 22 (starttime) of /proc/<pid>/stat, and field 3
// (state): a zombie ('Z', or 'X' while it is reaped) has died even though
// its pid exists until its parent waits for it, and reports errZombie. The
// second field (comm) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func startHash(pid uint32) (uint32, error) {
	b, err := os.ReadFile(statPath(pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("proc: malformed stat")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0, errors.New("proc: short stat")
	}
	if s := string(f[0]); s == "Z" || s == "X" {
		return 0, errZombie
	}
	v, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return 0, err
	}
	return mix(v), nil
}

var errZombie = errors.New("proc: zombie")

func alive0(pid, start uint32) (bool, error) {
	err := unix.Kill(int(pid), 0)
	if err == unix.ESRCH {
		return false, nil
	}
	st, serr := startHash(pid)
	if serr != nil {
		if serr == errZombie || errors.Is(serr, fs.ErrNotExist) && err == nil {
			return false, nil // exited (maybe between the two checks)
		}
		// Not found after kill said EPERM: another user's process that
		// /proc hides (mounted with hidepid=). That is no death.
		return true, serr
	}
	if start != 0 && st != start {
		return false, nil // the pid now belongs to another process
	}
	if err != nil && err != unix.EPERM {
		return true, err
	}
	return true, nil
}
