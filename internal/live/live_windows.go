package live

import (
	"strconv"
	"sync"

	"golang.org/x/sys/windows"
)

// On Windows the domain is a namespace of named kernel objects: Local\
// (this session) or Global\ (all sessions). A process proves it is alive
// by keeping open the event <ns>\shmx-live-<token>; the kernel destroys
// the event with its last handle, so it vanishes when the process dies,
// however it dies. Segments of one namespace share one Domain.

type domainKey struct{ global bool }

func keyOf(_ uintptr, global bool) (domainKey, error) { return domainKey{global}, nil }

func eventName(global bool, token uint32) *uint16 {
	ns := `Local\`
	if global {
		ns = `Global\`
	}
	s := ns + "shmx-live-" + strconv.FormatUint(uint64(token)|1<<32, 16)[1:]
	p, err := windows.UTF16PtrFromString(s)
	if err != nil {
		panic(err) // cannot happen: no NUL in s
	}
	return p
}

// liveHandles keeps the events open for the life of the process, by
// namespace.
var liveHandles struct {
	mu sync.Mutex
	h  [2]windows.Handle
}

// drawToken draws tokens until one has no event yet in Local\, and keeps
// that event open: the Local\ domain is joined from the start.
func drawToken() uint32 {
	for {
		t := random()
		h, err := windows.CreateEvent(nil, 1, 0, eventName(false, t))
		if err == windows.ERROR_ALREADY_EXISTS {
			windows.CloseHandle(h)
			continue // a live process has it
		}
		if err != nil {
			// No named object possible (a sandbox): nobody can vouch for
			// us; waiters will see Unknown and wait.
			return t
		}
		liveHandles.h[0] = h
		return t
	}
}

type sysDomain struct{ global bool }

func (s *sysDomain) join(_ uintptr, global bool) error {
	s.global = global
	if !global {
		return nil
	}
	liveHandles.mu.Lock()
	defer liveHandles.mu.Unlock()
	if liveHandles.h[1] != 0 {
		return nil
	}
	h, err := windows.CreateEvent(nil, 1, 0, eventName(true, self))
	if err == windows.ERROR_ALREADY_EXISTS {
		windows.CloseHandle(h)
		return ErrTokenClash
	}
	if err != nil {
		return &opError{"CreateEvent Global", err}
	}
	liveHandles.h[1] = h
	return nil
}

// leave keeps the event: it names the process, not the segment, and other
// Global\ segments may still be in use.
func (s *sysDomain) leave()  {}
func (s *sysDomain) retake() {}

func (s *sysDomain) judge(token uint32) Verdict { return judgeNS(s.global, token) }

func probe(_ uintptr, token uint32) Verdict {
	if v := judgeNS(false, token); v != Dead {
		return v
	}
	return judgeNS(true, token)
}

func judgeNS(global bool, token uint32) Verdict {
	h, err := windows.OpenEvent(windows.SYNCHRONIZE, false, eventName(global, token))
	if err == nil {
		windows.CloseHandle(h)
		return Alive
	}
	if err == windows.ERROR_FILE_NOT_FOUND {
		return Dead
	}
	return Unknown
}

type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return "live: " + e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

func namespace() uint64 { return 0 }
