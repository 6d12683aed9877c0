//go:build gc && !purego

#include "textflag.h"

// LOCK CMPXCHG16B compares DX:AX with the 16 bytes at (DI) (AX with the
// lower 8 bytes, Lo); if equal it stores CX:BX and sets ZF, else it loads
// the memory into DX:AX and clears ZF. The LOCK prefix makes it atomic
// and a full barrier; without 16-byte alignment it raises #GP, hence the
// alignment check in CAS128.

// func casAsm(addr *Uint128, old Uint128, new Uint128) (swapped bool)
TEXT ·casAsm(SB), NOSPLIT, $0-41
	MOVQ addr+0(FP), DI
	MOVQ old_Lo+8(FP), AX
	MOVQ old_Hi+16(FP), DX
	MOVQ new_Lo+24(FP), BX
	MOVQ new_Hi+32(FP), CX
	LOCK
	CMPXCHG16B (DI)
	SETEQ swapped+40(FP)
	RET

// Comparing against zero and storing zero leaves memory unchanged either
// way and leaves the current value in DX:AX.

// func loadAsm(addr *Uint128) Uint128
TEXT ·loadAsm(SB), NOSPLIT, $0-24
	MOVQ addr+0(FP), DI
	XORL AX, AX
	XORL DX, DX
	XORL BX, BX
	XORL CX, CX
	LOCK
	CMPXCHG16B (DI)
	MOVQ AX, ret_Lo+8(FP)
	MOVQ DX, ret_Hi+16(FP)
	RET
