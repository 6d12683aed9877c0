//go:build gc && !purego

package atomicx

import "golang.org/x/sys/cpu"

// haveAsm is always true: every Armv8-A core has LDAXP/STLXP.
func haveAsm() bool { return true }

// useLSE selects CASPAL (Armv8.1 LSE atomics) over the LDAXP/STLXP loop.
// LSE is what the kernel reports in HWCAP_ATOMICS; tests switch it off to
// run the exclusive-monitor loop too. CASPAL is one instruction that the
// interconnect can execute near the data (far atomics), and it cannot
// livelock under contention as an LL/SC loop can.
var useLSE = cpu.ARM64.HasATOMICS

func casAsm(addr *Uint128, old, new Uint128) bool {
	if useLSE {
		return casLSE(addr, old, new)
	}
	return casLLSC(addr, old, new)
}

func loadAsm(addr *Uint128) Uint128 {
	if useLSE {
		return loadLSE(addr)
	}
	return loadLLSC(addr)
}

// casLSE is CAS128 with CASPAL.
//
//go:noescape
func casLSE(addr *Uint128, old, new Uint128) (swapped bool)

// casLLSC is CAS128 with an LDAXP/STLXP loop.
//
//go:noescape
func casLLSC(addr *Uint128, old, new Uint128) (swapped bool)

// loadLSE is Load128 with CASPAL of zero against zero.
//
//go:noescape
func loadLSE(addr *Uint128) Uint128

// loadLLSC is Load128 with LDAXP and a STLXP of the value read, which
// makes the pair single-copy atomic.
//
//go:noescape
func loadLLSC(addr *Uint128) Uint128
