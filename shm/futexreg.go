package shm

import "github.com/shmx/shmx/futex"

// registerFutex and unregisterFutex are the one place where shm tells
// package futex about its mappings: futex.Register(mem, osName) after
// every map and futex.Unregister(mem) on Close. On Windows futex needs it
// to turn a wait on a word of a shared mapping into a wait on a named
// kernel object that other processes can signal; elsewhere it only
// checks its arguments.
func registerFutex(mem []byte, osName string) error { return futex.Register(mem, osName) }

func unregisterFutex(mem []byte) { futex.Unregister(mem) }
