//go:build gc && !purego

package shmx

// ticksAsmRate reads the counter frequency register, which firmware must
// set to the rate of CNTVCT_EL0; a zero (broken firmware) falls back to
// calibration.
func ticksAsmRate() uint64 {
	if f := counterFreq(); f != 0 {
		return f
	}
	return calibrate(ticksAsm)
}

// counterFreq reads CNTFRQ_EL0, the frequency of CNTVCT_EL0 in Hz.
//
//go:noescape
func counterFreq() uint64

// tickSource names the counter Ticks reads, for Features.
const tickSource = "CNTVCT_EL0 (virtual counter, rate from CNTFRQ_EL0)"

// pauseInstruction names the hint Pause executes, for Features.
const pauseInstruction = "ISB SY"
