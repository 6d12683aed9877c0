package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/cbench"
	"github.com/shmx/shmx/internal/testproc"
	"github.com/shmx/shmx/shm"
)

// runOnly runs the rows of the groups containing only, with tiny sizes.
func runOnly(t *testing.T, only string, sizes ...int) []Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testproc.Scale(3*time.Minute))
	defer cancel()
	c := Config{Duration: 20 * time.Millisecond, Sizes: sizes, Procs: 2, Bulk: 1 << 20, Peer: peer, Only: only}
	rs, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// find returns the rows of group whose name starts with name.
func find(rs []Result, group, name string) []Result {
	var out []Result
	for _, r := range rs {
		if r.Group == group && strings.HasPrefix(r.Name, name) {
			out = append(out, r)
		}
	}
	return out
}

// checkRoundTrip says what is wrong with a round-trip row, if anything:
// it must have been measured (or skipped where it may be), over some
// round trips, with ordered percentiles (0 only where the clock steps
// more coarsely than the round trip), and an alternative has its ratio.
func checkRoundTrip(t *testing.T, r Result) {
	t.Helper()
	switch {
	case r.Skipped != "" && allowedSkip(r):
		t.Logf("%s / %s skipped: %s", r.Group, r.Name, r.Skipped)
	case r.Skipped != "":
		t.Errorf("%s / %s failed: %s", r.Group, r.Name, r.Skipped)
	case r.Unit != NsPerRoundTrip || r.Value <= 0 || r.Ops <= 0:
		t.Errorf("%s / %s: %v %s over %d round trips", r.Group, r.Name, r.Value, r.Unit, r.Ops)
	case r.P50 > r.P99 || r.P99 > r.P999 || r.P999 == 0 && float64(clockStep()) <= r.Value:
		t.Errorf("%s / %s: percentiles %v %v %v", r.Group, r.Name, r.P50, r.P99, r.P999)
	case !r.Shmx && r.Ratio <= 0:
		t.Errorf("%s / %s: no ratio against %s", r.Group, r.Name, r.Vs)
	default:
		t.Logf("%s / %s: %s, p50 %s", r.Group, r.Name, Value(r), Duration(r.P50))
	}
}

// TestSpinRows runs the wait-strategy and C limit rows of the 64 B round
// trip once each: the shmx rows (Event pair and Ring, under each
// strategy) and the limit must measure (the limit where cgo is), the shmx
// rows report the CPU they cost, and the limit, listed against both
// busy-spin rows, is one measurement.
func TestSpinRows(t *testing.T) {
	const g = "message round trip 64 B"
	rs := runOnly(t, g, 64)
	for _, name := range []string{"memfile + Event, busy-spin", "memfile Ring, busy-spin", "memfile + Event, block", "memfile Ring, block", "memfile + Event", "memfile Ring"} {
		got := find(rs, g, name)
		if len(got) == 0 || !got[0].Shmx {
			t.Fatalf("rows %q: %+v", name, got)
		}
		checkRoundTrip(t, got[0])
		// Windows counts process time in 15.6 ms ticks: a short row
		// may see none.
		if got[0].CPU < 0 || got[0].CPU == 0 && runtime.GOOS != "windows" {
			t.Errorf("%s: CPU per round trip %v", name, got[0].CPU)
		}
	}
	limit := find(rs, g, "C limit: one cache line")
	if len(limit) != 2 {
		t.Fatalf("C limit rows: %+v", limit)
	}
	for _, r := range limit {
		checkRoundTrip(t, r)
	}
	if limit[0].Value != limit[1].Value || limit[0].Vs == limit[1].Vs {
		t.Errorf("the C limit rows are not one measurement against two rows: %+v", limit)
	}
	if !cbench.Available && limit[0].Skipped != errNoCgo.Error() {
		t.Errorf("C limit without cgo: %q", limit[0].Skipped)
	}
}

// TestZeroCopyRows runs the zero-copy Ring rows and their C limits once
// each, at a size that is not a whole number of words.
func TestZeroCopyRows(t *testing.T) {
	const g = "message round trip 4099 B"
	rs := runOnly(t, g, 4099)
	for _, name := range []string{"memfile Ring, zero-copy (", "memfile Ring, zero-copy, busy-spin", "C limit: spinning flag, copied"} {
		got := find(rs, g, name)
		if len(got) != 1 {
			t.Fatalf("rows %q: %+v", name, got)
		}
		checkRoundTrip(t, got[0])
	}
	in := find(rs, g, "C limit: spinning flag, filled")
	if len(in) != 2 || in[0].Value != in[1].Value {
		t.Fatalf("C in-place limit rows: %+v", in)
	}
	for _, r := range in {
		checkRoundTrip(t, r)
	}
}

// TestHugeBulkRow runs the bulk row on huge pages once: it measures
// where this machine can give the memfile huge pages, and is otherwise
// skipped with the reason, never failed.
func TestHugeBulkRow(t *testing.T) {
	if testproc.IsEmulated() && runtime.GOOS == "linux" {
		t.Skip("under qemu-user: huge pages cannot be mapped (see shm's errHugeMap), and few process starts")
	}
	// A probe first: where it gets huge pages, the row cannot say the
	// machine has none (it may still find the pool used up by others).
	probe, perr := shm.Create(fmt.Sprintf("shmx-bench-probe-%d", os.Getpid()), 6<<20, shm.WithHugePages())
	if perr == nil {
		probe.Remove()
		probe.Close()
	}
	rs := runOnly(t, "bulk transfer")
	got := find(rs, "bulk transfer 1 MiB", "memfile Ring, 256 KiB slots, read in place, huge-page segment")
	if len(got) != 1 {
		t.Fatalf("huge-page rows: %+v", rs)
	}
	r := got[0]
	switch {
	case r.Skipped != "" && strings.HasPrefix(r.Skipped, noHuge) && perr == nil && strings.Contains(r.Skipped, "shm: huge pages:"):
		t.Errorf("skipped as unsupported (%s), but a probe got huge pages", r.Skipped)
	case r.Skipped != "" && strings.HasPrefix(r.Skipped, noHuge):
		t.Logf("skipped: %s (the probe before: %v)", r.Skipped, perr)
	case r.Skipped != "":
		t.Errorf("failed: %s", r.Skipped)
	case r.Unit != GiBPerSec || r.Value <= 0 || r.Ops != bulkRounds<<20:
		t.Errorf("%v %s over %d bytes", r.Value, r.Unit, r.Ops)
	default:
		t.Logf("%s", Value(r))
	}
}

// TestFillSum: sumWords adds up exactly what fillWords wrote (wantSum),
// at every length around the word and block sizes, and sees a byte that
// changed.
func TestFillSum(t *testing.T) {
	for size := 0; size < 200; size++ {
		b := make([]byte, size+1)
		b[size] = 0xee // fillWords stays within its slice
		v := uint64(0x0102030405060708) + uint64(size)
		fillWords(b[:size], v)
		for i := range size {
			var w [8]byte
			binary.LittleEndian.PutUint64(w[:], v)
			if b[i] != w[i%8] {
				t.Fatalf("size %d: byte %d is %#x, want %#x", size, i, b[i], w[i%8])
			}
		}
		if b[size] != 0xee {
			t.Fatalf("size %d: fillWords wrote past the end", size)
		}
		if got, want := sumWords(b[:size]), wantSum(size, v); got != want {
			t.Fatalf("size %d: sum %#x, want %#x", size, got, want)
		}
		if size > 0 {
			b[size/2]++
			if sumWords(b[:size]) == wantSum(size, v) {
				t.Fatalf("size %d: a changed byte went unseen", size)
			}
		}
	}
}
