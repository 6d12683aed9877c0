package bench

import (
	"context"
	"time"
)

// interleaveRounds is how many parts interleaved cuts each of its
// measurements into.
const interleaveRounds = 5

// interleaved returns one row function per measurement of runs, which
// together measure them in turns: interleaveRounds rounds, each running
// every measurement once for Duration/interleaveRounds, in order, the
// parts of each merged into one result (its percentiles over all of its
// round trips). The first of the row functions to run makes every
// measurement; the others return their share of it.
//
// It is for rows whose ratio is the point, a shmx row against its C
// limit: on the shared virtual machines measured, how fast a cache line
// moves between the two CPUs changes by 3-4x from one stretch of seconds
// to the next (the C one-line ping-pong alone has a p50 of 80-100 ns in
// some runs and 380-400 ns in others), so rows measured a few seconds
// apart can land on different sides of such a change, and their ratio
// then says nothing about shmx. Parts a fifth of a second long, taken in
// turns, see the same machine.
func (e *env) interleaved(runs ...func(context.Context) (Result, error)) []func(context.Context) (Result, error) {
	var (
		done bool
		out  []Result
		errs []error
	)
	measure := func(ctx context.Context) {
		done = true
		parts := make([][]Result, len(runs))
		errs = make([]error, len(runs))
		d := e.Duration
		e.Duration = max(d/interleaveRounds, time.Millisecond)
		defer func() { e.Duration = d }()
		for range interleaveRounds {
			for i, run := range runs {
				if errs[i] != nil {
					continue // skipped here (no cgo, say), or failed: once is enough
				}
				r, err := run(ctx)
				if err != nil {
					errs[i] = err
					continue
				}
				parts[i] = append(parts[i], r)
			}
		}
		out = make([]Result, len(runs))
		for i := range runs {
			out[i] = mergeResults(parts[i])
		}
	}
	fns := make([]func(context.Context) (Result, error), len(runs))
	for i := range runs {
		fns[i] = func(ctx context.Context) (Result, error) {
			if !done {
				measure(ctx)
			}
			return out[i], errs[i]
		}
	}
	return fns
}

// mergeResults makes one result of the parts of a measurement: its
// round trips' percentiles, and the mean time and CPU per round trip
// over all of them; for a rate, all the operations over all the time.
func mergeResults(parts []Result) Result {
	if len(parts) == 0 {
		return Result{}
	}
	r := Result{Unit: parts[0].Unit}
	var total, cpu float64 // ns in all: Value is per op, or ops per second
	var all []int64
	for _, p := range parts {
		r.Ops += p.Ops
		if r.LowerIsBetter() {
			total += p.Value * float64(p.Ops)
		} else if p.Value > 0 {
			total += float64(p.Ops) / p.Value * 1e9
		}
		cpu += p.CPU * float64(p.Ops)
		all = append(all, p.samples...)
		r.Max = max(r.Max, p.Max)
	}
	if r.Ops == 0 || total == 0 {
		return r
	}
	ops := r.Ops
	switch {
	case !r.LowerIsBetter():
		r.Value = float64(ops) / total * 1e9 // a rate: all ops over all the time
		fillPercentiles(&r, all)             // of what the parts timed besides, if anything
	case int64(len(all)) == ops:
		percentiles(&r, all, time.Duration(total))
	default:
		r.Value = total / float64(ops) // parts without round-trip times
	}
	r.CPU = cpu / float64(ops)
	return r
}
