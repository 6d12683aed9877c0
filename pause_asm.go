//go:build gc && !purego && (amd64 || arm64)

package shmx

import "sync"

// useAsm selects the assembly Pause and Ticks. It is true in every
// assembly build; tests switch it off to run the pure-Go twins through the
// public API in the same binary and compare.
var useAsm = true

// asmTicksPerSecond caches the rate of ticksAsm, measured or read once.
var asmTicksPerSecond = sync.OnceValue(ticksAsmRate)

func pause() {
	if useAsm {
		pauseAsm()
		return
	}
	pauseGeneric()
}

func ticks() uint64 {
	if useAsm {
		return ticksAsm()
	}
	return ticksGeneric()
}

func ticksPerSecond() uint64 {
	if useAsm {
		return asmTicksPerSecond()
	}
	return genericTicksPerSecond
}

// pauseAsm executes one spin-wait hint instruction (PAUSE; ISB SY).
//
//go:noescape
func pauseAsm()

// ticksAsm reads the CPU's tick counter (RDTSC; CNTVCT_EL0).
//
//go:noescape
func ticksAsm() uint64
