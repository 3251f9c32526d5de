//go:build linux

package runtime_test

import (
	"context"
	goruntime "runtime"
	"syscall"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/bench/programs"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// BenchmarkInterrupt runs the CPU-bound suite under each stop/preempt
// mechanism, side by side in one process and interleaved per program so that
// a noisy machine hits all three alike: the cost of ours against none.
func BenchmarkInterrupt(b *testing.B) {
	mechs := []runtime.Interrupt{runtime.InterruptNone, runtime.InterruptLoops, runtime.InterruptCloseOnDone}
	insts := map[runtime.Interrupt]*runtime.Instance{}
	for _, mech := range mechs {
		r, err := runtime.New(context.Background(), runtime.Config{Interrupt: mech})
		require.NoError(b, err)
		defer r.Close(ctx)
		insts[mech], err = r.NewInstance(ctx, runtime.Options{MemoryLimit: 1 << 30})
		require.NoError(b, err)
		for _, p := range programs.All() {
			_, err := insts[mech].Exec(ctx, p.Source+"\n_run_"+p.Name+" = run\n")
			require.NoError(b, err)
		}
	}
	for _, p := range programs.All() {
		b.Run(p.Name, func(b *testing.B) {
			for _, mech := range mechs {
				b.Run(mech.String(), func(b *testing.B) {
					// Thread CPU time besides wall time: on a shared machine
					// it is far less disturbed by other processes.
					goruntime.LockOSThread()
					defer goruntime.UnlockOSThread()
					var cpu time.Duration
					for b.Loop() {
						t0 := threadCPU()
						_, err := insts[mech].Call(ctx, "_run_"+p.Name)
						cpu += threadCPU() - t0
						require.NoError(b, err)
					}
					b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
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
