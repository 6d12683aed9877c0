// Package cbench holds the C baselines the benchmarks of shmx compare
// against: a process-shared pthread mutex (and condition variable) whose
// loops run entirely in C, so that the cgo call, made once per batch,
// does not count in the per-operation figure; and the limits of a message
// round trip (spin.go): two processes exchanging a cache line, or a
// message in shared memory, by spinning on a sequence word.
//
// It needs cgo on Linux or FreeBSD (where a pthread mutex with
// PTHREAD_PROCESS_SHARED works across processes); elsewhere Available is
// false and every function panics.
package cbench

// SharedSize is the number of bytes InitShared needs at the start of a
// shared mapping (0 when !Available).
var SharedSize = sharedSize()
