package adapter_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/snakepit-wasm/snakepit/adapter"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/stretchr/testify/require"
)

func TestStream(t *testing.T) {
	ctx := context.Background()
	inst := newShop(t)
	var got []int
	for v, err := range adapter.Stream[int](ctx, inst, "count", []int{5}) {
		require.NoError(t, err)
		got = append(got, v)
	}
	require.Equal(t, []int{0, 1, 2, 3, 4}, got)

	for _, err := range adapter.Stream[int](ctx, inst, "count", map[string]any{"n": "5"}) {
		require.ErrorIs(t, err, adapter.ErrArguments)
	}
	n := 0
	for _, err := range adapter.Stream[string](ctx, inst, "count", []int{5}) {
		require.ErrorIs(t, err, adapter.ErrResult)
		n++
	}
	require.Equal(t, 1, n, "a decoding failure ends the sequence")
	closed, err := adapter.Call[[]string](ctx, inst, "closed_so_far", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"count", "count"}, closed, "each stopped generator was closed")

	got = nil
	for v, err := range adapter.Stream[int](ctx, inst, "aticks", []int{3}) {
		require.NoError(t, err)
		got = append(got, v)
	}
	require.Equal(t, []int{0, 1, 2}, got, "an async generator streams from asyncio's loop")
}

// An early break closes the generator inside Python (its finally runs)
// before the loop returns, in every pool mode, and the worker serves on.
func TestStreamEarlyBreak(t *testing.T) {
	for _, mode := range []string{"fresh", "warm", "session"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			r, stats := newShopRunner(t, mode)
			var got []int
			for v, err := range adapter.Stream[int](ctx, r, "count", map[string]any{"n": 1000000, "label": "broken"}) {
				require.NoError(t, err)
				got = append(got, v)
				if v == 2 {
					break
				}
			}
			require.Equal(t, []int{0, 1, 2}, got)
			if mode != "fresh" { // a fresh call's state is gone with its clone
				closed, err := adapter.Call[[]string](ctx, r, "closed_so_far", nil)
				require.NoError(t, err)
				require.Equal(t, []string{"broken"}, closed)
			}
			require.Equal(t, uint64(0), stats().Recycles[pool.RecycleCrash])
			s, err := adapter.Call[string](ctx, r, "echo", []string{"usable"})
			require.NoError(t, err)
			require.Equal(t, "usable", s)
		})
	}
}

// A panic in the loop body reaches the caller, after the call has ended
// cleanly.
func TestStreamPanicInBody(t *testing.T) {
	ctx := context.Background()
	inst := newShop(t)
	require.PanicsWithValue(t, "body", func() {
		for range adapter.Stream[int](ctx, inst, "count", map[string]any{"n": 10, "label": "panicked"}) {
			panic("body")
		}
	})
	closed, err := adapter.Call[[]string](ctx, inst, "closed_so_far", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"panicked"}, closed)
}

func ExampleStream() {
	ctx := context.Background()
	inst := exampleInstance(ctx)
	defer inst.Close(ctx)
	for n, err := range adapter.Stream[int](ctx, inst, "count", map[string]any{"n": 100}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(n)
		if n == 2 {
			break // the generator's finally runs before the loop returns
		}
	}
	// Output:
	// 0
	// 1
	// 2
}
