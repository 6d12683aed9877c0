//go:build gc && !purego

#include "textflag.h"

// Why ISB and not YIELD. YIELD is a hint for SMT cores only; the arm64
// cores Go runs on (Cortex-A/Neoverse, Graviton, Ampere, Apple M) have no
// SMT and discard YIELD as a NOP that retires in under a cycle, so a loop
// of YIELDs hammers the contended line as hard as no hint at all. ISB SY
// stops fetching until the pipeline drains, a stall of tens of cycles:
// the closest arm64 has to x86 PAUSE without WFE/WFET (which need an
// event or Armv8.7). Public record: rust-lang/rust#84725 (2021) switched
// core::hint::spin_loop from YIELD to "isb sy" after measuring YIELD at
// the cost of a NOP on Graviton2; MySQL/MariaDB and BIND did the same;
// HotSpot added -XX:OnSpinWaitInst=isb (JDK-8274564) because "most known
// hardware implementations treat YIELD as NOP"; and Go's own
// runtime.procyield moved from YIELD to ISB (golang/go#69232,
// runtime/asm_arm64.s, Go 1.26). Its latency is implementation specific,
// so callers budget spinning in time (Spinner), never in counts. (This
// machine can only emulate arm64, where timings mean nothing, so the
// choice rests on these sources, not a local measurement.)

// func pauseAsm()
TEXT ·pauseAsm(SB), NOSPLIT|NOFRAME, $0-0
	ISB $15
	RET

// CNTVCT_EL0 is the virtual count of the generic timer, readable from
// EL0 on Linux, macOS, Windows and FreeBSD; it ticks at CNTFRQ_EL0 Hz
// (24 MHz on Apple M1, 1 GHz on Armv8.6+/Armv9 cores) independent of the
// CPU clock. No ISB before it: a few cycles of speculation do not matter
// for spin budgets.

// func ticksAsm() uint64
TEXT ·ticksAsm(SB), NOSPLIT|NOFRAME, $0-8
	MRS  CNTVCT_EL0, R0
	MOVD R0, ret+0(FP)
	RET

// func counterFreq() uint64
TEXT ·counterFreq(SB), NOSPLIT|NOFRAME, $0-8
	MRS  CNTFRQ_EL0, R0
	MOVD R0, ret+0(FP)
	RET
