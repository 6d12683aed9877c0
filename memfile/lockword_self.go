package memfile

import (
	"unsafe"

	"github.com/shmx/shmx/internal/live"
)

// selfToken is this process's identity in lock words, reader slots and
// Ring claims (internal/live: a random 32-bit token, not a pid), and
// lockedBySelf the state word of a Mutex it holds with no other bit set.
// The fast paths compare against them with one plain load, so they are
// fixed at package initialisation and never written again.
var (
	selfToken    = live.Self()
	lockedBySelf = uint64(selfToken)<<ownerShift | mutexLocked
)

// gone reports whether the process behind token, read from a word at p,
// is known to be dead: the one question every primitive of this package
// asks before it takes over what another process held. Only the kernel's
// word counts (live.Gone): memory outside a MemFile never has a dead
// owner.
func gone(p unsafe.Pointer, token uint32) bool { return live.Gone(p, token) }
