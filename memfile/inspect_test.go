package memfile

import (
	"sync/atomic"
	"testing"

	"github.com/shmx/shmx/shm"
)

func TestMutexState(t *testing.T) {
	var m Mutex
	if st := m.State(); st != (MutexState{}) {
		t.Fatalf("free Mutex: %+v", st)
	}
	m.Lock()
	st := m.State()
	if !st.Locked || st.Owner != selfToken {
		t.Fatalf("held Mutex: %+v, want held by token %#x", st, selfToken)
	}
	// Two registered waiters and the dirty bit, written as the lock
	// words would hold them.
	atomic.AddUint64(&m.state, 2*mutexWaiter|mutexDirty|mutexStarving)
	st = m.State()
	if st.Waiters != 2 || !st.Inconsistent || !st.Starving || st.Woken {
		t.Fatalf("waiters/flags: %+v", st)
	}
}

func TestRWMutexState(t *testing.T) {
	var rw RWMutex
	rw.RLock()
	rw.RLock()
	st := rw.State()
	if len(st.Readers) != 1 || st.Readers[0] != (ReaderHold{Token: selfToken, Holds: 2}) {
		t.Fatalf("two read holds: %+v", st)
	}
	if st.WriterIn || st.Writer.Locked || st.Inconsistent {
		t.Fatalf("no writer expected: %+v", st)
	}
	rw.RUnlock()
	rw.RUnlock()
	rw.Lock()
	st = rw.State()
	if !st.WriterIn || !st.Writer.Locked || st.Writer.Owner != selfToken || len(st.Readers) != 0 {
		t.Fatalf("write-locked: %+v", st)
	}
	rw.Unlock()
}

func TestEventState(t *testing.T) {
	var e Event
	if st := e.State(); st != (EventState{Kind: AutoReset}) {
		t.Fatalf("zero Event: %+v", st)
	}
	e.Init(ManualReset)
	e.Set()
	atomic.StoreUint32(&e.waiters.word, 3|1<<waitEpochShift)
	if st := e.State(); st != (EventState{Kind: ManualReset, Set: true, Waiters: 3}) {
		t.Fatalf("manual, set, 3 waiters: %+v", st)
	}
}

// TestStateReadOnly: State only loads, so it works on a read-only mapping.
func TestStateReadOnly(t *testing.T) {
	b := readOnlyZeroes(t, 4096)
	m, err := MutexAt(b)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := RWMutexAt(b[64:])
	if err != nil {
		t.Fatal(err)
	}
	e, err := EventAt(b[512:])
	if err != nil {
		t.Fatal(err)
	}
	if m.State().Locked || rw.State().WriterIn || e.State().Set {
		t.Fatal("zero bytes read as held or set")
	}
}

// readOnlyZeroes maps a new segment of size zero bytes read-only.
func readOnlyZeroes(t *testing.T, size int64) []byte {
	t.Helper()
	osid := newOSID()
	seg, err := shm.Create(osid, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Remove(); seg.Close() })
	ro, err := shm.Open(osid, shm.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	return ro.Bytes()
}
