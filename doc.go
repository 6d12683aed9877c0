// Package shmx holds the CPU-level primitives under the shmx shared-memory
// module: a spin-wait hint (Pause), a cheap cycle counter (Ticks) with a
// calibrated conversion to time, a Spinner that budgets spinning in
// nanoseconds rather than iterations, the cache-line size, and a report of
// the CPU features the other packages rely on (Detect).
//
// Most programs never import this package directly. They use the layers
// built on it:
//
//	github.com/shmx/shmx/memfile  shared-memory files, locks, events, typed views
//	github.com/shmx/shmx/shm      OS shared-memory segments (create/open/map/remove)
//	github.com/shmx/shmx/futex    wait/wake on a 32-bit word across processes
//	github.com/shmx/shmx/atomicx  atomics on words in shared memory, 128-bit CAS
//
// A one-minute example, two processes sharing a counter under a lock:
//
//	// writer
//	f, err := memfile.Create("counter.link", memfile.LockMutex, 4096)
//	if err != nil { ... }
//	defer f.Close() // the creator removes the segment and the link
//	err = f.Write(func(data []byte) error { data[0]++; return nil })
//
//	// reader, in another process
//	f, err := memfile.Open("counter.link")
//	if err != nil { ... }
//	defer f.Close()
//	err = f.Read(func(data []byte) error { fmt.Println(data[0]); return nil })
//
// The hand-written assembly (asm_amd64.s, asm_arm64.s) is used only where
// Go has no intrinsic; every assembly function has a pure-Go twin, chosen
// on other architectures and with the purego build tag.
package shmx
