//go:build cgo && (linux || freebsd)

package cbench

/*
#cgo LDFLAGS: -lpthread
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

typedef struct {
	pthread_mutex_t  mu;
	pthread_cond_t   cond;
	volatile int     turn;
	pthread_rwlock_t rw;
} shared_t;

static int init_shared(void *p) {
	shared_t *s = (shared_t *)p;
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	memset(s, 0, sizeof *s);
	if (pthread_mutexattr_init(&ma) || pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED)) return -1;
	if (pthread_mutex_init(&s->mu, &ma)) return -1;
	if (pthread_condattr_init(&ca) || pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED)) return -1;
	if (pthread_cond_init(&s->cond, &ca)) return -1;
	pthread_rwlockattr_t ra;
	if (pthread_rwlockattr_init(&ra) || pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED)) return -1;
	if (pthread_rwlock_init(&s->rw, &ra)) return -1;
	return 0;
}

// rw_loop takes the rwlock n times, for writing every 10th time (counter++
// inside) and for reading the other 9 (counter read inside): the shmx
// RWMutex contended row's mix.
static void rw_loop(void *p, long n, volatile uint64_t *counter) {
	shared_t *s = (shared_t *)p;
	uint64_t sink = 0;
	for (long i = 0; i < n; i++) {
		if (i % 10 == 0) {
			pthread_rwlock_wrlock(&s->rw);
			(*counter)++;
		} else {
			pthread_rwlock_rdlock(&s->rw);
			sink += *counter;
		}
		pthread_rwlock_unlock(&s->rw);
	}
	(void)sink;
}

static void lock_loop(void *p, long n) {
	shared_t *s = (shared_t *)p;
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(&s->mu);
		pthread_mutex_unlock(&s->mu);
	}
}

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// timed_lock_loop locks and unlocks n times with counter++ inside, and
// returns the longest wait for the lock in ns.
static int64_t timed_lock_loop(void *p, long n, volatile uint64_t *counter) {
	shared_t *s = (shared_t *)p;
	int64_t worst = 0;
	for (long i = 0; i < n; i++) {
		int64_t t0 = now_ns();
		pthread_mutex_lock(&s->mu);
		int64_t w = now_ns() - t0;
		if (w > worst) worst = w;
		(*counter)++;
		pthread_mutex_unlock(&s->mu);
	}
	return worst;
}

// ping_pong plays n rounds as side me (0 or 1): wait for our turn, give
// the turn to the other side.
static void ping_pong(void *p, int me, long n) {
	shared_t *s = (shared_t *)p;
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(&s->mu);
		while (s->turn != me) pthread_cond_wait(&s->cond, &s->mu);
		s->turn = 1 - me;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->mu);
	}
}

// poll_pong plays n rounds as side me by polling the turn under the
// mutex, the same protocol as the Go Mutex ping-pong benchmark.
static void poll_pong(void *p, int me, long n) {
	shared_t *s = (shared_t *)p;
	for (long i = 0; i < n;) {
		pthread_mutex_lock(&s->mu);
		if (s->turn == me) {
			s->turn = 1 - me;
			i++;
		}
		pthread_mutex_unlock(&s->mu);
	}
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Available reports whether the C baselines are built in.
const Available = true

func sharedSize() int { return int(C.sizeof_shared_t) }

// InitShared initialises a process-shared pthread mutex, condition
// variable and rwlock at the start of mem, which must hold SharedSize bytes of a
// shared mapping (or ordinary memory for a single process).
func InitShared(mem []byte) error {
	if len(mem) < SharedSize {
		return errors.New("cbench: mapping too small")
	}
	if C.init_shared(unsafe.Pointer(&mem[0])) != 0 {
		return errors.New("cbench: pthread init failed")
	}
	return nil
}

// LockLoop locks and unlocks the mutex in mem n times, in C.
func LockLoop(mem []byte, n int) {
	C.lock_loop(unsafe.Pointer(&mem[0]), C.long(n))
}

// RWLoop takes the process-shared pthread rwlock in mem n times, in C:
// for writing every 10th time (incrementing the plain counter at
// *counter inside), for reading the others (reading it).
func RWLoop(mem []byte, n int, counter *uint64) {
	C.rw_loop(unsafe.Pointer(&mem[0]), C.long(n), (*C.uint64_t)(unsafe.Pointer(counter)))
}

// TimedLockLoop locks the mutex in mem n times, in C, incrementing the
// plain counter at *counter inside, and returns the longest wait in ns.
func TimedLockLoop(mem []byte, n int, counter *uint64) int64 {
	return int64(C.timed_lock_loop(unsafe.Pointer(&mem[0]), C.long(n), (*C.uint64_t)(unsafe.Pointer(counter))))
}

// PingPong plays n rounds of a two-process hand-off as side me (0 starts).
func PingPong(mem []byte, me, n int) {
	C.ping_pong(unsafe.Pointer(&mem[0]), C.int(me), C.long(n))
}

// PollPong plays n rounds of a two-process hand-off as side me (0 starts)
// by polling the turn under the mutex, without the condition variable.
func PollPong(mem []byte, me, n int) {
	C.poll_pong(unsafe.Pointer(&mem[0]), C.int(me), C.long(n))
}
