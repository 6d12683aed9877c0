//go:build gc && !purego

package shmx

// ticksAsmRate calibrates the TSC against the monotonic clock: x86 has no
// architectural register holding the TSC rate that user space can read
// everywhere (CPUID leaf 0x15 is missing or zero on most CPUs and VMs).
func ticksAsmRate() uint64 { return calibrate(ticksAsm) }

// tickSource names the counter Ticks reads, for Features.
const tickSource = "RDTSC (time-stamp counter, calibrated)"

// pauseInstruction names the hint Pause executes, for Features.
const pauseInstruction = "PAUSE"
