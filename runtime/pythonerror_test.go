package runtime_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// stateful returns an instance holding some state, which requireKept checks.
func stateful(t *testing.T, opts runtime.Options) *runtime.Instance {
	i := newInstance(t, opts)
	_, err := i.Run(ctx, runtime.Exec("kept = 'state'"))
	require.NoError(t, err)
	return i
}

// requireKept asserts that the instance still serves, with its state.
func requireKept(t *testing.T, i *runtime.Instance) {
	t.Helper()
	require.NoError(t, i.Err())
	r, err := i.Run(ctx, runtime.Eval("kept"))
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

func TestNaNResultIsAPythonErrorAndKeepsTheInstance(t *testing.T) {
	i := stateful(t, runtime.Options{Host: map[string]runtime.HostFunc{
		"tool": func(context.Context, json.RawMessage) (any, error) { panic("must not be called") },
	}})
	const notJSON = "Out of range float values are not JSON compliant"
	for _, expr := range []string{"float('inf')", "[float('nan')]", "{'a': -float('inf')}"} {
		_, err := i.Run(ctx, runtime.Eval(expr))
		requirePython(t, i, err, "ValueError", notJSON)
	}
	_, err := i.Run(ctx, runtime.Exec("def nan():\n    return float('nan')\ndef nans():\n    yield 1\n    yield float('nan')"))
	require.NoError(t, err)
	_, err = i.Run(ctx, runtime.Call("nan"))
	requirePython(t, i, err, "ValueError", notJSON)

	n := 0
	_, err = i.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "nans", OnChunk: counting(&n, nil)})
	requirePython(t, i, err, "ValueError", notJSON)
	require.Equal(t, 1, n)

	n = 0
	_, err = i.Run(ctx, runtime.Request{Op: runtime.OpExec, Code: "import snakepit\nsnakepit.emit(float('nan'))", OnChunk: counting(&n, nil)})
	requirePython(t, i, err, "ValueError", notJSON)
	require.Zero(t, n)

	_, err = i.Run(ctx, runtime.Exec("import snakepit\nsnakepit.call('tool', float('inf'))"))
	requirePython(t, i, err, "ValueError", notJSON)
}

func TestRaisedMemoryErrorIsAPythonErrorAndKeepsTheInstance(t *testing.T) {
	i := stateful(t, runtime.Options{Limits: runtime.Limits{MaxMemory: 64 << 20}})
	_, err := i.Run(ctx, runtime.Exec("raise MemoryError"))
	require.NotErrorIs(t, err, runtime.ErrMemoryLimit)
	requirePython(t, i, err, "MemoryError", "")

	_, err = i.Run(ctx, runtime.Exec("def f():\n    raise MemoryError('out of tokens')\nf()"))
	requirePython(t, i, err, "MemoryError", "out of tokens")

	// A real hit of the cap says so, and keeps the instance too.
	_, err = i.Run(ctx, runtime.Exec("x = bytearray(100 << 20)"))
	require.ErrorIs(t, err, runtime.ErrMemoryLimit)
	requirePython(t, i, err, "MemoryError", "")
}

func TestHostCallWithPositionalAndKeywordArgumentsIsATypeError(t *testing.T) {
	var got []string
	i := stateful(t, runtime.Options{Host: map[string]runtime.HostFunc{
		"lookup": func(_ context.Context, args json.RawMessage) (any, error) {
			got = append(got, string(args))
			return "ok", nil
		},
	}})
	_, err := i.Run(ctx, runtime.Exec("import snakepit\nsnakepit.call('lookup', 'Paris', units='C')"))
	requirePython(t, i, err, "TypeError", "positional or keyword arguments, not both")
	require.Empty(t, got, "the tool must not be called with half of the arguments")

	r, err := i.Run(ctx, runtime.Exec("[snakepit.call('lookup', 'Paris', 'C'), snakepit.call('lookup', city='Paris', units='C'), snakepit.call('lookup')]"))
	require.NoError(t, err)
	require.JSONEq(t, `["ok","ok","ok"]`, string(r.Value))
	require.Equal(t, []string{`["Paris","C"]`, `{"city":"Paris","units":"C"}`, `[]`}, got)
}

// Formatting a traceback imported tokenize, linecache's helpers and ast in
// every clone, which made an exception cost 4-9 ms in fresh mode.
func TestCloneExceptionImportsNothingNew(t *testing.T) {
	s := newSnapshot(t, runtime.SnapshotOptions{})
	c := clone(t, s)
	_, err := c.Run(ctx, runtime.Exec("import sys\n_before = set(sys.modules)"))
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
		_, err := c.Run(ctx, runtime.Exec(src))
		var pe *runtime.PythonError
		require.ErrorAs(t, err, &pe, src)
	}
	_, err = c.Run(ctx, runtime.Call("nope"))
	require.Error(t, err)
	r, err := c.Run(ctx, runtime.Eval("sorted(set(sys.modules) - _before)"))
	require.NoError(t, err)
	require.JSONEq(t, "[]", string(r.Value), "modules imported by the exceptions")
}
