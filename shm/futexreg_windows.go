package shm

// registerFutex and unregisterFutex: see futexreg.go. Until package futex
// builds on Windows they do nothing here.
func registerFutex(mem []byte, osName string) error { return nil }

func unregisterFutex(mem []byte) {}
