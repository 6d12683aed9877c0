package live

import (
	"sync"

	"golang.org/x/sys/windows"
)

// Process words: how futex's Windows waiter queue (futex/queue_windows.go)
// names the process that claimed a waiter slot, and asks whether it is
// alive. It lives here because deciding that a process is dead is this
// package's alone. A process word is this Windows-only complement to
// tokens: the queue sits below any segment (a token is vouched for by a
// Domain), and in one Windows kernel pid and creation time name a process
// for good. The word: its pid in the high 32 bits
// and a hash of its creation time in the low 32 bits. Windows has no pid
// namespaces within one object namespace, and a pid is reused only after
// the process object is gone, so pid and creation time together identify
// a process for the life of the machine; the hash only narrows that to a
// 2^-32 chance that a reused pid passes for the dead owner (its slots then
// look alive until that process dies too: never unsafe, only slower).
//
// A waker asks whether a slot's owner is alive before it marks the slot
// woken, so that a waiter killed while it waited never absorbs a wake-up
// meant for a live one. The answer comes from the kernel, never from a
// timeout: a process handle opened once per peer (its creation time
// checked against the owner word) and cached; the process is dead when
// that handle is signalled, or when no process has the pid, or when the
// process with that pid was created at another time. Anything else (no
// right to open the process, an unexpected error) counts as alive: a
// slot is never taken from a process that may be alive.

// ownerSelf is this process's owner word, or 0 when it could not be made.
var ownerSelf = makeSelfOwner()

// ProcessWord returns this process's process word (pid and a hash of its
// creation time), or 0 if it could not be made.
func ProcessWord() uint64 { return ownerSelf }

// ProcessWordAlive reports whether the process named by process word o
// may be alive: false only when the kernel says it is gone. It allocates
// nothing once a peer's handle is cached.
func ProcessWordAlive(o uint64) bool { return ownerAlive(o) }

// makeSelfOwner builds this process's owner word. Without the creation
// time (which GetProcessTimes on the current process always gives) it
// returns 0, and the queues are then not used by this process.
func makeSelfOwner() uint64 {
	var c, e, k, u windows.Filetime
	if err := windows.GetProcessTimes(windows.CurrentProcess(), &c, &e, &k, &u); err != nil {
		return 0
	}
	return ownerWord(windows.GetCurrentProcessId(), c)
}

// ownerWord packs pid and a hash of the creation time ct; it is never 0
// for a real process (pid 0 is the idle process).
func ownerWord(pid uint32, ct windows.Filetime) uint64 {
	return uint64(pid)<<32 | uint64(hashTime(ct))
}

// hashTime mixes the 64-bit creation time into 32 bits (the finaliser of
// SplitMix64), so that processes created close together still differ.
func hashTime(ct windows.Filetime) uint32 {
	x := uint64(ct.HighDateTime)<<32 | uint64(ct.LowDateTime)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return uint32(x) ^ uint32(x>>32)
}

// peers caches a process handle per live peer owner word. The read lock
// is held across the one non-blocking wait that asks whether a cached
// process has exited, so that forgetting a dead peer never closes a
// handle another goroutine is using.
var (
	peerMu sync.RWMutex
	peers  = map[uint64]windows.Handle{}
)

// processAccess is what a waker needs of a peer: to wait on it (is it
// gone?) and to read its creation time.
const processAccess = windows.SYNCHRONIZE | windows.PROCESS_QUERY_LIMITED_INFORMATION

// ownerAlive reports whether the process named by owner word o may be
// alive. It is false only when the kernel says that process is gone.
func ownerAlive(o uint64) bool {
	if o == ownerSelf {
		return true
	}
	peerMu.RLock()
	h, ok := peers[o]
	if ok {
		r, _ := windows.WaitForSingleObject(h, 0)
		peerMu.RUnlock()
		if r != windows.WAIT_OBJECT_0 {
			return true // running (WAIT_TIMEOUT), or no answer: alive
		}
		forgetPeer(o, h)
		return false
	}
	peerMu.RUnlock()
	return openPeer(o)
}

// openPeer opens the process of owner word o for the first time, checks
// that it is the process o names, and caches its handle if it is alive.
func openPeer(o uint64) bool {
	h, err := windows.OpenProcess(processAccess, false, uint32(o>>32))
	if err != nil {
		// ERROR_INVALID_PARAMETER: no process has that pid. Anything else
		// (access denied: another user's process) may be alive.
		return err != windows.ERROR_INVALID_PARAMETER
	}
	var c, e, k, u windows.Filetime
	if err := windows.GetProcessTimes(h, &c, &e, &k, &u); err != nil {
		windows.CloseHandle(h)
		return true
	}
	if ownerWord(uint32(o>>32), c) != o {
		windows.CloseHandle(h)
		return false // the pid now names a younger process
	}
	if r, _ := windows.WaitForSingleObject(h, 0); r == windows.WAIT_OBJECT_0 {
		windows.CloseHandle(h)
		return false // exited; another handle keeps its object around
	}
	peerMu.Lock()
	if old, ok := peers[o]; ok {
		windows.CloseHandle(h) // another goroutine cached it meanwhile
		h = old
	} else {
		peers[o] = h
	}
	peerMu.Unlock()
	return true
}

// forgetPeer drops the cached handle h of the dead peer o.
func forgetPeer(o uint64, h windows.Handle) {
	peerMu.Lock()
	if peers[o] == h {
		delete(peers, o)
		windows.CloseHandle(h)
	}
	peerMu.Unlock()
}
