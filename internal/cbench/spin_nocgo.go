//go:build !(cgo && (linux || freebsd))

package cbench

// LinePong is unavailable in this build.
func LinePong(line []byte, stop *uint32, me, from, n int, lat []int64) error { panic(unavailable) }

// FlagPong is unavailable in this build.
func FlagPong(mem []byte, stop *uint32, size int, inPlace bool, me, from, n int, lat []int64) error {
	panic(unavailable)
}
