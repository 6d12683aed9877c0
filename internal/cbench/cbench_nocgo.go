//go:build !(cgo && (linux || freebsd))

package cbench

// Available reports whether the C baselines are built in: they need cgo
// on Linux or FreeBSD.
const Available = false

func sharedSize() int { return 0 }

const unavailable = "cbench: C baselines need cgo on Linux or FreeBSD"

// InitShared is unavailable in this build.
func InitShared(mem []byte) error { panic(unavailable) }

// LockLoop is unavailable in this build.
func LockLoop(mem []byte, n int) { panic(unavailable) }

// RWLoop is unavailable in this build.
func RWLoop(mem []byte, n int, counter *uint64) { panic(unavailable) }

// TimedLockLoop is unavailable in this build.
func TimedLockLoop(mem []byte, n int, counter *uint64) int64 { panic(unavailable) }

// PingPong is unavailable in this build.
func PingPong(mem []byte, me, n int) { panic(unavailable) }

// PollPong is unavailable in this build.
func PollPong(mem []byte, me, n int) { panic(unavailable) }
