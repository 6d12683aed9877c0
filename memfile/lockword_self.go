package memfile

import (
	"unsafe"

	sw "github.com/shmx/shmx/internal/word"
)

// self is this process's identity in lock words, reader slots and Ring
// claims (internal/live: a random 32-bit token, not a pid), and
// lockedBySelf the state word of a Mutex it holds with no other bit set.
// Both inline to a load of a package variable (under the explorer they
// name the simulated process that runs).
func self() uint32 { return sw.Self() }

func lockedBySelf() uint64 { return sw.SelfHigh() | mutexLocked } // ownerShift is 32

// gone reports whether the process behind token, read from a word at p,
// is known to be dead: the one question every primitive of this package
// asks before it takes over what another process held. Only the kernel's
// word counts (live.Gone, through internal/word): memory outside a
// MemFile never has a dead owner. The Mutex, the RWMutex, the Ring (its
// claims and its initialiser) and the SeqLock all ask it.
func gone(p unsafe.Pointer, token uint32) bool { return sw.Gone(p, token) }
