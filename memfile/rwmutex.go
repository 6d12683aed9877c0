package memfile

import "sync/atomic"

// rwReaderSlots is how many reader processes an RWMutex can identify at once.
const rwReaderSlots = 16

// RWMutex is a reader/writer lock that lives in memory shared between
// processes. See RWMutexAt.
type RWMutex struct {
	w      Mutex
	rstate atomic.Uint32
	gate   atomic.Uint32
	rwait  atomic.Uint32
	_      uint32
	slots  [rwReaderSlots]atomic.Uint64
	starts [rwReaderSlots]atomic.Uint32
	_      [RWMutexSize - 16 - 16 - rwReaderSlots*12]byte
}
