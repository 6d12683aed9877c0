//go:build cgo && (linux || freebsd)

package cbench

/*
#include <stdint.h>
#include <string.h>
#include <time.h>

// A plain single-producer single-consumer ring of 64-byte slots, the
// textbook fast one: each side keeps its own index and a cached copy of
// the other's, reloads the other's index only when the cache says full
// (empty), copies the message in (out) with memcpy and publishes it with
// one release store of its index. The two indices sit on their own
// 128-byte lines (adjacent-line prefetch) and slots on 64-byte lines.
#define SPSC_SLOTS 256
#define SPSC_MSG 64

typedef struct {
	_Alignas(128) uint64_t tail; // next slot to fill: written by the producer
	_Alignas(128) uint64_t head; // next slot to drain: written by the consumer
	_Alignas(128) unsigned char slot[SPSC_SLOTS][SPSC_MSG];
} spsc_t;

static inline void spsc_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static int64_t spsc_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void spsc_init(void *p) { memset(p, 0, sizeof(spsc_t)); }

// spsc_produce sends n messages whose eight words all hold the message's
// number (counted from first), and returns 0, or -1 if it waited for room
// past deadline (ns, CLOCK_MONOTONIC): a consumer that is gone.
static int spsc_produce(void *p, long first, long n, int64_t deadline) {
	spsc_t *r = (spsc_t *)p;
	uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	uint64_t msg[SPSC_MSG / 8];
	for (long i = first; i < first + n; i++) {
		for (long spins = 0; tail - head == SPSC_SLOTS; spins++) {
			head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
			if (tail - head != SPSC_SLOTS) break;
			spsc_pause();
			if ((spins & 0xfffff) == 0xfffff && spsc_now() > deadline) return -1;
		}
		for (int w = 0; w < SPSC_MSG / 8; w++) msg[w] = (uint64_t)i;
		memcpy(r->slot[tail % SPSC_SLOTS], msg, SPSC_MSG);
		tail++;
		__atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
	}
	return 0;
}

// spsc_consume receives messages, copying each out, until one whose
// first word is SPSC_STOP, adds up all the words of the others into *sum,
// counts them into *count, and returns 0, or -1 past deadline (see
// spsc_produce).
#define SPSC_STOP UINT64_MAX
static int spsc_consume(void *p, int64_t deadline, uint64_t *sum, uint64_t *count) {
	spsc_t *r = (spsc_t *)p;
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	uint64_t buf[SPSC_MSG / 8], s = 0, n = 0;
	for (;;) {
		for (long spins = 0; head == tail; spins++) {
			tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
			if (head != tail) break;
			spsc_pause();
			if ((spins & 0xfffff) == 0xfffff && spsc_now() > deadline) {
				*sum += s;
				*count += n;
				return -1;
			}
		}
		memcpy(buf, r->slot[head % SPSC_SLOTS], SPSC_MSG);
		head++;
		__atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
		if (buf[0] == SPSC_STOP) break;
		for (int w = 0; w < SPSC_MSG / 8; w++) s += buf[w];
		n++;
	}
	*sum += s;
	*count += n;
	return 0;
}

// spsc_stop sends the message that ends spsc_consume.
static int spsc_stop(void *p, int64_t deadline) {
	return spsc_produce(p, (long)-1, 1, deadline);
}
*/
import "C"

import (
	"errors"
	"time"
	"unsafe"
)

// SPSC ring geometry: SPSCSlots slots of SPSCMsg bytes.
const (
	SPSCSlots = C.SPSC_SLOTS
	SPSCMsg   = C.SPSC_MSG
)

// SPSCSize is the number of bytes a C SPSC ring (SPSCInit) needs (0
// when !Available).
var SPSCSize = int(C.sizeof_spsc_t)

var errSPSCStuck = errors.New("cbench: SPSC ring: the other side stopped (deadline passed)")

func spscMem(mem []byte) (unsafe.Pointer, error) {
	if len(mem) < SPSCSize || uintptr(unsafe.Pointer(&mem[0]))%128 != 0 {
		return nil, errors.New("cbench: SPSC ring memory too small or not 128-byte aligned")
	}
	return unsafe.Pointer(&mem[0]), nil
}

// SPSCInit lays out an empty C SPSC ring at the start of mem, which must
// hold SPSCSize bytes, 128-byte aligned, of a shared mapping.
func SPSCInit(mem []byte) error {
	p, err := spscMem(mem)
	if err == nil {
		C.spsc_init(p)
	}
	return err
}

// SPSCProduce sends n messages numbered first..first+n-1 (each 64-byte
// message holds its number in all eight words) through the ring in mem,
// in C; it fails if the consumer makes no room before deadline.
func SPSCProduce(mem []byte, first, n int, deadline time.Time) error {
	p, err := spscMem(mem)
	if err != nil {
		return err
	}
	if C.spsc_produce(p, C.long(first), C.long(n), C.int64_t(monoDeadline(deadline))) != 0 {
		return errSPSCStuck
	}
	return nil
}

// SPSCConsume receives messages from the ring in mem, in C, copying
// each out, until SPSCStop's, and returns how many and the sum of all
// their words; it fails if no message comes before deadline.
func SPSCConsume(mem []byte, deadline time.Time) (n, sum uint64, err error) {
	p, err := spscMem(mem)
	if err != nil {
		return 0, 0, err
	}
	var cn, csum C.uint64_t
	if C.spsc_consume(p, C.int64_t(monoDeadline(deadline)), &csum, &cn) != 0 {
		err = errSPSCStuck
	}
	return uint64(cn), uint64(csum), err
}

// SPSCStop sends the message that ends SPSCConsume.
func SPSCStop(mem []byte, deadline time.Time) error {
	p, err := spscMem(mem)
	if err != nil {
		return err
	}
	if C.spsc_stop(p, C.int64_t(monoDeadline(deadline))) != 0 {
		return errSPSCStuck
	}
	return nil
}

// monoDeadline converts deadline to CLOCK_MONOTONIC nanoseconds.
func monoDeadline(deadline time.Time) int64 {
	return int64(C.spsc_now()) + time.Until(deadline).Nanoseconds()
}
