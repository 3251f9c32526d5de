//go:build linux

package runtime_test

import (
	"context"
	"fmt"
	"math"
	"os"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/bench/programs"
	"github.com/snakepit-wasm/snakepit/internal/knobs"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// BenchmarkInterrupt runs the CPU-bound suite under each stop/preempt
// mechanism, side by side in one process: each iteration calls a program once
// under every mechanism in turn, so that a noisy machine hits them all alike.
// It reports the mean CPU time per call under each mechanism and logs (with
// -v) each program's fastest call per mechanism, its ratio to none, and their
// geometric means: ours against none, against wazero's, and against ours
// checking the eval loop's dispatch too.
func BenchmarkInterrupt(b *testing.B) {
	compareSuite(b, []namedConfig{
		{"none", runtime.Config{}, knobs.Knobs{Interrupt: knobs.None}},
		{"loops", runtime.Config{}, knobs.Knobs{}},
		{"loops-all", runtime.Config{}, knobs.Knobs{AllLoops: true}},
		{"loops-inloop", runtime.Config{}, knobs.Knobs{InLoopYield: true}},
		{"close-on-done", runtime.Config{}, knobs.Knobs{Interrupt: knobs.CloseOnDone}},
	})
}

// BenchmarkBuilds compares builds of python.wasm (the speed levers of
// RATIONALE.md) the way BenchmarkInterrupt compares mechanisms, each with
// the stop mechanism as shipped. $SNAKEPIT_BUILDS lists them as
// name=dir,name=dir; the first is the baseline of the ratios.
func BenchmarkBuilds(b *testing.B) {
	var builds []namedConfig
	for _, kv := range strings.Split(os.Getenv("SNAKEPIT_BUILDS"), ",") {
		name, dir, ok := strings.Cut(kv, "=")
		if ok {
			builds = append(builds, namedConfig{name, runtime.Config{Dir: dir}, knobs.Knobs{}})
		}
	}
	if len(builds) < 2 {
		b.Skip("SNAKEPIT_BUILDS names fewer than two builds (name=dir,name=dir)")
	}
	compareSuite(b, builds)
}

type namedConfig struct {
	name  string
	cfg   runtime.Config
	knobs knobs.Knobs
}

// compareSuite runs the CPU suite under each configuration, interleaved; the
// first configuration is the baseline of the logged ratios.
func compareSuite(b *testing.B, mechs []namedConfig) {
	base := mechs[0].name
	rts := map[string]*runtime.Runtime{}
	for _, mech := range mechs {
		r, err := runtime.New(knobs.With(context.Background(), mech.knobs), mech.cfg)
		require.NoError(b, err)
		defer r.Close(ctx)
		rts[mech.name] = r
	}
	best := map[string]map[string]time.Duration{} // program, mechanism: fastest call
	for _, p := range programs.All() {
		best[p.Name] = map[string]time.Duration{}
		b.Run(p.Name, func(b *testing.B) {
			// A fresh interpreter per program and mechanism. With one
			// interpreter per mechanism running the whole suite, one run had
			// all ten json_roundtrip calls under none 1.5x slower than under
			// loops, and the next run not: each heap carried its history.
			insts := map[string]*runtime.Instance{}
			for _, mech := range mechs {
				inst, err := rts[mech.name].NewInstance(ctx, runtime.Options{Limits: runtime.Limits{MaxMemory: 1 << 30}})
				require.NoError(b, err)
				defer inst.Close(ctx)
				_, err = inst.Run(ctx, runtime.Exec(programs.Setup([]programs.Program{p})))
				require.NoError(b, err)
				insts[mech.name] = inst
			}
			// Thread CPU time besides wall time: on a shared machine it is
			// far less disturbed by other processes.
			goruntime.LockOSThread()
			defer goruntime.UnlockOSThread()
			cpu := map[string]time.Duration{}
			for b.Loop() {
				for _, mech := range mechs {
					t0 := threadCPU()
					_, err := insts[mech.name].Run(ctx, runtime.Call("_run_"+p.Name))
					d := threadCPU() - t0
					require.NoError(b, err)
					cpu[mech.name] += d
					if old, ok := best[p.Name][mech.name]; !ok || d < old {
						best[p.Name][mech.name] = d
					}
				}
			}
			for _, mech := range mechs {
				b.ReportMetric(float64(cpu[mech.name])/float64(time.Millisecond)/float64(b.N), mech.name+"-cpu-ms/op")
			}
		})
	}
	var t strings.Builder
	t.WriteString("fastest call, CPU ms (ratio to " + base + "):\n| program |")
	for _, m := range mechs {
		t.WriteString(" " + m.name + " |")
	}
	logs, n := make([]float64, len(mechs)), 0
	for _, p := range programs.All() {
		none := best[p.Name][base]
		if none == 0 { // filtered out by -bench
			continue
		}
		n++
		fmt.Fprintf(&t, "\n| %s |", p.Name)
		for i, m := range mechs {
			d := best[p.Name][m.name]
			r := float64(d) / float64(none)
			logs[i] += math.Log(r)
			fmt.Fprintf(&t, " %.1f (%.3fx) |", float64(d)/float64(time.Millisecond), r)
		}
	}
	t.WriteString("\n| geometric mean |")
	for i := range mechs {
		fmt.Fprintf(&t, " %.3fx |", math.Exp(logs[i]/float64(n)))
	}
	if n > 0 {
		b.Log(t.String()) // shown with -v
	}
}

// BenchmarkInterruptStop stops every program of the CPU-bound suite 20 ms
// into its run (each takes over 200 ms), under each mechanism that can stop
// it, and reports how long after the deadline each call returned.
func BenchmarkInterruptStop(b *testing.B) {
	for _, mech := range []knobs.Interrupt{knobs.Loops, knobs.CloseOnDone} {
		r, err := runtime.New(knobs.With(context.Background(), knobs.Knobs{Interrupt: mech}), runtime.Config{})
		require.NoError(b, err)
		defer r.Close(ctx)
		s, err := r.NewSnapshot(ctx, runtime.SnapshotOptions{Options: runtime.Options{Limits: runtime.Limits{MaxMemory: 1 << 30}}, Setup: programs.Setup(programs.All())})
		require.NoError(b, err)
		defer s.Close()
		b.Run(mech.String(), func(b *testing.B) {
			for _, p := range programs.All() {
				b.Run(p.Name, func(b *testing.B) {
					var l latencies
					for b.Loop() {
						i, err := s.NewInstance(ctx, runtime.CloneOptions{})
						require.NoError(b, err)
						c, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
						deadline, _ := c.Deadline()
						_, err = i.Run(c, runtime.Call("_run_"+p.Name))
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
