//go:build unix

package memfile

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

const flockAvailable = true

// flockLoop locks the mapped file itself with flock k times (its own open
// file description, since flock excludes descriptions, not goroutines),
// incrementing c inside, and returns the worst wait in ns.
func flockLoop(path string, k int, c *uint64) int64 {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	var worst time.Duration
	for range k {
		t0 := time.Now()
		if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
			panic(err)
		}
		worst = max(worst, time.Since(t0))
		*c++
		unix.Flock(fd, unix.LOCK_UN)
	}
	return int64(worst)
}
