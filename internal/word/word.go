// Package word is the one place through which shmx's protocols touch
// shared memory: every load, store, compare-and-swap and add on a word
// another process may change, every futex wait and wake, every clock read
// and spin, and the two identity questions (who am I, is that process
// gone). memfile calls nothing else for them.
//
// In a normal build each of these is the real thing: the atomics are type
// aliases of sync/atomic's and one-line wrappers of its functions, which
// inline to the same intrinsics (the Mutex fast path stays one CAS), and
// the rest forward to futex, time, shmx and internal/live.
//
// Built with -tags shmxexplore, every call is a scheduling point of a
// deterministic explorer in the spirit of folly's DeterministicSchedule
// and Rust's loom: simulated processes, each with its goroutines and its
// own token, run one step at a time in an order a seed decides (random,
// PCT priorities, or exhaustive for small cases); futex waits block in a
// simulated kernel; time is virtual and moves only by steps and when
// everybody sleeps; and a simulated process can be killed at any step,
// after which its goroutines never touch memory again and its token is
// gone. See Explore.
package word
