package runtime_test

// Regressions of issue #19 ("Holes found by attacking the sandbox and by a
// first use"), each test named after the behaviour that was missing.

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// stateful returns an instance holding some state, which requireKept checks.
func stateful(t *testing.T, opts runtime.Options) *runtime.Instance {
	i := newInstance(t, opts)
	_, err := i.Exec(ctx, "kept = 'state'")
	require.NoError(t, err)
	return i
}

// requireKept asserts that the instance still serves, with its state.
func requireKept(t *testing.T, i *runtime.Instance) {
	t.Helper()
	require.NoError(t, i.Err())
	r, err := i.Eval(ctx, "kept")
	require.NoError(t, err)
	require.JSONEq(t, `"state"`, string(r.Value))
}

// requirePython asserts err is a Python exception of type typ whose message
// contains msg, and that the instance was kept.
func requirePython(t *testing.T, i *runtime.Instance, err error, typ, msg string) {
	t.Helper()
	var pe *runtime.PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, typ, pe.Type, "%v", err)
	require.Contains(t, pe.Message, msg)
	requireKept(t, i)
}

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
		{"chunks", runtime.Options{MaxStreamChunks: 10}, "spam(1, 50)", 10, runtime.ErrStreamLimit},
		// Each chunk is 302 bytes of JSON.
		{"bytes", runtime.Options{MaxStreamBytes: 1000}, "spam('x' * 300, 50)", 3, runtime.ErrStreamLimit},
		// The defaults: 64 MiB, here in chunks of 15 MiB (each under MaxResult).
		{"default bytes", runtime.Options{}, "spam('x' * (15 << 20), 6)", 4, runtime.ErrStreamLimit},
		{"chunk over MaxResult", runtime.Options{MaxResult: 100}, "spam('x' * 200, 5)", 0, runtime.ErrResultTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			i := stateful(t, c.opts)
			_, err := i.Exec(ctx, spam)
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
	i := stateful(t, runtime.Options{MaxStreamChunks: 5})
	_, err := i.Exec(ctx, "def count():\n    n = 0\n    while True:\n        yield n\n        n += 1")
	require.NoError(t, err)
	n := 0
	_, err = i.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "count", OnChunk: counting(&n, nil)})
	require.ErrorIs(t, err, runtime.ErrStreamLimit)
	require.Equal(t, 5, n)
	requireKept(t, i)
}

func TestNaNResultIsAPythonErrorAndKeepsTheInstance(t *testing.T) {
	i := stateful(t, runtime.Options{Host: map[string]runtime.HostFunc{
		"tool": func(context.Context, json.RawMessage) (any, error) { panic("must not be called") },
	}})
	const notJSON = "Out of range float values are not JSON compliant"
	for _, expr := range []string{"float('inf')", "[float('nan')]", "{'a': -float('inf')}"} {
		_, err := i.Eval(ctx, expr)
		requirePython(t, i, err, "ValueError", notJSON)
	}
	_, err := i.Exec(ctx, "def nan():\n    return float('nan')\ndef nans():\n    yield 1\n    yield float('nan')")
	require.NoError(t, err)
	_, err = i.Call(ctx, "nan")
	requirePython(t, i, err, "ValueError", notJSON)

	n := 0
	_, err = i.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "nans", OnChunk: counting(&n, nil)})
	requirePython(t, i, err, "ValueError", notJSON)
	require.Equal(t, 1, n)

	n = 0
	_, err = i.Run(ctx, runtime.Request{Op: runtime.OpExec, Code: "import snakepit\nsnakepit.emit(float('nan'))", OnChunk: counting(&n, nil)})
	requirePython(t, i, err, "ValueError", notJSON)
	require.Zero(t, n)

	_, err = i.Exec(ctx, "import snakepit\nsnakepit.call('tool', float('inf'))")
	requirePython(t, i, err, "ValueError", notJSON)
}

func TestRaisedMemoryErrorIsAPythonErrorAndKeepsTheInstance(t *testing.T) {
	i := stateful(t, runtime.Options{MemoryLimit: 64 << 20})
	_, err := i.Exec(ctx, "raise MemoryError")
	require.NotErrorIs(t, err, runtime.ErrMemoryLimit)
	requirePython(t, i, err, "MemoryError", "")

	_, err = i.Exec(ctx, "def f():\n    raise MemoryError('out of tokens')\nf()")
	requirePython(t, i, err, "MemoryError", "out of tokens")

	// A real hit of the cap still breaks the instance.
	_, err = i.Exec(ctx, "x = bytearray(100 << 20)")
	require.ErrorIs(t, err, runtime.ErrMemoryLimit)
	require.ErrorIs(t, i.Err(), runtime.ErrMemoryLimit)
}

func TestHostCallWithPositionalAndKeywordArgumentsIsATypeError(t *testing.T) {
	var got []string
	i := stateful(t, runtime.Options{Host: map[string]runtime.HostFunc{
		"lookup": func(_ context.Context, args json.RawMessage) (any, error) {
			got = append(got, string(args))
			return "ok", nil
		},
	}})
	_, err := i.Exec(ctx, "import snakepit\nsnakepit.call('lookup', 'Paris', units='C')")
	requirePython(t, i, err, "TypeError", "positional or keyword arguments, not both")
	require.Empty(t, got, "the tool must not be called with half of the arguments")

	r, err := i.Exec(ctx, "[snakepit.call('lookup', 'Paris', 'C'), snakepit.call('lookup', city='Paris', units='C'), snakepit.call('lookup')]")
	require.NoError(t, err)
	require.JSONEq(t, `["ok","ok","ok"]`, string(r.Value))
	require.Equal(t, []string{`["Paris","C"]`, `{"city":"Paris","units":"C"}`, `[]`}, got)
}

func TestOnChunkErrorStopsTheStreamAndReachesTheCaller(t *testing.T) {
	errEnough := errors.New("enough")
	i := stateful(t, runtime.Options{})
	_, err := i.Exec(ctx, spam+"def gen():\n    for k in range(100):\n        yield k\n")
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

func TestBadRequestsFailInGoBeforeAnythingRuns(t *testing.T) {
	i := stateful(t, runtime.Options{})
	calls := i.Calls()
	for name, req := range map[string]runtime.Request{
		"no op":                  {Code: "print('hi')"},
		"unknown op":             {Op: 99, Code: "print('hi')"},
		"stream without OnChunk": {Op: runtime.OpStream, Code: "iter", Args: json.RawMessage(`[[1]]`)},
		"call without a name":    {Op: runtime.OpCall},
		"args not JSON":          {Op: runtime.OpCall, Code: "len", Args: json.RawMessage(`[1,`)},
		"args NaN":               {Op: runtime.OpCall, Code: "len", Args: json.RawMessage(`[NaN]`)},
		"args a bare value":      {Op: runtime.OpCall, Code: "len", Args: json.RawMessage(`"abc"`)},
		"args for exec":          {Op: runtime.OpExec, Code: "pass", Args: json.RawMessage(`[]`)},
		"data for call":          {Op: runtime.OpCall, Code: "len", Data: []byte("x")},
	} {
		_, err := i.Run(ctx, req)
		require.ErrorIs(t, err, runtime.ErrBadRequest, name)
		var pe *runtime.PythonError
		require.False(t, errors.As(err, &pe), name)
	}
	require.Equal(t, calls, i.Calls(), "nothing ran")
	requireKept(t, i)
}

func TestCallOfAMissingNameSaysWhereAndBuiltinsResolve(t *testing.T) {
	i := stateful(t, runtime.Options{})
	_, err := i.Call(ctx, "nope")
	requirePython(t, i, err, "NameError", "snakepit: no function 'nope' in __main__")
	_, err = i.Call(ctx, "json.nope")
	requirePython(t, i, err, "AttributeError", "snakepit: module 'json' has no function 'nope'")

	r, err := i.Call(ctx, "len", []int{1, 2, 3})
	require.NoError(t, err)
	require.JSONEq(t, "3", string(r.Value))
	r, err = i.Call(ctx, "sorted", []int{3, 1, 2})
	require.NoError(t, err)
	require.JSONEq(t, "[1,2,3]", string(r.Value))
	// __main__ comes first.
	_, err = i.Exec(ctx, "def len(x):\n    return 'mine'")
	require.NoError(t, err)
	r, err = i.Call(ctx, "len", []int{1})
	require.NoError(t, err)
	require.JSONEq(t, `"mine"`, string(r.Value))
}

func TestDecodeOfANoneResultIsLikeJSONNull(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	r, err := i.Eval(ctx, "None")
	require.NoError(t, err)
	n := 5
	require.NoError(t, r.Decode(&n))
	require.Equal(t, 5, n, "null leaves a number as it is")
	p, m := &n, map[string]int{"a": 1}
	require.NoError(t, r.Decode(&p))
	require.NoError(t, r.Decode(&m))
	require.Nil(t, p)
	require.Nil(t, m)

	r, err = i.Eval(ctx, "b'raw'")
	require.NoError(t, err)
	require.ErrorContains(t, r.Decode(&n), "bytes")
}

func TestCloseOfANilRuntimeIsANoop(t *testing.T) {
	r, err := runtime.New(ctx, runtime.Config{Dir: t.TempDir()})
	require.ErrorIs(t, err, runtime.ErrNotBuilt)
	require.NoError(t, r.Close(ctx)) // as `defer rt.Close(ctx)` before checking err
	var s *runtime.Snapshot
	require.NoError(t, s.Close())
}

// Formatting a traceback imported tokenize, linecache's helpers and ast in
// every clone, which made an exception cost 4-9 ms in fresh mode.
func TestCloneExceptionImportsNothingNew(t *testing.T) {
	s := newSnapshot(t, runtime.SnapshotOptions{})
	c := clone(t, s)
	_, err := c.Exec(ctx, "import sys\n_before = set(sys.modules)")
	require.NoError(t, err)
	for _, src := range []string{
		"1 / 0",
		"x = {'a': 1}\nx['a'] + x['b']",
		"undefined_name",
		"import json\njson.loads('{')", // a traceback through a stdlib file
		"def f(:\n    pass",
		"'é' + 1",
		"x = ['é', 'ü']\ny = x[0] + x[1] + 1",
	} {
		_, err := c.Exec(ctx, src)
		var pe *runtime.PythonError
		require.ErrorAs(t, err, &pe, src)
	}
	_, err = c.Call(ctx, "nope")
	require.Error(t, err)
	r, err := c.Eval(ctx, "sorted(set(sys.modules) - _before)")
	require.NoError(t, err)
	require.JSONEq(t, "[]", string(r.Value), "modules imported by the exceptions")
}

func TestExecReturnsTheLastExpressionsValue(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	for _, c := range []struct{ src, value, stdout string }{
		{"1 + 1", "2", ""},
		{"x = 1", "", ""},
		{"x = 5\nx * 2", "10", ""},
		{"None", "", ""},
		{"print('hi')", "", "hi\n"},
		{"print('a')\n'done'", `"done"`, "a\n"},
		{"def f():\n    return 1", "", ""},
		{"if True:\n    5", "", ""},
		{"for k in range(3):\n    k", "", ""},
		{"# only a comment", "", ""},
		// Values JSON cannot hold come back as their repr.
		{"float('nan')", `"nan"`, ""},
		{"class A:\n    def __repr__(self):\n        return 'A()'\nA()", `"A()"`, ""},
	} {
		r, err := i.Exec(ctx, c.src)
		require.NoError(t, err, c.src)
		if c.value == "" {
			require.Nil(t, r.Value, c.src)
		} else {
			require.JSONEq(t, c.value, string(r.Value), c.src)
		}
		require.Equal(t, c.stdout, string(r.Stdout), c.src)
	}
	r, err := i.Exec(ctx, "b'raw'")
	require.NoError(t, err)
	require.Equal(t, []byte("raw"), r.Bytes)
	r, err = i.Call(ctx, "f")
	require.NoError(t, err)
	require.JSONEq(t, "1", string(r.Value), "a block ending in a definition defines it")

	// A last expression that raises runs after the rest of the block, and
	// its traceback has the block's line numbers.
	r, err = i.Exec(ctx, "y = 1\nprint('ran')\ny / 0")
	var pe *runtime.PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ZeroDivisionError", pe.Type)
	require.Contains(t, pe.Traceback, `File "<exec>", line 3`)
	require.Equal(t, "ran\n", string(r.Stdout))
	r, err = i.Eval(ctx, "y")
	require.NoError(t, err)
	require.JSONEq(t, "1", string(r.Value))

	// OpEval stays strict.
	_, err = i.Eval(ctx, "float('nan')")
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ValueError", pe.Type)
}
