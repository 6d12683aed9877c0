//go:build !gc || purego || !(amd64 || arm64)

package shmx

// useAsm is false where no assembly exists: Pause and Ticks are always
// the pure-Go twins.
const useAsm = false

func pause() { pauseGeneric() }

func ticks() uint64 { return ticksGeneric() }

func ticksPerSecond() uint64 { return genericTicksPerSecond }
