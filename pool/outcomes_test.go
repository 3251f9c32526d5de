package pool_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// A session must survive the errors a caller's own code raises: before,
// NaN and `raise MemoryError` recycled its worker and lost its state.
func TestNaNResultIsAPythonErrorAndKeepsTheWorker(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, Mode: pool.ModeSession})
	_, err := p.RunSession(ctx, "a", exec("kept = 'state'"))
	require.NoError(t, err)
	for _, r := range []runtime.Request{eval("float('inf')"), eval("[float('nan')]"), exec("raise MemoryError")} {
		_, err := p.RunSession(ctx, "a", r)
		var pe *runtime.PythonError
		require.ErrorAs(t, err, &pe, r.Code)
		require.Equal(t, pool.KindPython, pool.KindOf(err), r.Code)
	}
	require.JSONEq(t, `"state"`, evalSession(t, p, "a", "kept"))
	require.Empty(t, p.Stats().Recycles)
}

// The consumer's error reaches the pool's caller, and the worker is kept.
func TestOnChunkErrorReachesThePoolCallerAndKeepsTheWorker(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, Mode: pool.ModeWarm, Setup: "def gen():\n    yield from range(10)"})
	enough := errors.New("enough")
	_, err := p.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "gen", OnChunk: func(json.RawMessage) error { return enough }})
	require.ErrorIs(t, err, enough)
	require.Empty(t, p.Stats().Recycles)

	p2 := newPool(t, pool.Options{Size: 1, Mode: pool.ModeWarm, Setup: "def gen():\n    yield from range(10)",
		Instance: runtime.Options{MaxStreamChunks: 3}})
	_, err = p2.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "gen", OnChunk: func(json.RawMessage) error { return nil }})
	require.ErrorIs(t, err, runtime.ErrStreamLimit)
	require.Equal(t, pool.KindStreamLimit, pool.KindOf(err))
	require.Empty(t, p2.Stats().Recycles)
}

// A bad request is refused before it takes a worker: in fresh mode it
// used to spend a clone.
func TestBadRequestIsRefusedBeforeTakingAWorker(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1})
	_, err := p.Run(ctx, runtime.Request{Code: "print('hi')"})
	require.ErrorIs(t, err, runtime.ErrBadRequest)
	require.Equal(t, pool.KindBadRequest, pool.KindOf(err))
	_, err = p.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "iter"})
	require.ErrorIs(t, err, runtime.ErrBadRequest)
	st := p.Stats()
	require.Empty(t, st.Recycles)
	require.EqualValues(t, 2, st.Errors[pool.KindBadRequest])
}

func TestErrWrongModeHasItsOwnKind(t *testing.T) {
	require.Equal(t, pool.KindWrongMode, pool.KindOf(pool.ErrWrongMode))
	p := newPool(t, pool.Options{Size: 1})
	_, err := p.RunSession(ctx, "k", exec("pass"))
	require.Equal(t, pool.KindWrongMode, pool.KindOf(err))
}

// KindOf missed runtime.ErrTrap, which a trap outside a pool returns (the
// CLI patched it).
func TestKindOfATrapIsCrash(t *testing.T) {
	require.Equal(t, pool.KindCrash, pool.KindOf(fmt.Errorf("%w: unreachable", runtime.ErrTrap)))
}

// An append to LatencyBuckets after New indexed past the histogram's counts:
// a panic with the pool's lock held.
func TestLatencyBucketsChangedAfterNewLeaveThePoolAlone(t *testing.T) {
	p, err := pool.New(ctx, rt(t), pool.Options{Size: 1})
	require.NoError(t, err)
	defer p.Close(ctx)
	saved := pool.LatencyBuckets
	pool.LatencyBuckets = append(slices.Clone(saved), 2*time.Minute)
	defer func() { pool.LatencyBuckets = saved }()
	_, err = p.Run(ctx, eval("1"))
	require.NoError(t, err)
	st := p.Stats()
	require.Len(t, st.Exec.Counts, len(saved)+1)
	require.Equal(t, saved, st.Exec.Bounds)
}
