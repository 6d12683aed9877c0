//go:build !linux

package futex

import "time"

// waitParked is WaitContext's parked wait, which only Linux has (see
// Parks): here every wait sleeps on its thread.
func waitParked(<-chan struct{}, *uint32, uint32, time.Duration, func()) (error, bool) {
	return nil, false
}

// waitThread is wait: here every wait sleeps on its thread.
func waitThread(addr *uint32, val uint32, timeout time.Duration) error {
	return wait(addr, val, timeout)
}
