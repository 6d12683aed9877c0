package main

// segmentDir is where package shm keeps segments on macOS, which has no
// enumerable POSIX shm (see package shm: segments are files there).
func segmentDir() (string, error) { return "/tmp/shmx", nil }
