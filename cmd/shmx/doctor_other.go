//go:build !linux

package main

import "runtime"

// platformFacts has nothing to add outside Linux: POSIX shm on macOS and
// FreeBSD is not a mounted file system, and Windows sections live in the
// pagefile.
func platformFacts() []fact {
	return []fact{{"shm storage", storage()}}
}

func storage() string {
	if runtime.GOOS == "windows" {
		return "pagefile-backed sections (no size limit beyond the commit limit)"
	}
	return "kernel POSIX shm objects (no /dev/shm)"
}
