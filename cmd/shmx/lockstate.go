package main

import (
	"fmt"
	"strings"

	"github.com/shmx/shmx/internal/proc"
	"github.com/shmx/shmx/memfile"
)

// Descriptions of lock and event states, from memfile's read-only
// snapshots (the State methods) of a copy of the segment's first bytes.
// A snapshot is not atomic across words: a lock in use may show a state
// that never existed as a whole.

// who describes a process: its pid and whether it is alive. start is the
// start-time hash to check against, 0 if unknown.
func who(pid, start uint32) string {
	alive, err := proc.Alive(pid, start)
	switch {
	case err != nil:
		return fmt.Sprintf("pid %d (alive? unknown: %v)", pid, err)
	case alive:
		return fmt.Sprintf("pid %d (alive)", pid)
	}
	return fmt.Sprintf("pid %d (dead)", pid)
}

// mutexState describes a Mutex from its bytes.
func mutexState(b []byte) string {
	m, err := memfile.MutexAt(b)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return describeMutex(m.State())
}

func describeMutex(st memfile.MutexState) string {
	var parts []string
	if st.Locked {
		parts = append(parts, "held by "+who(st.Owner, st.OwnerStart))
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
		parts = append(parts, "INCONSISTENT: a holder died, the next locker gets ErrOwnerDead")
	}
	return strings.Join(parts, ", ")
}

// rwMutexState describes an RWMutex from its bytes, one line each for the
// writer and the readers.
func rwMutexState(b []byte) []string {
	rw, err := memfile.RWMutexAt(b)
	if err != nil {
		return []string{"unreadable: " + err.Error()}
	}
	st := rw.State()
	writer := "writer: " + describeMutex(st.Writer)
	if st.WriterIn {
		writer += ", barring new readers"
		if st.WriterAsleep {
			writer += " (asleep until readers leave)"
		}
	}
	var readers []string
	for _, h := range st.Readers {
		readers = append(readers, fmt.Sprintf("%s x%d", who(h.PID, h.Start), h.Holds))
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
		lines = append(lines, "INCONSISTENT: a holder died, lockers get ErrOwnerDead until MarkConsistent")
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
