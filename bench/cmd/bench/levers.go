package main

import (
	"context"
	"fmt"

	"github.com/snakepit-wasm/snakepit/internal/bench/programs"
	"github.com/snakepit-wasm/snakepit/internal/knobs"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// oursNone is snakepit in a runtime compiled without a stop mechanism: its
// ratio to ours is what the tick and the loop checks cost.
const oursNone = "snakepit interrupt=none"

// LeverResult is one operation of programs.Levers: CPU time of one call of
// _lever_<Name>() on each side (Per operations), one time a repetition.
type LeverResult struct {
	Name   string
	Per    int
	Times  map[string][]float64
	Median map[string]float64 // per operation
}

// levers times programs.Levers on every side, in turns on one CPU, and what
// a fresh call would save by unmarshalling its cell's code instead of
// compiling it.
func (b *bench) levers(ctx context.Context) error {
	setup := programs.Levers
	p, np, dp, err := b.warmPair(ctx, runtime.Options{Limits: runtime.Limits{MaxMemory: cpuMemoryLimit}}, setup, setup)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	defer np.Close()
	defer closeNil(dp)
	b.logf("starting a runtime with interrupt=none (compiles unless cached)")
	rtNone, err := runtime.New(knobs.With(ctx, knobs.Knobs{Interrupt: knobs.None}), runtime.Config{})
	if err != nil {
		return err
	}
	defer rtNone.Close(context.Background())
	pNone, err := pool.New(ctx, rtNone, pool.Options{Mode: pool.ModeWarm, Size: 1, Setup: setup,
		Instance: runtime.Options{Limits: runtime.Limits{MaxMemory: cpuMemoryLimit}}})
	if err != nil {
		return err
	}
	defer pNone.Close(context.Background())
	sides := warmSides(p, np, dp)
	none := oursSide(pNone)
	none.name = oursNone
	sides = append(sides[:1], append([]warmSide{none}, sides[1:]...)...)

	rows := map[string]*LeverResult{}
	for _, name := range programs.LeverNames {
		rows[name] = &LeverResult{Name: name, Times: map[string][]float64{}, Median: map[string]float64{}}
		b.res.Levers = append(b.res.Levers, rows[name])
	}
	err = b.warmTurns(ctx, b.cfg.CPUReps, programs.LeverNames, leverSides(sides), func(name, side string, rep int, _, cpu float64, sum string) {
		r := rows[name]
		if _, err := fmt.Sscan(sum, &r.Per); err != nil || r.Per <= 0 {
			r.Per = 1
		}
		if rep >= 0 {
			r.Times[side] = append(r.Times[side], cpu/float64(r.Per))
		}
	})
	if err != nil {
		return err
	}
	for _, r := range b.res.Levers {
		for side, ts := range r.Times {
			r.Median[side] = median(ts)
		}
	}
	return b.freshCode(ctx)
}

// leverSides calls _lever_<name> instead of _run_<name>.
func leverSides(sides []warmSide) []warmSide {
	out := make([]warmSide, len(sides))
	for i, s := range sides {
		call := s.call
		s.call = func(ctx context.Context, fn string) ([]byte, error) {
			return call(ctx, "_lever_"+fn[len("_run_"):])
		}
		out[i] = s
	}
	return out
}

// freshCodeSetup is the fresh pools' snapshot: _compiled compiles like Exec
// does without a code cache, _noop is the floor.
const freshCodeSetup = `def _compiled():
    exec(compile('x = 1', '<exec>', 'exec'), globals())
def _noop():
    pass
`

// freshCode measures fresh calls on ModeFresh pools of one worker: Exec of
// x = 1 with the snapshot's code cache (runtime.Snapshot.CodeCache) and
// without it (each call compiles its cell); a call that compiles; and an
// empty call, the floor.
func (b *bench) freshCode(ctx context.Context) error {
	fp, err := pool.New(ctx, b.rt, pool.Options{Mode: pool.ModeFresh, Size: 1, Setup: freshCodeSetup})
	if err != nil {
		return err
	}
	defer fp.Close(context.Background())
	np, err := pool.New(knobs.With(ctx, knobs.Knobs{NoCodeCache: true}), b.rt, pool.Options{Mode: pool.ModeFresh, Size: 1, Setup: freshCodeSetup})
	if err != nil {
		return err
	}
	defer np.Close(context.Background())
	series := []struct {
		name string
		f    op
	}{
		{"Exec(\"x = 1\"), code cache", poolOp(fp, runtime.Exec("x = 1"), nil)},
		{"Exec(\"x = 1\"), no code cache", poolOp(np, runtime.Exec("x = 1"), nil)},
		{"Call: compile + exec of x = 1", poolOp(fp, runtime.Call("_compiled"), nil)},
		{"Call: an empty function", poolOp(fp, runtime.Call("_noop"), nil)},
	}
	for _, s := range series {
		if _, err := closedLoop(ctx, 1, b.cfg.Warmup, s.f); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	rows := map[string]*LatencyResult{}
	for rep := range b.cfg.Reps {
		for _, s := range inTurn(series, rep) {
			lr, err := closedLoop(ctx, 1, b.cfg.Duration, s.f)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if rows[s.name] == nil {
				rows[s.name] = &LatencyResult{Workload: s.name, Side: ours, Callers: 1, PoolSize: 1}
				b.res.FreshCode = append(b.res.FreshCode, rows[s.name])
			}
			rows[s.name].Reps = append(rows[s.name].Reps, lr)
			b.logf("fresh rep %d/%d %-38s p50 %s  %.0f calls/s (load %s)", rep+1, b.cfg.Reps, s.name, fmtUs(lr.P50us), lr.OpsPerSec, loadAvg())
		}
	}
	for _, r := range b.res.FreshCode {
		r.P50us = median(mapf(r.Reps, func(x LatencyRep) float64 { return x.P50us }))
		r.P99us = median(mapf(r.Reps, func(x LatencyRep) float64 { return x.P99us }))
		r.OpsPerSec = median(mapf(r.Reps, func(x LatencyRep) float64 { return x.OpsPerSec }))
	}
	return nil
}
