package shmx

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

func TestDetectString(t *testing.T) {
	f := Detect()
	if f.GOARCH != runtime.GOARCH || f.GOOS != runtime.GOOS {
		t.Errorf("Detect platform %s/%s, want %s/%s", f.GOOS, f.GOARCH, runtime.GOOS, runtime.GOARCH)
	}
	if f.Assembly != useAsm {
		t.Errorf("Assembly = %v, want %v", f.Assembly, useAsm)
	}
	if f.TicksPerSecond == 0 || f.PauseNanos <= 0 {
		t.Errorf("TicksPerSecond %d, PauseNanos %v: want > 0", f.TicksPerSecond, f.PauseNanos)
	}
	s := f.String()
	for _, key := range []string{"platform:", "cpu:", "assembly:", "cache line:", "pause:", "ticks per second:", "spinning:"} {
		if !strings.Contains(s, key) {
			t.Errorf("report lacks %q:\n%s", key, s)
		}
	}
	if runtime.GOARCH == "amd64" && !strings.Contains(s, "cmpxchg16b:") {
		t.Errorf("amd64 report lacks cmpxchg16b:\n%s", s)
	}
	if runtime.GOARCH == "arm64" && !strings.Contains(s, "lse atomics:") {
		t.Errorf("arm64 report lacks lse atomics:\n%s", s)
	}
	t.Logf("\n%s", s)
}

func TestCacheLine(t *testing.T) {
	n := CacheLineSize
	if n < 16 || n > CacheLinePadSize*8 || n&(n-1) != 0 {
		t.Errorf("CacheLineSize = %d, want a power of two in [16, 1024]", n)
	}
	if got := unsafe.Sizeof(CacheLinePad{}); got != CacheLinePadSize {
		t.Errorf("sizeof(CacheLinePad) = %d, want %d", got, CacheLinePadSize)
	}
}
