//go:build darwin || freebsd

package live

import "golang.org/x/sys/unix"

// Classic POSIX record locks: owned by the process, and all of them on a
// file are dropped when the process closes any descriptor of it, so a
// Domain takes its lock again after such a close (retake).
const (
	getlk = unix.F_GETLK
	setlk = unix.F_SETLK
)

func (s *sysDomain) retake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd >= 0 {
		lockByte(s.fd, self)
	}
}

func namespace() uint64 { return 0 }
