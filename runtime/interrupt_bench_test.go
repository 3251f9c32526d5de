//go:build linux

package runtime_test

import (
	"context"
	"fmt"
	"math"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/bench/programs"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// BenchmarkInterrupt runs the CPU-bound suite under each stop/preempt
// mechanism, side by side in one process and one program at a time, so that a
// noisy machine hits them all alike: the cost of ours against none, against
// wazero's, and against ours checking the eval loop's dispatch too. It logs
// each program's fastest call (CPU time) under each mechanism, its ratio to
// none and their geometric means: with -count=5, the method of RATIONALE.md.
func BenchmarkInterrupt(b *testing.B) {
	mechs := []struct {
		name string
		cfg  runtime.Config
	}{
		{"none", runtime.Config{Interrupt: runtime.InterruptNone}},
		{"loops", runtime.Config{Interrupt: runtime.InterruptLoops}},
		{"loops-all", runtime.WithAllLoops(runtime.Config{Interrupt: runtime.InterruptLoops})},
		{"close-on-done", runtime.Config{Interrupt: runtime.InterruptCloseOnDone}},
	}
	insts := map[string]*runtime.Instance{}
	for _, mech := range mechs {
		r, err := runtime.New(context.Background(), mech.cfg)
		require.NoError(b, err)
		defer r.Close(ctx)
		inst, err := r.NewInstance(ctx, runtime.Options{MemoryLimit: 1 << 30})
		require.NoError(b, err)
		for _, p := range programs.All() {
			_, err := inst.Exec(ctx, p.Source+"\n_run_"+p.Name+" = run\n")
			require.NoError(b, err)
		}
		insts[mech.name] = inst
	}
	best := map[string]map[string]time.Duration{} // program, mechanism: fastest call
	for _, p := range programs.All() {
		best[p.Name] = map[string]time.Duration{}
		b.Run(p.Name, func(b *testing.B) {
			for _, mech := range mechs {
				b.Run(mech.name, func(b *testing.B) {
					// Thread CPU time besides wall time: on a shared machine
					// it is far less disturbed by other processes.
					goruntime.LockOSThread()
					defer goruntime.UnlockOSThread()
					var cpu time.Duration
					for b.Loop() {
						t0 := threadCPU()
						_, err := insts[mech.name].Call(ctx, "_run_"+p.Name)
						d := threadCPU() - t0
						require.NoError(b, err)
						cpu += d
						if old, ok := best[p.Name][mech.name]; !ok || d < old {
							best[p.Name][mech.name] = d
						}
					}
					b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
				})
			}
		})
	}
	var t strings.Builder
	t.WriteString("fastest call, CPU ms (ratio to none):\n| program |")
	for _, m := range mechs {
		t.WriteString(" " + m.name + " |")
	}
	logs := make([]float64, len(mechs))
	for _, p := range programs.All() {
		fmt.Fprintf(&t, "\n| %s |", p.Name)
		none := best[p.Name]["none"]
		for i, m := range mechs {
			d := best[p.Name][m.name]
			r := float64(d) / float64(none)
			logs[i] += math.Log(r)
			fmt.Fprintf(&t, " %.1f (%.3fx) |", float64(d)/float64(time.Millisecond), r)
		}
	}
	t.WriteString("\n| geometric mean |")
	for i := range mechs {
		fmt.Fprintf(&t, " %.3fx |", math.Exp(logs[i]/float64(len(programs.All()))))
	}
	b.Log(t.String())
}

// BenchmarkInterruptStop stops every program of the CPU-bound suite 20 ms
// into its run (each takes over 200 ms), under each mechanism that can stop
// it, and reports how long after the deadline each call returned.
func BenchmarkInterruptStop(b *testing.B) {
	var setup strings.Builder
	for _, p := range programs.All() {
		setup.WriteString(p.Source + "\n_run_" + p.Name + " = run\n")
	}
	for _, mech := range []runtime.Interrupt{runtime.InterruptLoops, runtime.InterruptCloseOnDone} {
		r, err := runtime.New(context.Background(), runtime.Config{Interrupt: mech})
		require.NoError(b, err)
		defer r.Close(ctx)
		s, err := r.NewSnapshot(ctx, runtime.SnapshotOptions{Options: runtime.Options{MemoryLimit: 1 << 30}, Setup: setup.String()})
		require.NoError(b, err)
		defer s.Close()
		b.Run(mech.String(), func(b *testing.B) {
			for _, p := range programs.All() {
				b.Run(p.Name, func(b *testing.B) {
					var l latencies
					for b.Loop() {
						i, err := s.NewInstance(ctx, nil)
						require.NoError(b, err)
						c, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
						deadline, _ := c.Deadline()
						_, err = i.Call(c, "_run_"+p.Name)
						l = append(l, time.Since(deadline))
						cancel()
						require.ErrorIs(b, err, context.DeadlineExceeded)
						require.NoError(b, i.Close(ctx))
					}
					l.report(b, "ms")
				})
			}
		})
	}
}

// threadCPU returns the calling thread's CPU time (user and system).
func threadCPU() time.Duration {
	var r syscall.Rusage
	_ = syscall.Getrusage(1, &r) // RUSAGE_THREAD
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
