package main

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/shmx/shmx/internal/proc"
)

// Decoding of lock and event words, read-only, from a snapshot of the
// segment's bytes. memfile exports no state inspector, so this follows the
// layouts documented on memfile.Mutex, memfile.RWMutex and memfile.Event
// (and their state-bit constants in mutex.go and rwmutex.go). Every word
// is little-endian: the layouts say native-endian, and every CPU shmx
// supports is little-endian. The snapshot is not atomic across words: a
// lock in use may show a state that never existed as a whole.

// Mutex layout: state word (flags and waiter count) at 0, owner pid at 4,
// owner record (pid, start-time hash) at 8 and 12.
const (
	mutexLocked      = 1 << 0 // held; the owner pid names the holder
	mutexWoken       = 1 << 1 // a waiter is awake
	mutexStarving    = 1 << 2 // fair mode: only old waiters take it
	mutexDirty       = 1 << 3 // a holder died; until MarkConsistent
	mutexWaiterShift = 4      // bits 4..31 count registered waiters
)

// RWMutex layout: writer Mutex at 0, rstate at 16, gate at 20, sleeping
// readers at 24, 16 reader slots (pid, holds) at 32, 16 records (pid,
// start hash) at 160.
const (
	rwWriter       = 1 << 0 // a writer holds or waits for readers to leave
	rwWriterSleeps = 1 << 1 // that writer sleeps
	rwDirty        = 1 << 2 // a holder died; until MarkConsistent
	rwSlots        = 16
	rwOffRstate    = 16
	rwOffRwait     = 24
	rwOffSlots     = 32
	rwOffRecords   = 160
)

// Event layout: state at 0 (bit 0 set, bit 1 manual-reset), waiters at 4.
const (
	eventSet    = 1 << 0
	eventManual = 1 << 1
)

var le = binary.LittleEndian

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

// mutexState describes a Mutex from its 16 bytes.
func mutexState(b []byte) string {
	state, owner := le.Uint32(b[0:]), le.Uint32(b[4:])
	recPid, recStart := le.Uint32(b[8:]), le.Uint32(b[12:])
	var parts []string
	if state&mutexLocked != 0 {
		start := uint32(0)
		if recPid == owner { // the record is only trusted when it names the holder
			start = recStart
		}
		parts = append(parts, "held by "+who(owner, start))
	} else {
		parts = append(parts, "not held")
	}
	if n := state >> mutexWaiterShift; n > 0 {
		parts = append(parts, fmt.Sprintf("%d waiter(s)", n))
	} else {
		parts = append(parts, "no waiters")
	}
	if state&mutexStarving != 0 {
		parts = append(parts, "starving (fair hand-off)")
	}
	if state&mutexWoken != 0 {
		parts = append(parts, "a waiter is awake")
	}
	if state&mutexDirty != 0 {
		parts = append(parts, "INCONSISTENT: a holder died, the next locker gets ErrOwnerDead")
	}
	return strings.Join(parts, ", ")
}

// rwMutexState describes an RWMutex from its 288 bytes, one line each for
// the writer and the readers.
func rwMutexState(b []byte) []string {
	rstate := le.Uint32(b[rwOffRstate:])
	writer := "writer: " + mutexState(b[:16])
	if rstate&rwWriter != 0 {
		writer += ", barring new readers"
		if rstate&rwWriterSleeps != 0 {
			writer += " (asleep until readers leave)"
		}
	}
	var readers []string
	for i := range rwSlots {
		slot := b[rwOffSlots+8*i:]
		pid, holds := le.Uint32(slot), le.Uint32(slot[4:])
		if pid == 0 && holds == 0 {
			continue
		}
		rec := b[rwOffRecords+8*i:]
		start := uint32(0)
		if le.Uint32(rec) == pid {
			start = le.Uint32(rec[4:])
		}
		readers = append(readers, fmt.Sprintf("%s x%d", who(pid, start), holds))
	}
	r := "readers: none"
	if len(readers) > 0 {
		r = fmt.Sprintf("readers: %d process(es): %s", len(readers), strings.Join(readers, "; "))
	}
	if n := le.Uint32(b[rwOffRwait:]); n > 0 {
		r += fmt.Sprintf("; %d reader(s) waiting", n)
	}
	lines := []string{writer, r}
	if rstate&rwDirty != 0 {
		lines = append(lines, "INCONSISTENT: a holder died, lockers get ErrOwnerDead until MarkConsistent")
	}
	return lines
}

// eventState describes an Event from its 16 bytes.
func eventState(b []byte) string {
	state, waiters := le.Uint32(b[0:]), le.Uint32(b[4:])
	kind := "auto-reset"
	if state&eventManual != 0 {
		kind = "manual-reset"
	}
	set := "not set"
	if state&eventSet != 0 {
		set = "set"
	}
	return fmt.Sprintf("%s, %s, %d waiter(s)", kind, set, waiters)
}
