package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/testrt"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestCloseOfANilRuntimeIsANoop(t *testing.T) {
	r, err := runtime.New(ctx, runtime.Config{Dir: t.TempDir()})
	require.ErrorIs(t, err, runtime.ErrNotBuilt)
	require.NoError(t, r.Close(ctx)) // as `defer rt.Close(ctx)` before checking err
	var s *runtime.Snapshot
	require.NoError(t, s.Close())
}

// Instance.Close ignored its context while a call sat in a host tool that
// ignores its own: a 200 ms context returned after the tool, with nil.
func TestInstanceCloseHonoursItsContextWhileAToolHoldsTheCall(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	g := testrt.NewGate()
	g.Deaf = true
	done := g.Hold(t, func(r runtime.Request) error { _, err := i.Run(context.Background(), r); return err }, "")
	c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, i.Close(c), context.DeadlineExceeded)
	require.ErrorIs(t, i.Err(), runtime.ErrClosed, "closed, released once the call stops")
	g.Open()
	require.ErrorIs(t, <-done, runtime.ErrClosed)
	require.NoError(t, i.Close(ctx), "a second Close is a no-op")
}

// Run held the instance's mutex for the whole call: Err, Calls,
// MemoryBytes and PrivateBytes waited for the guest (900 ms behind a 1 s
// sleep).
func TestStateReadsDoNotWaitForARunningCall(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	g := testrt.NewGate()
	done := g.Hold(t, func(r runtime.Request) error { _, err := i.Run(context.Background(), r); return err }, "")
	read := make(chan struct{})
	go func() {
		defer close(read)
		require.NoError(t, i.Err())
		require.Equal(t, 1, i.Calls())
		require.Positive(t, i.MemoryBytes())
		_, err := i.PrivateBytes()
		require.NoError(t, err)
	}()
	select {
	case <-read:
	case <-time.After(30 * time.Second): // not a latency bound: the old code waited for the gate forever
		t.Fatal("state reads wait for the call")
	}
	g.Open()
	require.NoError(t, <-done)
}
