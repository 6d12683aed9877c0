package shmx

// Pause executes one spin-wait hint: PAUSE on amd64 and ISB on arm64 (see
// asm_arm64.s for why not YIELD). A spin loop that re-reads a shared word
// calls it between reads so that the core backs off the contended cache
// line, frees pipeline resources for its hyper-thread sibling and, on x86,
// avoids the memory-order mis-speculation flush when the word changes.
//
// The cost of one Pause differs widely between CPUs (about 10 cycles on
// Intel before Skylake, about 140 after), so spin by time, not by count:
// see Spinner. With the purego build tag, on other architectures or with
// other compilers, Pause is the pure-Go twin pauseGeneric.
func Pause() { pause() }

// pauseGeneric is the pure-Go twin of the assembly Pause. Go has no
// portable spin hint, so it is an empty call the compiler may not inline:
// it keeps a spin loop from being optimised into nothing and costs a
// nanosecond or two. Spinner bounds spinning by time, so a cheap hint
// only makes the loop re-check more often, never spin longer.
//
//go:noinline
func pauseGeneric() {}
