package main

import (
	"fmt"
	"strings"

	"github.com/shmx/shmx/memfile"
)

// Descriptions of lock and event states, from memfile's read-only
// snapshots (the State methods) of a copy of the segment's first bytes.
// A snapshot is not atomic across words: a lock in use may show a state
// that never existed as a whole. Lock words name processes by token; the
// segment's participant table gives their pids and the kernel says
// whether they are alive (segment.who).

// lockTokens lists the processes the lock of s names: the holder of a
// Mutex, the writer and the readers of an RWMutex.
func lockTokens(s *segment) []uint32 {
	h := s.hdr
	var ts []uint32
	switch h.Lock {
	case memfile.LockMutex:
		if m, err := memfile.MutexAt(s.prefix[h.LockOffset:]); err == nil {
			if st := m.State(); st.Locked {
				ts = append(ts, st.Owner)
			}
		}
	case memfile.LockRWMutex:
		if rw, err := memfile.RWMutexAt(s.prefix[h.LockOffset:]); err == nil {
			st := rw.State()
			if st.Writer.Locked {
				ts = append(ts, st.Writer.Owner)
			}
			for _, r := range st.Readers {
				ts = append(ts, r.Token)
			}
		}
	}
	return ts
}

// mutexState describes the Mutex of s.
func mutexState(s *segment) string {
	m, err := memfile.MutexAt(s.prefix[s.hdr.LockOffset:])
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return describeMutex(s, m.State())
}

func describeMutex(s *segment, st memfile.MutexState) string {
	var parts []string
	if st.Locked {
		parts = append(parts, "held by "+s.who(st.Owner))
	} else {
		parts = append(parts, "not held")
	}
	if st.Waiters > 0 {
		parts = append(parts, fmt.Sprintf("%d waiter(s)", st.Waiters))
	} else {
		parts = append(parts, "no waiters")
	}
	if st.Starving {
		parts = append(parts, "starving (fair hand-off)")
	}
	if st.Woken {
		parts = append(parts, "a waiter is awake")
	}
	if st.Inconsistent {
		parts = append(parts, "INCONSISTENT: a holder died, lockers get ErrOwnerDead until LockRecover + MarkConsistent")
	}
	return strings.Join(parts, ", ")
}

// rwMutexState describes the RWMutex of s, one line each for the writer
// and the readers.
func rwMutexState(s *segment) []string {
	rw, err := memfile.RWMutexAt(s.prefix[s.hdr.LockOffset:])
	if err != nil {
		return []string{"unreadable: " + err.Error()}
	}
	st := rw.State()
	writer := "writer: " + describeMutex(s, st.Writer)
	if st.WriterIn {
		writer += ", barring new readers"
		if st.WriterAsleep {
			writer += " (asleep until readers leave)"
		}
	}
	var readers []string
	for _, h := range st.Readers {
		readers = append(readers, fmt.Sprintf("%s x%d", s.who(h.Token), h.Holds))
	}
	r := "readers: none"
	if len(readers) > 0 {
		r = fmt.Sprintf("readers: %d process(es): %s", len(readers), strings.Join(readers, "; "))
	}
	if st.ReadersWaiting > 0 {
		r += fmt.Sprintf("; %d reader(s) waiting", st.ReadersWaiting)
	}
	lines := []string{writer, r}
	if st.Inconsistent {
		lines = append(lines, "INCONSISTENT: a holder died, lockers get ErrOwnerDead until LockRecover + MarkConsistent")
	}
	return lines
}

// eventState describes an Event from its bytes.
func eventState(b []byte) string {
	e, err := memfile.EventAt(b)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	st := e.State()
	kind := "auto-reset"
	if st.Kind == memfile.ManualReset {
		kind = "manual-reset"
	}
	set := "not set"
	if st.Set {
		set = "set"
	}
	return fmt.Sprintf("%s, %s, %d waiter(s)", kind, set, st.Waiters)
}
