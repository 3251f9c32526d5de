package testrt_test

import (
	"context"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { testrt.Main(m) }

func TestGateHoldsACallUntilOpenOrItsContextEnds(t *testing.T) {
	ctx := context.Background()
	i, err := testrt.Runtime(t).NewInstance(ctx, runtime.Options{})
	require.NoError(t, err)
	defer i.Close(ctx)
	var out string
	run := func(c context.Context) func(runtime.Request) error {
		return func(r runtime.Request) error {
			res, err := i.Run(c, r)
			if err == nil {
				out = string(res.Stdout)
			}
			return err
		}
	}

	g := testrt.NewGate()
	done := g.Hold(t, run(ctx), "print('through')")
	select {
	case err := <-done:
		t.Fatalf("the call went through a closed gate: %v", err)
	default:
	}
	g.Open()
	require.NoError(t, <-done)
	require.Equal(t, "through\n", out)

	c, cancel := context.WithCancel(ctx)
	done = testrt.NewGate().Hold(t, run(c), "")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}
