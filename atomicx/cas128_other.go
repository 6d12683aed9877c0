//go:build !gc || purego || !(amd64 || arm64)

package atomicx

// useAsm is false where no assembly exists: CAS128 and Load128 are always
// the generic twin, atomic within this process only.
const useAsm = false

func native128() bool { return false }

func cas128(addr *Uint128, old, new Uint128) bool { return casGeneric(addr, old, new) }

func load128(addr *Uint128) Uint128 { return loadGeneric(addr) }
