//go:build gc && !purego

#include "textflag.h"

// Go's assembler knows CASPD (no ordering) but not CASPAL, so CASPAL is
// spelled as its encoding (checked with llvm-mc -mattr=+lse):
//	CASPAL X4, X5, X6, X7, [X0]   = 0x4864fc06
// It compares X5:X4 with the 16 bytes at [X0] (X4 with the lower 8 bytes,
// Lo), stores X7:X6 when they are equal, and always returns the old memory
// in X5:X4, with acquire and release semantics: the sequential consistency
// Go's own CASAL-based CompareAndSwap gives.
#define CASPAL_R4_R6_R0 WORD $0x4864fc06

// func casLSE(addr *Uint128, old Uint128, new Uint128) (swapped bool)
TEXT ·casLSE(SB), NOSPLIT|NOFRAME, $0-41
	MOVD addr+0(FP), R0
	MOVD old_Lo+8(FP), R4
	MOVD old_Hi+16(FP), R5
	MOVD new_Lo+24(FP), R6
	MOVD new_Hi+32(FP), R7
	MOVD R4, R2
	MOVD R5, R3
	CASPAL_R4_R6_R0
	CMP  R2, R4
	CCMP EQ, R3, R5, $0
	CSET EQ, R8
	MOVB R8, swapped+40(FP)
	RET

// func loadLSE(addr *Uint128) Uint128
TEXT ·loadLSE(SB), NOSPLIT|NOFRAME, $0-24
	MOVD addr+0(FP), R0
	MOVD ZR, R4
	MOVD ZR, R5
	MOVD ZR, R6
	MOVD ZR, R7
	CASPAL_R4_R6_R0
	MOVD R4, ret_Lo+8(FP)
	MOVD R5, ret_Hi+16(FP)
	RET

// The exclusive-monitor loop. LDAXP alone is not single-copy atomic for
// 16 bytes before Armv8.4; a successful STLXP proves no other observer
// wrote the pair in between, so a swap is atomic. A failed comparison
// needs no store: each half read was the memory's value at some instant,
// so "not equal" is a true answer at that instant.

// func casLLSC(addr *Uint128, old Uint128, new Uint128) (swapped bool)
TEXT ·casLLSC(SB), NOSPLIT|NOFRAME, $0-41
	MOVD addr+0(FP), R0
	MOVD old_Lo+8(FP), R4
	MOVD old_Hi+16(FP), R5
	MOVD new_Lo+24(FP), R6
	MOVD new_Hi+32(FP), R7
again:
	LDAXP (R0), (R2, R3)
	CMP   R4, R2
	BNE   fail
	CMP   R5, R3
	BNE   fail
	STLXP (R6, R7), (R0), R8
	CBNZ  R8, again
	MOVD  $1, R9
	MOVB  R9, swapped+40(FP)
	RET
fail:
	CLREX
	MOVB ZR, swapped+40(FP)
	RET

// func loadLLSC(addr *Uint128) Uint128
TEXT ·loadLLSC(SB), NOSPLIT|NOFRAME, $0-24
	MOVD addr+0(FP), R0
loop:
	LDAXP (R0), (R2, R3)
	STLXP (R2, R3), (R0), R4
	CBNZ  R4, loop
	MOVD  R2, ret_Lo+8(FP)
	MOVD  R3, ret_Hi+16(FP)
	RET
