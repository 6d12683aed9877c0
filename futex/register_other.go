//go:build !windows

package futex

// register has nothing to record outside Windows: the kernel keys shared
// waits by memory object, whatever the address of the view.
func register(mem []byte, name string) error { return nil }

// unregister is the no-op counterpart of register.
func unregister(mem []byte) {}
