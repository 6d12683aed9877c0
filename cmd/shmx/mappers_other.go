//go:build !linux

package main

import (
	"errors"
	"fmt"
	"runtime"
)

// mappers would tell which processes map each segment; only Linux
// exposes that (/proc/<pid>/maps) without privileged tools, so rm --stale,
// which must not remove a segment a live process still uses, is Linux-only.
func mappers(map[string]bool) (map[string][]int, int, error) {
	return nil, 0, fmt.Errorf("finding the processes that map a segment is not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
