package pool_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// A session must survive the errors a caller's own code raises: before,
// NaN and `raise MemoryError` recycled its worker and lost its state.
func TestNaNResultIsAPythonErrorAndKeepsTheWorker(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 1})
	_, err := p.Session("a").Run(ctx, exec("kept = 'state'"))
	require.NoError(t, err)
	for _, r := range []runtime.Request{eval("float('inf')"), eval("[float('nan')]"), exec("raise MemoryError")} {
		_, err := p.Session("a").Run(ctx, r)
		var pe *runtime.PythonError
		require.ErrorAs(t, err, &pe, r.Code)
		require.Equal(t, runtime.KindPython, runtime.KindOf(err), r.Code)
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
		Instance: runtime.Options{Limits: runtime.Limits{MaxStreamChunks: 3}}})
	_, err = p2.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "gen", OnChunk: func(json.RawMessage) error { return nil }})
	require.ErrorIs(t, err, runtime.ErrStreamLimit)
	require.Equal(t, runtime.KindStreamLimit, runtime.KindOf(err))
	require.Empty(t, p2.Stats().Recycles)
}

// A bad request is refused before it takes a worker: in fresh mode it
// used to spend a clone.
func TestBadRequestIsRefusedBeforeTakingAWorker(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1})
	_, err := p.Run(ctx, runtime.Request{Code: "print('hi')"})
	require.ErrorIs(t, err, runtime.ErrBadRequest)
	require.Equal(t, runtime.KindBadRequest, runtime.KindOf(err))
	_, err = p.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "iter"})
	require.ErrorIs(t, err, runtime.ErrBadRequest)
	st := p.Stats()
	require.Empty(t, st.Recycles)
	require.EqualValues(t, 2, st.Errors[runtime.KindBadRequest])
}

// KindOf missed runtime.ErrTrap, which a trap outside a pool returns (the
// CLI patched it).
func TestKindOfATrapIsCrash(t *testing.T) {
	require.Equal(t, runtime.KindCrash, runtime.KindOf(fmt.Errorf("%w: unreachable", runtime.ErrTrap)))
}
