//go:build gc && !purego

#include "textflag.h"

// PAUSE tells the core it is in a spin-wait loop: it de-pipelines the
// loop (no memory-order mis-speculation flush when the watched line
// changes), yields execution resources to the sibling hyper-thread and
// saves power. It costs ~10 cycles before Skylake, ~140 after (Intel
// optimisation manual 2.5.4), hence budgets in time, not counts.

// func pauseAsm()
TEXT ·pauseAsm(SB), NOSPLIT, $0-0
	PAUSE
	RET

// RDTSC returns the time-stamp counter in DX:AX. It is not ordered with
// surrounding loads, which is fine for spin budgets (see Ticks).

// func ticksAsm() uint64
TEXT ·ticksAsm(SB), NOSPLIT, $0-8
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET
