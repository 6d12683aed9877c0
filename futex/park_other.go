//go:build !linux

package futex

import (
	"context"
	"time"
)

// waitParked is WaitContext's parked wait, which only Linux has (see
// Parks): here every wait sleeps on its thread.
func waitParked(context.Context, *uint32, uint32, time.Duration, func()) (error, bool) {
	return nil, false
}
