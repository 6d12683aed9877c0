//go:build !linux

package futex_test

func forcePoll() func() { return nil }
