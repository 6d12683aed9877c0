package memfile

import "sync/atomic"

// Mutex is a mutual exclusion lock that lives in memory shared between
// processes. See MutexAt.
//
// Layout (MutexSize = 16 bytes, little-endian, 8-byte aligned):
//
//	offset size meaning
//	0      4    state: lock bits and waiter count; the futex word
//	4      4    pid of the owning process, 0 when unlocked
//	8      4    pid of the last process that recorded itself as owner
//	12     4    hash of that process's start time (defeats pid reuse)
type Mutex struct {
	state atomic.Uint64 // low half: flags+waiters (futex word); high half: owner pid
	owner atomic.Uint64 // low half: pid; high half: start-time hash
}
