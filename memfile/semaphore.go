package memfile

import "sync/atomic"

// Semaphore is a counting semaphore that lives in memory shared between
// processes. See SemaphoreAt.
type Semaphore struct {
	count    atomic.Uint32
	capacity atomic.Uint32
	waiters  atomic.Uint32
	_        uint32
}
