package memfile

import "sync/atomic"

// Event is an auto-reset or manual-reset event that lives in memory shared
// between processes. See EventAt.
type Event struct {
	state   atomic.Uint32
	waiters atomic.Uint32
	_       uint64
}
