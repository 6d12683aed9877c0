//go:build gc && !purego

package atomicx

import "golang.org/x/sys/cpu"

// haveAsm reports CMPXCHG16B, absent only on the first x86-64 CPUs
// (before 2006) and on some emulators; Go's amd64 baseline (v1) does not
// promise it.
func haveAsm() bool { return cpu.X86.HasCX16 }

// casAsm is CAS128 with LOCK CMPXCHG16B.
//
//go:noescape
func casAsm(addr *Uint128, old, new Uint128) (swapped bool)

// loadAsm is Load128 with LOCK CMPXCHG16B of zero against zero.
//
//go:noescape
func loadAsm(addr *Uint128) Uint128
