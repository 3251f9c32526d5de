// Package knobs holds the runtime's settings that only the project's own
// tools turn: the benchmarks, the profiler and the tests that measure what
// the stop mechanism costs. Users get the defaults; a knob reaches
// runtime.New through the context, so that no exported field carries a
// setting that is only safe for measuring.
package knobs

import (
	"context"
	"fmt"
)

// Interrupt selects how running guests are stopped and preempted.
type Interrupt int

const (
	// Loops (the default) counts down a budget at CPython's check points
	// and at loop headers, and yields to the host when it runs out or the
	// call's context ends.
	Loops Interrupt = iota
	// CloseOnDone uses wazero's WithCloseOnContextDone: a check at every
	// loop header and function entry. Slower; kept for comparison.
	CloseOnDone
	// None compiles no stop mechanism. A spinning guest can then neither be
	// stopped nor preempted, and it stalls the Go garbage collector. Only
	// for measuring what the mechanisms cost.
	None
)

func (i Interrupt) String() string {
	switch i {
	case Loops:
		return "loops"
	case CloseOnDone:
		return "close-on-done"
	case None:
		return "none"
	}
	return fmt.Sprintf("Interrupt(%d)", int(i))
}

// DefaultYieldBudget is the number of checks a guest passes between two
// yields to the host (tens of µs in tight C loops, up to about a millisecond
// of Python code). Each yield is a call into Go, a safe point for a
// stop-the-world; it calls runtime.Gosched at most once a millisecond.
// Lower costs compute (5,000 cost 1.75x with a Gosched at every yield),
// higher lets a stop-the-world wait longer.
const DefaultYieldBudget = 20000

// Knobs are the settings; the zero value is the default.
type Knobs struct {
	Interrupt Interrupt
	// YieldBudget is the countdown of Loops; 0 means DefaultYieldBudget.
	YieldBudget int32
	// AllLoops checks every loop header, the eval loop's dispatch included,
	// with CPython's tick calls turned into nops: what the ticks save.
	AllLoops bool
	// InLoopYield checks loops as before they were split: the yield call
	// inside each loop.
	InLoopYield bool
	// NoCodeCache makes a snapshot without a code cache: its fresh calls
	// compile their source, as before the cache. Unlike the others,
	// runtime.NewSnapshot reads it from its own context, so that one
	// runtime holds snapshots with and without, side by side.
	NoCodeCache bool
	// NewCallStack makes a snapshot's clones start each call after Reset
	// on a new wazero call stack, as before resets kept it (read as
	// NoCodeCache is): what regrowing it costs a fresh call.
	NewCallStack bool
}

type key struct{}

// With returns ctx carrying k for runtime.New.
func With(ctx context.Context, k Knobs) context.Context { return context.WithValue(ctx, key{}, k) }

// From returns the knobs ctx carries, with the defaults filled in.
func From(ctx context.Context) Knobs {
	k, _ := ctx.Value(key{}).(Knobs)
	if k.YieldBudget <= 0 {
		k.YieldBudget = DefaultYieldBudget
	}
	return k
}
