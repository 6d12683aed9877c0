// Package atomicx gives atomic access to words inside shared memory: the
// one place in shmx that turns bytes of a mapping into atomic words, and
// a 128-bit compare-and-swap that Go's sync/atomic lacks.
//
// Uint32At and Uint64At return sync/atomic's own types, so loads, stores,
// adds and CAS compile to the same single instructions as on Go memory,
// and work across processes because the hardware (not the Go runtime)
// makes them atomic: a LOCK-prefixed instruction on x86 and LSE or
// exclusive-monitor instructions on arm64 act on physical memory, which
// every process mapping the segment shares. They check bounds and natural
// alignment, because the offsets come from layouts that another, possibly
// broken, process wrote, and a misaligned atomic is torn or faults.
//
// CAS128 and Load128 operate on a 16-byte-aligned Uint128 with
// LOCK CMPXCHG16B on amd64 and CASPAL (LSE) or an LDAXP/STLXP loop on
// arm64. Where no such instruction is available (other architectures,
// the purego build tag, an amd64 CPU without CMPXCHG16B) they fall back
// to striped locks inside the process: still atomic among the goroutines
// of one process, but NOT across processes. Native128 reports which one
// this process uses; code that shares a Uint128 between processes must
// check it.
//
//	b := seg.Bytes()                       // a shared mapping
//	n, err := atomicx.Uint64At(b, 64)      // the counter at offset 64
//	if err != nil {
//		return err // errors.Is(err, atomicx.ErrUnaligned) or ErrRange
//	}
//	n.Add(1)
package atomicx
