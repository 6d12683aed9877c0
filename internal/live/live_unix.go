//go:build linux || darwin || freebsd

package live

import (
	"sync"

	"golang.org/x/sys/unix"
)

// domainKey names a segment file: the device and inode its descriptor
// refers to, so that two mappings of one file (even through different
// paths) share one Domain and one lock.
type domainKey struct{ dev, ino uint64 }

func keyOf(fd uintptr, _ bool) (domainKey, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return domainKey{}, &opError{"fstat", err}
	}
	return domainKey{uint64(st.Dev), uint64(st.Ino)}, nil
}

func drawToken() uint32 { return random() }

// sysDomain holds this process's own descriptor of the segment file,
// which carries the liveness lock on byte <token>. mu keeps a judge
// (a waiter in another goroutine, which may outlive its MemFile's Close)
// from asking a descriptor that leave is closing, or one that the number
// names after it was closed and reused for another file.
type sysDomain struct {
	mu sync.RWMutex
	fd int
}

func (s *sysDomain) join(fd uintptr, _ bool) error {
	dup, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return &opError{"dup", err}
	}
	// Somebody else holding our byte is alive and has our token.
	if v := judgeFD(dup, self); v == Alive {
		unix.Close(dup)
		return ErrTokenClash
	}
	if err := lockByte(dup, self); err != nil {
		unix.Close(dup)
		if err == unix.EAGAIN || err == unix.EACCES {
			return ErrTokenClash
		}
		return &opError{"lock", err}
	}
	s.fd = dup
	return nil
}

func (s *sysDomain) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlockByte(s.fd, self)
	unix.Close(s.fd)
	s.fd = -1
}

func (s *sysDomain) judge(token uint32) Verdict {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return Unknown // left: nothing vouches any more
	}
	return judgeFD(s.fd, token)
}

func probe(fd uintptr, token uint32) Verdict { return judgeFD(int(fd), token) }

// judgeFD asks whether a write lock on byte token of fd's file would
// conflict with a lock of another open file (Linux) or process (BSD).
func judgeFD(fd int, token uint32) Verdict {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: int64(token), Len: 1}
	for {
		err := unix.FcntlFlock(uintptr(fd), getlk, &lk)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return Unknown
		}
		break
	}
	if lk.Type == unix.F_UNLCK {
		return Dead
	}
	return Alive
}

// lockByte takes the shared liveness lock on byte token: a read lock, so
// that read-only descriptors can hold it too.
func lockByte(fd int, token uint32) error {
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: int64(token), Len: 1}
	for {
		err := unix.FcntlFlock(uintptr(fd), setlk, &lk)
		if err != unix.EINTR {
			return err
		}
	}
}

func unlockByte(fd int, token uint32) {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: int64(token), Len: 1}
	unix.FcntlFlock(uintptr(fd), setlk, &lk)
}

// opError is a failed system call while joining.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return "live: " + e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }
