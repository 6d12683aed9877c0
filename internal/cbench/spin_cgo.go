//go:build cgo && (linux || freebsd)

package cbench

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// spin_pause is one spin-wait hint, the one shmx.Pause executes: PAUSE on
// x86, ISB on arm64 (see the shmx package's asm_arm64.s for why).
static inline void spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("isb" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static int64_t spin_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// spin_until spins until *w is want, or *stop is not 0 (then -1).
static inline int spin_until(uint64_t *w, uint64_t want, uint32_t *stop) {
	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) != want) {
		if (__atomic_load_n(stop, __ATOMIC_RELAXED)) return -1;
		spin_pause();
	}
	return 0;
}

// lap records the time since *last in lat[i], if lat is not NULL.
static inline void lap(int64_t *lat, long i, int64_t *last) {
	if (lat) {
		int64_t t = spin_now();
		lat[i] = t - *last;
		*last = t;
	}
}

// line_pong plays rounds from..from+n-1 of a ping-pong of one 64-byte
// cache line as side me: w[0] is the sequence word (2r+1 for side 0's
// message of round r, 2r+2 for side 1's answer), w[1..7] the payload,
// which each side writes whole and reads whole. It returns the number of
// messages that arrived wrong (their payload is not their round), or -1
// when *stop was set.
static long line_pong(uint64_t *w, uint32_t *stop, int me, long from, long n, int64_t *lat) {
	uint64_t msg[7], got[7];
	long bad = 0;
	int64_t last = lat ? spin_now() : 0;
	for (long i = 0; i < n; i++) {
		uint64_t r = (uint64_t)(from + i);
		for (int k = 0; k < 7; k++) msg[k] = r;
		if (me == 0) {
			memcpy(&w[1], msg, sizeof msg);
			__atomic_store_n(&w[0], 2 * r + 1, __ATOMIC_RELEASE);
			if (spin_until(&w[0], 2 * r + 2, stop)) return -1;
			memcpy(got, &w[1], sizeof got);
		} else {
			if (spin_until(&w[0], 2 * r + 1, stop)) return -1;
			memcpy(got, &w[1], sizeof got);
			memcpy(&w[1], msg, sizeof msg);
			__atomic_store_n(&w[0], 2 * r + 2, __ATOMIC_RELEASE);
		}
		if (got[0] != r || got[6] != r) bad++;
		lap(lat, i, &last);
	}
	return bad;
}

// fill_words writes every byte of b[0:size]: the 8 bytes of v (little
// endian), repeated, by doubling copies, as the Go side's fillWords.
static void fill_words(unsigned char *b, long size, uint64_t v) {
	unsigned char p[8];
	for (int k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
	if (size < 8) {
		memcpy(b, p, size);
		return;
	}
	memcpy(b, p, 8);
	for (long k = 8; k < size; k *= 2) memcpy(b + k, b, k < size - k ? k : size - k);
}

// sum_words reads every byte of b[0:size] and adds it up as the Go side's
// sumWords does: 8-byte little-endian words in four sums, then the tail
// bytes. The loop is kept scalar (no vectorising), as Go's is, so that the
// C rows differ from the shmx rows in the exchange, not in the compiler.
#if defined(__clang__)
#define SCALAR_LOOP _Pragma("clang loop vectorize(disable) interleave(disable)")
#define SCALAR_FN
#else
#define SCALAR_LOOP
#define SCALAR_FN __attribute__((optimize("no-tree-vectorize")))
#endif
SCALAR_FN static uint64_t sum_words(const unsigned char *b, long size) {
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, w[4];
	long i = 0;
	SCALAR_LOOP
	for (; i + 32 <= size; i += 32) {
		memcpy(w, b + i, 32);
		s0 += w[0]; s1 += w[1]; s2 += w[2]; s3 += w[3];
	}
	for (; i + 8 <= size; i += 8) {
		memcpy(w, b + i, 8);
		s0 += w[0];
	}
	for (; i < size; i++) s0 += b[i];
	return s0 + s1 + s2 + s3;
}

// want_sum is sum_words of fill_words(size, v).
static uint64_t want_sum(long size, uint64_t v) {
	uint64_t s = (uint64_t)(size / 8) * v;
	for (long k = 0; k < size % 8; k++) s += (unsigned char)(v >> (8 * k));
	return s;
}

// flag_pong plays rounds from..from+n-1 of a size-byte message round trip
// as side me through two areas of mem, each announced by a sequence word
// that the receiver spins on (r+1 for round r):
//   mem+0: request sequence, mem+128: answer sequence,
//   mem+256: request area, mem+256+area: answer area (area = size rounded up to 128).
// Copying (inplace 0), as the shmx copying rows: side 0 copies its message
// into the request area; side 1 copies it out into its own buffer and back
// into the answer area; side 0 copies the answer out. In place (inplace 1),
// as the zero-copy Ring row: side 0 fills the request area (every byte,
// fill_words), side 1 sums it where it lies (sum_words) and fills the
// answer area, side 0 sums that. It returns the number of messages that
// arrived wrong, or -1 when *stop was set (or no memory for the buffers).
static long flag_pong(unsigned char *mem, uint32_t *stop, long size, int inplace, int me,
		long from, long n, int64_t *lat) {
	uint64_t *reqseq = (uint64_t *)mem, *ansseq = (uint64_t *)(mem + 128);
	long area = (size + 127) & ~127L;
	unsigned char *req = mem + 256, *ans = mem + 256 + area;
	unsigned char *msg = malloc(size + 8), *buf = malloc(size + 8);
	long bad = 0;
	if (!msg || !buf) {
		free(msg);
		free(buf);
		return -1;
	}
	memset(msg, 0, size + 8);
	memset(buf, 0, size + 8);
	int64_t last = lat ? spin_now() : 0;
	for (long i = 0; i < n; i++) {
		uint64_t r = (uint64_t)(from + i), v = r + 1, got;
		if (me == 0) {
			if (inplace) {
				fill_words(req, size, v);
			} else {
				memcpy(msg, &v, 8);
				memcpy(req, msg, size);
			}
			__atomic_store_n(reqseq, v, __ATOMIC_RELEASE);
			if (spin_until(ansseq, v, stop)) goto stopped;
			if (inplace) {
				bad += sum_words(ans, size) != want_sum(size, v);
			} else {
				memcpy(buf, ans, size);
				memcpy(&got, buf, 8);
				bad += size >= 8 && got != v;
			}
		} else {
			if (spin_until(reqseq, v, stop)) goto stopped;
			if (inplace) {
				bad += sum_words(req, size) != want_sum(size, v);
				fill_words(ans, size, v);
			} else {
				memcpy(buf, req, size);
				memcpy(&got, buf, 8);
				bad += size >= 8 && got != v;
				memcpy(ans, buf, size);
			}
			__atomic_store_n(ansseq, v, __ATOMIC_RELEASE);
		}
		lap(lat, i, &last);
	}
	free(msg);
	free(buf);
	return bad;
stopped:
	free(msg);
	free(buf);
	return -1;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// LinePong ping-pongs one cache line at line[0:64]: side 0 writes a
// 56-byte message and its sequence word in the line, side 1 spins until
// it sees it, reads it whole, writes its answer in the same line, and
// side 0 spins until it sees that. It is the least a 64-byte round trip
// between two processes can cost: the line moves to the other CPU and
// back, nothing else happens.
func LinePong(line []byte, stop *uint32, me, from, n int, lat []int64) error {
	if len(line) < LineSize || uintptr(unsafe.Pointer(&line[0]))%LineSize != 0 {
		return errors.New("cbench: LinePong needs 64 aligned bytes")
	}
	p, err := latPtr(lat, n)
	if err != nil {
		return err
	}
	return result(C.line_pong((*C.uint64_t)(unsafe.Pointer(&line[0])), (*C.uint32_t)(unsafe.Pointer(stop)),
		C.int(me), C.long(from), C.long(n), p))
}

// FlagPong plays a round trip of size-byte messages through a request
// and an answer area of mem (FlagSize(size) bytes, 128-byte aligned),
// each published by a spinning sequence word. Copying (inPlace false)
// moves each message through private buffers as the shmx copying rows
// do; in place (inPlace true) the sender writes every byte in the shared
// area and the receiver adds up every byte where it lies, as the
// zero-copy Ring row does, with the same fill and sum loops.
func FlagPong(mem []byte, stop *uint32, size int, inPlace bool, me, from, n int, lat []int64) error {
	if size <= 0 || len(mem) < FlagSize(size) || uintptr(unsafe.Pointer(&mem[0]))%128 != 0 {
		return errors.New("cbench: FlagPong needs FlagSize(size) bytes, 128-byte aligned")
	}
	p, err := latPtr(lat, n)
	if err != nil {
		return err
	}
	in := 0
	if inPlace {
		in = 1
	}
	return result(C.flag_pong((*C.uchar)(unsafe.Pointer(&mem[0])), (*C.uint32_t)(unsafe.Pointer(stop)),
		C.long(size), C.int(in), C.int(me), C.long(from), C.long(n), p))
}

func latPtr(lat []int64, n int) (*C.int64_t, error) {
	if lat == nil {
		return nil, nil
	}
	if len(lat) < n || n < 1 {
		return nil, errors.New("cbench: lat shorter than n")
	}
	return (*C.int64_t)(unsafe.Pointer(&lat[0])), nil
}

func result(bad C.long) error {
	switch {
	case bad < 0:
		return ErrStopped
	case bad > 0:
		return fmt.Errorf("cbench: %d messages arrived wrong", int64(bad))
	}
	return nil
}
