package pool_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/snakepit-wasm/snakepit/adapter"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// Every sentinel of the module has one kind, classified in one place
// (runtime.KindOf), and a message without a package prefix, so that a
// wrapped error reads each part once.
func TestEverySentinelHasOneKindAndNoPrefix(t *testing.T) {
	for err, want := range map[error]runtime.ErrorKind{
		runtime.ErrNotBuilt:                      runtime.KindNotBuilt,
		runtime.ErrClosed:                        runtime.KindClosed,
		runtime.ErrMemoryLimit:                   runtime.KindMemoryLimit,
		runtime.ErrABIVersion:                    runtime.KindNotBuilt,
		runtime.ErrTrap:                          runtime.KindCrash,
		runtime.ErrMalformed:                     runtime.KindCrash,
		runtime.ErrHostCallLimit:                 runtime.KindHostCallLimit,
		runtime.ErrResultTooLarge:                runtime.KindResultTooLarge,
		runtime.ErrStreamLimit:                   runtime.KindStreamLimit,
		runtime.ErrBadRequest:                    runtime.KindBadRequest,
		runtime.ErrScratchFull:                   runtime.KindScratchFull,
		runtime.ErrBadOptions:                    runtime.KindBadOptions,
		runtime.ErrNotReset:                      runtime.KindCrash,
		runtime.ErrUnsafeName:                    runtime.KindOther,
		runtime.ErrBroken:                        runtime.KindOther, // its cause gives the kind
		pool.ErrSaturated:                        runtime.KindSaturated,
		pool.ErrQueueTimeout:                     runtime.KindQueueTimeout,
		pool.ErrWorkerCrashed:                    runtime.KindCrash,
		pool.ErrSessionLost:                      runtime.KindSessionLost,
		pool.ErrTooManySessions:                  runtime.KindTooManySessions,
		pool.ErrNoSession:                        runtime.KindNoSession,
		adapter.ErrUnknownFunction:               runtime.KindBadRequest,
		adapter.ErrArguments:                     runtime.KindBadRequest,
		adapter.ErrResult:                        runtime.KindOther,
		context.DeadlineExceeded:                 runtime.KindDeadline,
		context.Canceled:                         runtime.KindCanceled,
		&runtime.PythonError{Type: "ValueError"}: runtime.KindPython,
	} {
		require.Equal(t, want, runtime.KindOf(err), "%v", err)
		require.Equal(t, want, runtime.KindOf(fmt.Errorf("wrapped: %w", err)), "%v", err)
		if err != context.DeadlineExceeded && err != context.Canceled {
			for _, prefix := range []string{"snakepit:", "pool:", "adapter:", "runtime:", "abi:"} {
				require.False(t, strings.HasPrefix(err.Error(), prefix), "%q", err)
			}
		}
	}
	require.Equal(t, runtime.KindNone, runtime.KindOf(nil))
	require.NotContains(t, runtime.ErrorKinds(), runtime.KindNone)
	// The outermost kind wins: a call Close stopped is closed, whatever
	// stopped the guest inside.
	require.Equal(t, runtime.KindClosed, runtime.KindOf(fmt.Errorf("%w: %w", runtime.ErrClosed, context.Canceled)))
	require.Equal(t, runtime.KindQueueTimeout, runtime.KindOf(pool.ErrQueueTimeout))
	require.ErrorIs(t, pool.ErrQueueTimeout, context.DeadlineExceeded)
}

// A Pool and a Session run requests alike.
var (
	_ runtime.Runner = (*pool.Pool)(nil)
	_ runtime.Runner = (*pool.Session)(nil)
	_ runtime.Runner = (*runtime.Instance)(nil)
)

// A real failure through the pool reads each part once.
func TestErrorsDoNotStackPrefixes(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1})
	_, err := p.Run(ctx, exec("import os\nos.abort()"))
	require.ErrorIs(t, err, pool.ErrWorkerCrashed)
	require.ErrorIs(t, err, runtime.ErrTrap)
	msg := err.Error()
	require.True(t, strings.HasPrefix(msg, "worker crashed: guest trapped"), msg)
	for _, part := range []string{"snakepit:", "pool:"} {
		require.NotContains(t, msg, part)
	}
	_, err = p.Run(ctx, runtime.Call("len", func() {}))
	require.ErrorIs(t, err, runtime.ErrBadRequest)
	require.Equal(t, 1, strings.Count(err.Error(), "bad request"), err.Error())
}

// Pool options follow runtime's convention: zero is the default,
// runtime.NoLimit none, below it ErrBadOptions, checked before anything
// starts (the instance options included).
func TestOptionsValidate(t *testing.T) {
	require.NoError(t, pool.Options{MaxQueue: runtime.NoLimit, MaxQueueWait: runtime.NoLimit, MaxCallTime: runtime.NoLimit,
		MaxSessionIdle: runtime.NoLimit, MaxSessions: runtime.NoLimit}.Validate())
	for name, o := range map[string]pool.Options{
		"a negative size":          {Size: -1},
		"a queue below NoLimit":    {MaxQueue: -2},
		"a wait below NoLimit":     {MaxQueueWait: -2},
		"a call time below":        {MaxCallTime: -5},
		"a memory below":           {MaxMemory: -2},
		"an unknown mode":          {Mode: pool.Mode(7)},
		"a bad instance option":    {Instance: runtime.Options{Limits: runtime.Limits{MaxResult: -3}}},
		"a reserved instance path": {Instance: runtime.Options{Mounts: []runtime.Mount{{GuestPath: runtime.StdlibPath, HostDir: "/"}}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := pool.New(ctx, rt(t), o)
			require.ErrorIs(t, err, runtime.ErrBadOptions)
			_, err = pool.NewSessions(ctx, rt(t), o)
			require.ErrorIs(t, err, runtime.ErrBadOptions)
		})
	}
	_, err := pool.NewSessions(ctx, rt(t), pool.Options{Mode: pool.ModeWarm})
	require.ErrorIs(t, err, runtime.ErrBadOptions)
}
