// Package testrt is what the test packages that run python.wasm share: one
// Runtime per test binary (compiling python.wasm once), closed before goleak
// looks for leaked goroutines.
package testrt

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

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
