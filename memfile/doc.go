// Package memfile is the user-facing API of shmx: shared-memory files
// behind a link path, with a validated header, a built-in lock, events,
// and typed views, plus the process-shared Mutex, RWMutex, Event and
// Semaphore that live inside shared memory.
package memfile
