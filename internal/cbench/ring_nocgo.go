//go:build !(cgo && (linux || freebsd))

package cbench

import "time"

// SPSC ring geometry (see the cgo build).
const (
	SPSCSlots = 256
	SPSCMsg   = 64
)

// SPSCSize is the number of bytes a C SPSC ring (SPSCInit) needs (0
// when !Available).
var SPSCSize = 0

// SPSCInit is unavailable in this build.
func SPSCInit(mem []byte) error { panic(unavailable) }

// SPSCProduce is unavailable in this build.
func SPSCProduce(mem []byte, first, n int, deadline time.Time) error { panic(unavailable) }

// SPSCConsume is unavailable in this build.
func SPSCConsume(mem []byte, deadline time.Time) (n, sum uint64, err error) { panic(unavailable) }

// SPSCStop is unavailable in this build.
func SPSCStop(mem []byte, deadline time.Time) error { panic(unavailable) }
