// Package testrt is what the test packages that run python.wasm share: one
// Runtime per test binary (compiling python.wasm once), closed before goleak
// looks for leaked goroutines, and a Gate, a host tool that lets a test wait
// for a call to start instead of sleeping.
package testrt

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var (
	shared     *runtime.Runtime
	sharedErr  error
	sharedOnce sync.Once
)

// Runtime returns the test binary's shared Runtime.
func Runtime(t testing.TB) *runtime.Runtime {
	sharedOnce.Do(func() { shared, sharedErr = runtime.New(context.Background(), runtime.Config{}) })
	require.NoError(t, sharedErr)
	return shared
}

// Main runs the tests, runs cleanups (a package's own Runtimes), closes the
// shared Runtime and, if they passed, fails the binary when a goroutine is
// left over.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	if shared != nil {
		shared.Close(context.Background())
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// StopsAtDeadline runs setup in i, then src under a 200 ms deadline, and
// requires the call to end with context.DeadlineExceeded. The 5 s bound is
// not a latency assertion (BenchmarkCancelLatency measures that): a stop
// mechanism that missed src's loops would take the test's whole timeout.
func StopsAtDeadline(t testing.TB, i *runtime.Instance, setup, src string) {
	t.Helper()
	_, err := i.Run(context.Background(), runtime.Exec(setup))
	require.NoError(t, err)
	c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = i.Run(c, runtime.Exec(src))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
}

// FillMemory is Python source that fills the memory up to its cap, to
// within a few KiB, and fails there with MemoryError while holding it all
// (in x): the instance is then given up (runtime.Limits.MaxMemory). It
// halves its allocations as they fail, which is quick: one small
// allocation after another would take seconds.
const FillMemory = `x = []
n = 1 << 24
while True:
    try:
        x.append(bytearray(n))
    except MemoryError:
        if n == 4096:
            raise
        n //= 2`
