//go:build !gc || purego || !(amd64 || arm64)

package shmx

// tickSource names the counter Ticks reads, for Features.
const tickSource = "monotonic clock (pure Go, ns)"

// pauseInstruction names the hint Pause executes, for Features.
const pauseInstruction = "none (pure Go: an empty non-inlined call)"
