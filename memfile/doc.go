// Package memfile is the user-facing API of shmx: shared-memory files
// behind a link path, with a validated header, a built-in lock, events,
// and typed views, plus the process-shared Mutex, RWMutex, Event,
// Semaphore and Cond that live inside shared memory.
//
// # One minute
//
//	// writer
//	f, err := memfile.Create("shared_mem.link", memfile.LockMutex, 4096)
//	if err != nil { ... }
//	defer f.Close() // the creator owns the segment: Close removes it and the link
//	err = f.Write(func(data []byte) error { copy(data, "Hello World !\x00"); return nil })
//
//	// reader, in another process
//	f, err := memfile.Open("shared_mem.link")
//	if err != nil { ... }
//	defer f.Close() // an opener's Close only unmaps
//	err = f.Read(func(data []byte) error { fmt.Println(string(data[:13])); return nil })
//
// Read and Write run their function under the read or write side of the
// lock and release it even if the function panics. Callers that lock by
// themselves use Lock/Unlock (RLock/RUnlock) and Bytes; View and Slice
// give the data as a typed pointer or slice after checking that the type
// holds no pointers.
//
// Tools that look at a segment without taking part in it (the shmx
// command's info, a monitoring agent) read the state of its locks and
// events with Mutex.State, RWMutex.State and Event.State: read-only
// snapshots that decode the layouts documented on each type.
//
// # Ownership and cleanup
//
// The creator owns the segment: its Close removes the link file (if it
// still names this segment) and the segment; an opener's Close only
// unmaps. SetOwner moves the duty. Ownership is recorded with the process
// id, so a forked child that inherited a MemFile never removes its
// parent's segment. Open of a link whose segment is gone fails with an
// error matching fs.ErrNotExist that names the link. Create over an
// existing link fails with fs.ErrExist unless WithForce is given.
//
// On Windows a segment is a pagefile-backed section, which the OS deletes
// when the last process closes it (there is no "remove" to call): the
// owner's Close removes the link file, and the memory itself lives on
// while any opener has it mapped. Nothing is ever written to disk.
//
// Close is safe while other goroutines use or wait on the objects in the
// segment: waits are woken and return an error matching fs.ErrClosed
// within about a millisecond, every later call of the MemFile returns
// one, and the memory is swapped for private zero pages at the same
// address instead of being unmapped, so that a pointer still held into it
// never faults (see MemFile.Close for what that costs).
//
// # Dead lock owners
//
// If a process dies holding the lock, the lock is taken over by the next
// locker and marked inconsistent: the data may be half-written. No lock
// call ever returns an error, or panics, with the lock held, so
// "if err != nil { return err }" and "Lock(); defer Unlock()" never leak
// it. While the mark stands, LockContext and RLockContext give the lock
// back and return an error matching ErrOwnerDead, Lock and RLock panic
// with it (nothing held), and Read and Write refuse to run their function
// on the suspect data, with that error. LockRecover takes the lock
// anyway and reports inconsistent = true: the caller repairs the data,
// calls MarkConsistent, then unlocks (unlocking without MarkConsistent
// leaves the mark for the next LockRecover). See ExampleMutex_LockRecover.
//
// A Semaphore has no inconsistent state to report: it records which
// process holds which units (with a capacity) and gives back those of a
// process that died, holding them or queued for them, to the waiters in
// the order they came (see Semaphore). Its own critical sections are
// journalled, so a process killed inside one is repaired by the next.
//
// A process killed while it waits (for a Mutex, an RWMutex, an Event or a
// Cond) leaves its registration in the object's waiter count, which is
// anonymous. The first wake-up made for it finds nobody asleep; the waker
// then drops the count and the live waiters register again (an epoch in
// the count tells them theirs was dropped): one needless wake-up, once,
// however many died. (FreeBSD's kernel does not say how many sleepers a
// wake-up woke: there the count stays.)
//
// Who is dead is the kernel's word, never a pid's: every process names
// itself in lock words by a random 32-bit token and, while it has a
// segment mapped, holds a kernel lock that dies with it on the segment's
// own file (Linux: an open-file-description lock on byte <token>;
// Windows: a named event; see internal/live for every OS). So a holder in
// another pid namespace (another container of the pod sharing /dev/shm)
// keeps its lock for as long as it lives, a reused pid changes nothing,
// and a holder that dies is recovered within one 50 ms wait slice. Every
// MemFile, raw ones included, joins its segment this way, and locks,
// Rings and SeqLocks placed anywhere in its mapping recover. Memory that
// no MemFile maps (MutexAt over a Go slice or a mapping made by hand)
// never has a dead owner: waiters there only time out.
//
// # Segment layout
//
// A segment made by Create starts with a 128-byte header, version 5. All
// fields are little-endian and fixed-width, so 32- and 64-bit, amd64 and
// arm64 processes agree:
//
//	offset size field
//	0      8    magic "SHMXFILE"
//	8      4    init state: 0 while the creator writes the header, 0x59444552
//	            ("REDY") once it is complete; stored last, atomically
//	12     4    layout version (5; versions 1 to 4 are refused with ErrVersion)
//	16     4    header size (128)
//	20     1    lock type: 0 none, 1 Mutex, 2 RWMutex
//	21     1    reserved, 0
//	22     2    event count n (at most MaxEvents)
//	24     4    lock offset (1152, or 0 without a lock)
//	28     4    lock size (MutexSize or RWMutexSize, or 0)
//	32     4    offset of event 0 (0 without events)
//	36     4    event stride (EventSize rounded up to 128, or 0)
//	40     8    data offset (a multiple of 128)
//	48     8    data size
//	56     4    creator's process id, in its own pid namespace (shown only)
//	60     4    creator's token (internal/live), never 0: what liveness
//	            checks ask about
//	64     4    CRC-32 (IEEE) of bytes 0-7 and 12-63
//	68     60   reserved, 0
//	128    1024 the participant table: 64 entries of ParticipantSize bytes
//	            (see participants.go), for inspection tools only
//	1152        the lock, then the n events, each at a multiple of 128,
//	            then the user data at the data offset
//
// Offsets are a function of the lock type and the event count; Open checks
// each against it, checks that the data fits the mapping, checks the
// checksum, and reports the first wrong field by name (errors match
// ErrCorrupt, or ErrVersion for another layout version). An opener waits
// (WithOpenTimeout, 2 s by default) for the init state to become ready and
// never reads a half-initialised header.
//
// # Link files
//
// A link file is a small text file naming the segment:
//
//	shmx-link v1
//	osid shmx_<pid>_<12 hex digits>
//	size <bytes in the whole segment>
//
// It is written to a temporary file and then hard-linked into place, so
// readers never see half of one and, of creators racing for one path,
// exactly one wins. Its parser (ParseLink) is strict: three lines, a
// restricted alphabet, at most 256 bytes.
//
// # Raw segments
//
// CreateRaw and OpenRaw map exactly an OS segment, without header or link
// file, so that segments made by C shm_open, Python's
// multiprocessing.shared_memory or any other program can be opened (and
// vice versa).
package memfile
