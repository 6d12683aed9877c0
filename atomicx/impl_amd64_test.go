//go:build gc && !purego

package atomicx

func archImpls() []impl {
	if !haveAsm() {
		return nil // no CMPXCHG16B: only the generic twin can run
	}
	return []impl{{"cmpxchg16b", true, func() func() {
		old := useAsm
		useAsm = true
		return func() { useAsm = old }
	}}}
}
