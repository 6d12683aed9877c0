package memfile

import sw "github.com/shmx/shmx/internal/word"

// The State methods below take read-only snapshots of the objects of this
// package for tools that look at a segment without taking part in it
// (the shmx command's info, a monitoring agent). They only load, so they
// work on a read-only mapping, and they decode the layouts here, in the
// package that defines them, so that no tool has to copy the bit
// assignments. A snapshot is taken one word at a time with atomic loads:
// of an object in use it may show a state that never existed as a whole,
// and it is stale as soon as it is returned. Use it to report, never to
// decide whether to lock.

// MutexState is a snapshot of a Mutex.
type MutexState struct {
	Locked bool
	// Owner is the token (internal/live) of the holder's process when
	// Locked; a MemFile's Participants maps it to a pid and says whether
	// it is alive.
	Owner uint32
	// Waiters counts the goroutines, of every process, registered as
	// waiting for the lock.
	Waiters uint32
	// Woken says a waiter is awake (spinning or just woken), Starving
	// that the lock hands off in arrival order (a waiter waited over 1 ms).
	Woken, Starving bool
	// Inconsistent says a holder died and nobody has called
	// MarkConsistent since: lockers get ErrOwnerDead, nothing held, and
	// only LockRecover takes the lock.
	Inconsistent bool
}

// State returns a snapshot of m, for inspection tools.
func (m *Mutex) State() MutexState {
	s := m.load()
	st := MutexState{
		Locked:       s&mutexLocked != 0,
		Waiters:      waiters(s),
		Woken:        s&mutexWoken != 0,
		Starving:     s&mutexStarving != 0,
		Inconsistent: s&mutexDirty != 0,
	}
	if st.Locked {
		st.Owner = uint32(s >> ownerShift)
	}
	return st
}

// ReaderHold is one reader slot of an RWMutex: the token (internal/live)
// of the process holding it, and how many read locks its goroutines hold
// through it.
type ReaderHold struct {
	Token, Holds uint32
}

// RWMutexState is a snapshot of an RWMutex.
type RWMutexState struct {
	// Writer is the state of the writers' Mutex: its holder is the writer
	// that holds rw or waits for its readers to leave, its waiters the
	// writers queued behind it.
	Writer MutexState
	// WriterIn says a writer holds rw or waits for its readers to leave:
	// new readers wait. WriterAsleep says that writer sleeps until they
	// do.
	WriterIn, WriterAsleep bool
	// Readers lists the processes holding read locks, in slot order.
	Readers []ReaderHold
	// ReadersWaiting counts the readers asleep until the writer leaves
	// (or a reader slot frees).
	ReadersWaiting uint32
	// Inconsistent says a holder died and no writer has called
	// MarkConsistent since.
	Inconsistent bool
}

// State returns a snapshot of rw, for inspection tools.
func (rw *RWMutex) State() RWMutexState {
	r := sw.LoadUint32(&rw.rstate)
	st := RWMutexState{
		Writer:         rw.w.State(),
		WriterIn:       r&rwWriter != 0,
		WriterAsleep:   r&rwWriterSleeps != 0,
		ReadersWaiting: rw.rwait.n(),
		Inconsistent:   r&rwDirty != 0,
	}
	for i := range rw.slots {
		s := sw.LoadUint64(&rw.slots[i].v)
		if s == 0 {
			continue
		}
		st.Readers = append(st.Readers, ReaderHold{Token: uint32(s), Holds: uint32(s >> 32)})
	}
	return st
}

// EventState is a snapshot of an Event.
type EventState struct {
	Kind    EventKind
	Set     bool
	Waiters uint32 // goroutines, of every process, asleep in Wait
}

// State returns a snapshot of e, for inspection tools.
func (e *Event) State() EventState {
	s := sw.LoadUint32(&e.state)
	st := EventState{Kind: AutoReset, Set: s&eventSet != 0, Waiters: e.waiters.n()}
	if s&eventManual != 0 {
		st.Kind = ManualReset
	}
	return st
}
