package proc

import (
	"golang.org/x/sys/windows"
)

func getpid() int { return int(windows.GetCurrentProcessId()) }

// stillActive is the exit code GetExitCodeProcess reports for a process
// that has not exited (STILL_ACTIVE).
const stillActive = 259

// startHash hashes the creation time from GetProcessTimes.
func startHash(pid uint32) (uint32, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return 0, err
	}
	defer windows.CloseHandle(h)
	return creation(h)
}

func creation(h windows.Handle) (uint32, error) {
	var c, e, k, u windows.Filetime
	if err := windows.GetProcessTimes(h, &c, &e, &k, &u); err != nil {
		return 0, err
	}
	return mix(uint64(c.HighDateTime)<<32 | uint64(c.LowDateTime)), nil
}

func alive0(pid, start uint32) (bool, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err == windows.ERROR_INVALID_PARAMETER {
		return false, nil // no process has this id
	}
	if err != nil {
		return true, err // e.g. access denied: it exists
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return true, err
	}
	if code != stillActive {
		return false, nil // exited; someone still holds a handle to it
	}
	if start == 0 {
		return true, nil
	}
	st, err := creation(h)
	if err != nil {
		return true, err
	}
	return st == start, nil
}
