package memfile

import (
	"github.com/shmx/shmx/internal/proc"
)

// selfRec is this process's owner record, pid | start-hash<<32, and
// lockedBySelf the state word of a Mutex it holds with no other bit set.
// They are the one piece of per-process state the locks keep: the OS
// decides them, and the fast paths must read them with one plain load to
// stay inlinable, so they are computed once at package initialisation
// (reading /proc/<pid>/stat or its equivalent, a few microseconds) and
// never written again. A process that forks without exec keeps its
// parent's identity: Go programs cannot do that.
var selfRec, lockedBySelf = initSelf()

func initSelf() (rec, locked uint64) {
	id := proc.Self()
	rec = uint64(id.Pid) | uint64(id.Start)<<32
	return rec, uint64(id.Pid)<<ownerShift | mutexLocked
}

// ownerDead reports whether the process named by pid (taken from a lock
// word) is gone. rec is the owner record stored beside that word: its
// start hash is used only when it names the same pid, since a record from
// an earlier owner with a reused pid would make a live owner look dead.
func ownerDead(pid uint32, rec uint64) bool {
	if pid == 0 {
		return false
	}
	start := uint32(0)
	if uint32(rec) == pid {
		start = uint32(rec >> 32)
	}
	alive, _ := proc.Alive(pid, start)
	return !alive
}
