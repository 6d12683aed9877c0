package bench

import (
	"context"
	"testing"
	"time"
)

// TestInterleaved checks that interleaved runs its measurements in turns,
// each for a fifth of the duration, once for all of its rows, and merges
// the parts: percentiles over every part's round trips, means weighted
// by round trips, an error reported for its own row only.
func TestInterleaved(t *testing.T) {
	e := &env{Config: Config{Duration: 50 * time.Millisecond}}
	var order []int
	part := func(i int, lat ...int64) func(context.Context) (Result, error) {
		return func(context.Context) (Result, error) {
			if e.Duration != 10*time.Millisecond {
				t.Errorf("measurement %d ran for %v, want a fifth of 50ms", i, e.Duration)
			}
			order = append(order, i)
			r := Result{Unit: NsPerRoundTrip, CPU: float64(i + 1)}
			var sum int64
			for _, v := range lat {
				sum += v
			}
			percentiles(&r, append([]int64(nil), lat...), time.Duration(sum))
			return r, nil
		}
	}
	fail := func(context.Context) (Result, error) {
		order = append(order, 2)
		return Result{}, errNoCgo
	}
	fns := e.interleaved(part(0, 100, 300), part(1, 10), fail)
	r0, err := fns[0](context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []int{0, 1, 2, 0, 1, 0, 1, 0, 1, 0, 1}
	if len(order) != len(want) {
		t.Fatalf("ran %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("ran %v, want %v", order, want)
		}
	}
	if e.Duration != 50*time.Millisecond {
		t.Errorf("Duration left at %v", e.Duration)
	}
	if r0.Ops != 10 || r0.Value != 200 || r0.P50 != 100 || r0.P99 != 300 || r0.CPU != 1 {
		t.Errorf("merged %+v, want 10 round trips, mean 200, p50 100, p99 300, CPU 1", r0)
	}
	r1, err := fns[1](context.Background())
	if err != nil || r1.Ops != 5 || r1.Value != 10 || r1.CPU != 2 {
		t.Errorf("second row %+v, %v", r1, err)
	}
	if _, err := fns[2](context.Background()); err != errNoCgo {
		t.Errorf("third row: %v, want errNoCgo", err)
	}
	if len(order) != len(want) {
		t.Errorf("rows after the first measured again: %v", order)
	}
}

// TestMergeRates checks that a rate's parts merge as all the operations
// over all the time, not as a mean of the rates.
func TestMergeRates(t *testing.T) {
	r := mergeResults([]Result{
		{Unit: OpsPerSec, Value: 100, Ops: 100}, // 1 s
		{Unit: OpsPerSec, Value: 50, Ops: 100},  // 2 s
	})
	if r.Ops != 200 || r.Value < 66.6 || r.Value > 66.7 {
		t.Errorf("merged %+v, want 200 ops at 66.7 ops/s", r)
	}
	if r.P50 != 0 || r.Max != 0 {
		t.Errorf("merged rates without samples have percentiles: %+v", r)
	}
}

// TestMergeRateWaits: a rate whose parts timed something besides (the
// RWMutex row's writer waits) keeps its value, and its percentiles and
// longest wait are those of all the parts' samples.
func TestMergeRateWaits(t *testing.T) {
	a := Result{Unit: OpsPerSec, Value: 100, Ops: 100, Max: 900}
	fillPercentiles(&a, []int64{30, 10, 20})
	b := Result{Unit: OpsPerSec, Value: 50, Ops: 100, Max: 4000}
	fillPercentiles(&b, []int64{40})
	if a.P50 != 20 || a.Value != 100 {
		t.Fatalf("fillPercentiles: %+v, want p50 20 and the value kept", a)
	}
	r := mergeResults([]Result{a, b})
	if r.Value < 66.6 || r.Value > 66.7 {
		t.Errorf("merged rate %v, want 66.7 ops/s", r.Value)
	}
	if r.P50 != 20 || r.P99 != 30 || r.Max != 4000 {
		t.Errorf("merged waits p50 %v p99 %v max %v, want 20, 30 and 4000", r.P50, r.P99, r.Max)
	}
}
