// Package futex waits and wakes on a 32-bit word that may live in memory
// shared between processes: the kernel-assisted sleep under every lock of
// shmx.
//
// Wait sleeps while *addr == val; Wake wakes waiters sleeping on the same
// word. Both meet across processes even when the shared segment is mapped
// at a different address in each, because the kernel keys a shared wait by
// the page it lives on, not by its virtual address:
//
//   - Linux: futex(2) with FUTEX_WAIT_BITSET/FUTEX_WAKE, never the _PRIVATE
//     variants (those are keyed by address and never cross processes).
//   - FreeBSD: _umtx_op(2) with UMTX_OP_WAIT_UINT/UMTX_OP_WAKE (shared).
//   - macOS: __ulock_wait/__ulock_wake with UL_COMPARE_AND_WAIT_SHARED.
//   - Windows: WaitOnAddress wakes only threads of its own process, so a
//     word inside a registered shared mapping (see Register) sleeps on a
//     named kernel semaphore instead; see futex_windows.go.
//
// Like Go's runtime futexsleep, Wait may return spuriously: callers
// re-check their word in a loop.
package futex

import (
	"errors"
	"time"
)

// ErrUnaligned is returned for a word that is not 4-byte aligned; no OS
// can wait on such a word.
var ErrUnaligned = errors.New("futex: address not aligned to 4 bytes")
