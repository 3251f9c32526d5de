package runtime_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// TestNothingRunsAfterAStop stops a guest spinning in each kind of loop, then
// watches the process idle: a guest that kept running after its call
// returned would burn a whole core.
func TestNothingRunsAfterAStop(t *testing.T) {
	for _, tc := range spinners {
		i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxMemory: 1 << 30}})
		_, err := i.Run(ctx, runtime.Exec(tc.setup))
		require.NoError(t, err)
		c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err = i.Run(c, runtime.Exec(tc.src))
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, tc.name)
	}
	const idle = 500 * time.Millisecond
	before := processCPU()
	time.Sleep(idle)
	used := processCPU() - before
	t.Logf("CPU used while idle for %v after %d stops: %v", idle, len(spinners), used)
	require.Less(t, used, idle/2, "something kept running after the stops")
}

// processCPU returns the process's CPU time (user and system).
func processCPU() time.Duration {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
