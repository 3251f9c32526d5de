package pool_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/stretchr/testify/require"
)

// Sleeping calls used to pin their workers past MaxCallTime: every other
// caller then got ErrQueueTimeout and Close hung (issue 19, item 3).
func TestSleepingCallsEndAtCallTimeoutAndCloseReturns(t *testing.T) {
	for _, mode := range []pool.Mode{pool.ModeFresh, pool.ModeWarm} {
		t.Run(mode.String(), func(t *testing.T) {
			p, err := pool.New(ctx, rt(t), pool.Options{Size: 2, Mode: mode, MaxCallTime: 500 * time.Millisecond, MaxQueueWait: 5 * time.Second})
			require.NoError(t, err)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			wg.Go(func() { _, errs[0] = p.Run(ctx, exec("import select\nselect.select([], [], [], 1e9)")) })
			wg.Go(func() { _, errs[1] = p.Run(ctx, exec("import time\ntime.sleep(1e9)")) })
			wg.Wait()
			for _, err := range errs {
				require.ErrorIs(t, err, context.DeadlineExceeded)
			}
			// The pool still serves: the workers were replaced (in the
			// background: a loaded machine can take longer than MaxCallTime
			// to start them).
			require.Eventually(t, func() bool { return p.Stats().Idle == 2 }, hang, 5*time.Millisecond)
			res, err := p.Run(ctx, eval("6 * 7"))
			require.NoError(t, err)
			require.JSONEq(t, "42", string(res.Value))

			// A sleeper running into Close is stopped; Close returns within
			// its context. The open gate tells when the sleeper has started.
			g := testrt.NewGate()
			g.Open()
			g.Hold(t, runner(p), "import time\ntime.sleep(1e9)")
			c, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			start := time.Now()
			p.Close(c)
			require.Less(t, time.Since(start), hang)
		})
	}
}
