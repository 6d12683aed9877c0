// Package proc identifies processes in a way that survives pid reuse, so
// that a lock held by a process that died can be told from one held by a
// live process that happens to have been given the same pid.
//
// An Identity is the pid plus a 32-bit hash of the process's start time.
// Alive answers whether the process with that pid still exists and, when
// the start hash is known (non-zero), whether it is still the same
// process:
//
//   - Linux: /proc/<pid>/stat field 22 (starttime, clock ticks since boot).
//   - Windows: OpenProcess + GetExitCodeProcess (STILL_ACTIVE) + the
//     creation time from GetProcessTimes.
//   - macOS: kill(pid, 0) + the kern.proc.pid sysctl's p_starttime.
//   - FreeBSD on amd64 and arm64: kill(pid, 0) + the kern.proc.pid
//     sysctl's ki_start, read only when the kernel's kinfo_proc has the
//     size and pid expected (else kill alone, as below).
//   - Other Unix: kill(pid, 0) only; the start hash is 0, so a pid reused
//     while a lock is held cannot be detected there, and a dead process
//     counts as alive until its parent reaps it (a zombie).
//
// Linux, macOS and FreeBSD treat a zombie (exited, not yet reaped) as
// dead. A process of another user that the OS hides from this one
// (Linux's hidepid=, FreeBSD's see_other_uids=0) is alive: kill's EPERM
// says it exists.
//
// When in doubt (no permission to look, an unexpected error), Alive
// reports true: a lock is never taken from a process that may be alive.
package proc

import "sync"

// Identity names a process for as long as it lives.
type Identity struct {
	Pid   uint32 // the OS process id; 0 is never a real owner
	Start uint32 // hash of the process start time; 0 when unknown
}

var self = sync.OnceValue(func() Identity {
	pid := uint32(getpid())
	st, err := startHash(pid)
	if err != nil {
		st = 0
	}
	return Identity{Pid: pid, Start: st}
})

// Self returns the identity of the calling process, computed once.
func Self() Identity { return self() }

// Alive reports whether the process pid is still running and, when start
// is non-zero, still the process whose start-time hash is start. Pid 0 and
// processes it has no permission to inspect are reported alive; err is
// non-nil only when the answer is a guess (and then alive is true).
func Alive(pid, start uint32) (alive bool, err error) {
	if pid == 0 {
		return true, nil
	}
	return alive0(pid, start)
}

// mix folds a 64-bit start time into 32 bits, never 0 (0 means unknown).
func mix(v uint64) uint32 {
	v ^= v >> 33
	v *= 0xff51afd7ed558ccd
	v ^= v >> 33
	h := uint32(v) ^ uint32(v>>32)
	if h == 0 {
		h = 1
	}
	return h
}
