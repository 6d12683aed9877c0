//go:build !gc || purego || !(amd64 || arm64)

package atomicx

// impls has only the generic twin where there is no assembly.
func impls() []impl {
	return []impl{{"generic", false, func() func() { return func() {} }}}
}
