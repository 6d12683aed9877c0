//go:build !linux && !darwin && !freebsd

package bench

import (
	"errors"
	"fmt"
	"runtime"
)

// flockAvailable: no flock(2) here (Windows' LockFileEx is a different
// primitive and is not measured).
const flockAvailable = false

var errNoFlock = fmt.Errorf("flock is not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func flockOpen(path string) (int, error)  { return 0, errNoFlock }
func flockLock(fd int, shared bool) error { return errNoFlock }
func flockUnlock(fd int) error            { return errNoFlock }
func flockClose(fd int) error             { return errNoFlock }
