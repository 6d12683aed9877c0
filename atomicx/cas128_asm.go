//go:build gc && !purego && (amd64 || arm64)

package atomicx

// useAsm selects the assembly CAS128 and Load128. It starts as whether
// the CPU has the instructions; tests switch it off to run the generic
// twin through the public API in the same binary and compare.
var useAsm = haveAsm()

func native128() bool { return useAsm }

func cas128(addr *Uint128, old, new Uint128) bool {
	if useAsm {
		return casAsm(addr, old, new)
	}
	return casGeneric(addr, old, new)
}

func load128(addr *Uint128) Uint128 {
	if useAsm {
		return loadAsm(addr)
	}
	return loadGeneric(addr)
}
