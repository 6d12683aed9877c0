// Package fuzz holds the go test -fuzz targets of shmx. It has no API:
// everything is in its _test.go files, and each target drives only the
// exported API of memfile, as another process would reach it.
//
// A shared segment is written by other processes, which may be buggy,
// hostile or half-dead. Whatever bytes they leave behind, shmx must return
// an error or work; it must never panic, hang, or read outside the
// mapping. Each target feeds such bytes to one entry point and checks that
// property plus the invariants the entry point promises (its doc comment
// says which):
//
//	FuzzHeader          memfile.ParseHeader and ParseHeaderPrefix on arbitrary segment bytes
//	FuzzParticipants    memfile.ParseParticipants on the participant table of
//	                    every header ParseHeader accepts, and of its prefixes
//	FuzzLinkFile        memfile.ParseLink on arbitrary link-file contents
//	FuzzMutexState      a memfile.Mutex over garbage bytes, locked and
//	                    unlocked by several goroutines
//	FuzzRWMutexState    the same for memfile.RWMutex, readers and writers
//	FuzzEventState      a memfile.Event over garbage bytes: Set, Reset, Wait
//	FuzzCondState       a memfile.Cond over garbage bytes: Signal, Broadcast,
//	                    Wait under a Mutex
//	FuzzSemaphoreState  a memfile.Semaphore over garbage bytes
//	FuzzSemaphoreAt     memfile.SemaphoreAt over every byte of a Semaphore
//	                    (journal, holder table, queue), in untracked memory
//	                    or in a real segment (dead processes recovered)
//	FuzzSeqLock         a memfile.SeqLock over garbage bytes, one writer
//	                    and two readers, in untracked memory or in a real
//	                    segment (where a dead writer's Store is taken over)
//	FuzzRing            memfile.RingAt and the Ring operations over a
//	                    garbage header, counters and slot states
//	FuzzOpen            memfile.Open of a real segment holding arbitrary
//	                    bytes, through a link file whose size may be off,
//	                    then its lock and events
//
// Processes are named in shared memory by their token (internal/live),
// never by pid: seeds put tokens no process has in lock words, reader
// slots, ring claims and the SeqLock's sequence word. Over plain memory
// nothing vouches for such a token, so it is never judged dead there and
// waiters time out; FuzzOpen and FuzzSeqLock's tracked half place the
// bytes in a real segment, whose kernel-held liveness locks say it is
// dead, so recovery from dead owners is fuzzed too.
//
// On Linux the bytes under test end exactly where a PROT_NONE page
// begins, so a read past the mapping faults and is reported as a crasher
// even when no Go bounds check would see it (code using unsafe). Other
// platforms use plain slices. Every wait uses a context with a deadline of
// a few milliseconds, so an execution ends in a few milliseconds whatever
// the input; a hang shows up as a fuzzer timeout.
//
// # Running
//
// Plain go test runs every target once per seed of its corpus, under
// testdata/fuzz/FuzzName (hand-picked edge cases: all zeros, all 0xFF,
// truncated input, sizes at the mapping's edge, valid input with one field
// changed), which TestSeedCorpus checks are all present:
//
//	go test ./fuzz
//	go test -race ./fuzz
//
// Fuzz one target for a fixed number of executions (a count rather than a
// duration: with a duration go test sometimes reports a failure when the
// time runs out, see the platform facts):
//
//	go test -run '^$' -fuzz '^FuzzHeader$' -fuzztime=50000x ./fuzz
//
// The lock and ring targets run goroutines, so their coverage varies from
// run to run and the fuzzer often finds "new" inputs, each of which it
// minimises for up to a minute by default; bounding that with
// -fuzzminimizetime=100x made 50000 executions of FuzzRWMutexState take
// about 1 minute instead of 4.
//
// A crasher is written to testdata/fuzz/FuzzName/ and replayed by every
// later plain go test; commit it there. After changing the hand-picked
// seeds, regenerate the corpus files with
//
//	SHMX_WRITE_CORPUS=1 go test -run '^TestSeedCorpus$' ./fuzz
package fuzz
