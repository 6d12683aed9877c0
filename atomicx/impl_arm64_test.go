//go:build gc && !purego

package atomicx

import "golang.org/x/sys/cpu"

// archImpls lists CASPAL when the CPU has LSE atomics (qemu's default
// "max" CPU does) and the LDAXP/STLXP loop, which every arm64 CPU runs.
func archImpls() []impl {
	set := func(lse bool) func() func() {
		return func() func() {
			oldAsm, oldLSE := useAsm, useLSE
			useAsm, useLSE = true, lse
			return func() { useAsm, useLSE = oldAsm, oldLSE }
		}
	}
	var list []impl
	if cpu.ARM64.HasATOMICS {
		list = append(list, impl{"caspal", true, set(true)})
	}
	return append(list, impl{"ldaxp", true, set(false)})
}
