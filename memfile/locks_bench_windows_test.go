package memfile

const flockAvailable = false

func flockLoop(path string, k int, c *uint64) int64 { panic("flock is Unix-only") }
