package pool_test

// Regressions of issue #19 ("Holes found by attacking the sandbox and by a
// first use"), each test named after the behaviour that was missing.

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"

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

func TestNewWithANilRuntimeIsAnError(t *testing.T) {
	p, err := pool.New(ctx, nil, pool.Options{})
	require.ErrorContains(t, err, "pool: nil runtime")
	require.NoError(t, p.Close(ctx)) // as `defer p.Close(ctx)` before checking err
}

func TestErrWrongModeHasItsOwnKind(t *testing.T) {
	require.Equal(t, pool.KindWrongMode, pool.KindOf(pool.ErrWrongMode))
	p := newPool(t, pool.Options{Size: 1})
	_, err := p.RunSession(ctx, "k", exec("pass"))
	require.Equal(t, pool.KindWrongMode, pool.KindOf(err))
}

func TestSessionEventsCarryTheSessionsWorker(t *testing.T) {
	var mu sync.Mutex
	var evs []pool.Event
	p := newPool(t, pool.Options{Size: 1, Mode: pool.ModeSession, OnEvent: func(e pool.Event) {
		switch e.Type {
		case pool.SessionStarted, pool.SessionEnded, pool.CallStarted:
			mu.Lock()
			evs = append(evs, e)
			mu.Unlock()
		}
	}})
	_, err := p.RunSession(ctx, "a", exec("pass"))
	require.NoError(t, err)
	require.True(t, p.EndSession("a"))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, evs, 3)
	require.Equal(t, []pool.EventType{pool.SessionStarted, pool.CallStarted, pool.SessionEnded},
		[]pool.EventType{evs[0].Type, evs[1].Type, evs[2].Type})
	w := evs[1].Worker
	require.NotZero(t, w)
	for _, e := range evs {
		require.Equal(t, w, e.Worker, e.Type)
		require.Equal(t, "a", e.Session)
	}
}

func TestRunSessionRefusesAnEmptyKey(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, Mode: pool.ModeSession})
	_, err := p.RunSession(ctx, "", exec("pass"))
	require.ErrorIs(t, err, runtime.ErrBadRequest)
	require.ErrorContains(t, err, "empty session key")
	require.Zero(t, p.Stats().Sessions)
}

// The package doc said a new key waits for a worker; it is refused at once
// once every worker holds a session.
func TestThirdSessionOnTwoWorkersIsRefusedAtOnce(t *testing.T) {
	p := newPool(t, pool.Options{Size: 2, Mode: pool.ModeSession})
	for _, k := range []string{"a", "b"} {
		_, err := p.RunSession(ctx, k, exec("pass"))
		require.NoError(t, err)
	}
	_, err := p.RunSession(ctx, "c", exec("pass"))
	require.ErrorIs(t, err, pool.ErrTooManySessions)
	require.Zero(t, p.Stats().Queued)
}
