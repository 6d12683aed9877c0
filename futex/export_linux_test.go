package futex

// ForcePollWaitAny makes WaitAny poll, as on a kernel without
// futex_waitv, until the returned function restores it.
func ForcePollWaitAny() (restore func()) {
	old := noWaitv.Load()
	noWaitv.Store(true)
	return func() { noWaitv.Store(old) }
}
