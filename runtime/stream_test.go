package runtime_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// counting returns an OnChunk that counts its chunks and returns err.
func counting(n *int, err error) func(json.RawMessage) error {
	return func(json.RawMessage) error { *n++; return err }
}

// spam emits chunk times times and ignores the errors: a guest that keeps
// emitting must still not reach OnChunk once the stream is stopped.
const spam = `
import snakepit
def spam(chunk, times):
    for _ in range(times):
        try:
            snakepit.emit(chunk)
        except RuntimeError:
            pass
    print('finished')
`

func TestStreamHasChunkAndByteCaps(t *testing.T) {
	for _, c := range []struct {
		name      string
		opts      runtime.Options
		call      string
		delivered int
		is        error
	}{
		{"chunks", runtime.Options{Limits: runtime.Limits{MaxStreamChunks: 10}}, "spam(1, 50)", 10, runtime.ErrStreamLimit},
		// Each chunk is 302 bytes of JSON.
		{"bytes", runtime.Options{Limits: runtime.Limits{MaxStreamBytes: 1000}}, "spam('x' * 300, 50)", 3, runtime.ErrStreamLimit},
		// The defaults: 64 MiB, here in chunks of 15 MiB (each under MaxResult).
		{"default bytes", runtime.Options{}, "spam('x' * (15 << 20), 6)", 4, runtime.ErrStreamLimit},
		{"chunk over MaxResult", runtime.Options{Limits: runtime.Limits{MaxResult: 100}}, "spam('x' * 200, 5)", 0, runtime.ErrResultTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			i := stateful(t, c.opts)
			_, err := i.Run(ctx, runtime.Exec(spam))
			require.NoError(t, err)
			n := 0
			res, err := i.Run(ctx, runtime.Request{Op: runtime.OpExec, Code: c.call, OnChunk: counting(&n, nil)})
			require.ErrorIs(t, err, c.is)
			require.Equal(t, c.delivered, n)
			require.Equal(t, "finished\n", string(res.Stdout), "the guest went on after its failed emits")
			requireKept(t, i)
		})
	}

	// OpStream's items count alike.
	i := stateful(t, runtime.Options{Limits: runtime.Limits{MaxStreamChunks: 5}})
	_, err := i.Run(ctx, runtime.Exec("def count():\n    n = 0\n    while True:\n        yield n\n        n += 1"))
	require.NoError(t, err)
	n := 0
	_, err = i.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "count", OnChunk: counting(&n, nil)})
	require.ErrorIs(t, err, runtime.ErrStreamLimit)
	require.Equal(t, 5, n)
	requireKept(t, i)
}

func TestOnChunkErrorStopsTheStreamAndReachesTheCaller(t *testing.T) {
	errEnough := errors.New("enough")
	i := stateful(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec(spam+"def gen():\n    for k in range(100):\n        yield k\n"))
	require.NoError(t, err)

	n := 0
	res, err := i.Run(ctx, runtime.Request{Op: runtime.OpExec, Code: "spam(1, 10)", OnChunk: counting(&n, errEnough)})
	require.ErrorIs(t, err, errEnough)
	require.Equal(t, 1, n, "no chunk reaches OnChunk after its error")
	require.Equal(t, "finished\n", string(res.Stdout))
	requireKept(t, i)

	n = 0
	_, err = i.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "gen", OnChunk: counting(&n, errEnough)})
	require.ErrorIs(t, err, errEnough)
	var pe *runtime.PythonError
	require.False(t, errors.As(err, &pe), "the caller's error, not the guest's RuntimeError: %v", err)
	require.Equal(t, 1, n)
	requireKept(t, i)
}
