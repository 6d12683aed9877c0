//go:build gc && !purego && (amd64 || arm64)

package atomicx

// impls lists the assembly variants of this CPU, then the generic twin,
// switched through useAsm (and useLSE on arm64).
func impls() []impl {
	return append(archImpls(), impl{"generic", false, func() func() {
		old := useAsm
		useAsm = false
		return func() { useAsm = old }
	}})
}
