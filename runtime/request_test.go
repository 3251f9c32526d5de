package runtime_test

import (
	"encoding/json"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

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
	_, err := i.Run(ctx, runtime.Call("nope"))
	requirePython(t, i, err, "NameError", "snakepit: no function 'nope' in __main__")
	_, err = i.Run(ctx, runtime.Call("json.nope"))
	requirePython(t, i, err, "AttributeError", "snakepit: module 'json' has no function 'nope'")

	r, err := i.Run(ctx, runtime.Call("len", []int{1, 2, 3}))
	require.NoError(t, err)
	require.JSONEq(t, "3", string(r.Value))
	r, err = i.Run(ctx, runtime.Call("sorted", []int{3, 1, 2}))
	require.NoError(t, err)
	require.JSONEq(t, "[1,2,3]", string(r.Value))
	// __main__ comes first.
	_, err = i.Run(ctx, runtime.Exec("def len(x):\n    return 'mine'"))
	require.NoError(t, err)
	r, err = i.Run(ctx, runtime.Call("len", []int{1}))
	require.NoError(t, err)
	require.JSONEq(t, `"mine"`, string(r.Value))
}

func TestDecodeOfANoneResultIsLikeJSONNull(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	r, err := i.Run(ctx, runtime.Eval("None"))
	require.NoError(t, err)
	n := 5
	require.NoError(t, r.Decode(&n))
	require.Equal(t, 5, n, "null leaves a number as it is")
	p, m := &n, map[string]int{"a": 1}
	require.NoError(t, r.Decode(&p))
	require.NoError(t, r.Decode(&m))
	require.Nil(t, p)
	require.Nil(t, m)

	r, err = i.Run(ctx, runtime.Eval("b'raw'"))
	require.NoError(t, err)
	require.ErrorContains(t, r.Decode(&n), "bytes")
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
		r, err := i.Run(ctx, runtime.Exec(c.src))
		require.NoError(t, err, c.src)
		if c.value == "" {
			require.Nil(t, r.Value, c.src)
		} else {
			require.JSONEq(t, c.value, string(r.Value), c.src)
		}
		require.Equal(t, c.stdout, string(r.Stdout), c.src)
	}
	r, err := i.Run(ctx, runtime.Exec("b'raw'"))
	require.NoError(t, err)
	require.Equal(t, []byte("raw"), r.Bytes)
	r, err = i.Run(ctx, runtime.Call("f"))
	require.NoError(t, err)
	require.JSONEq(t, "1", string(r.Value), "a block ending in a definition defines it")

	// A last expression that raises runs after the rest of the block, and
	// its traceback has the block's line numbers.
	r, err = i.Run(ctx, runtime.Exec("y = 1\nprint('ran')\ny / 0"))
	var pe *runtime.PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ZeroDivisionError", pe.Type)
	require.Contains(t, pe.Traceback, `File "<exec>", line 3`)
	require.Equal(t, "ran\n", string(r.Stdout))
	r, err = i.Run(ctx, runtime.Eval("y"))
	require.NoError(t, err)
	require.JSONEq(t, "1", string(r.Value))

	// OpEval stays strict.
	_, err = i.Run(ctx, runtime.Eval("float('nan')"))
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ValueError", pe.Type)
}

// A warning of the compiler is printed, and the cell runs: showing one
// used to raise KeyError ('__builtins__', missing from the dispatcher's
// globals).
func TestCompileWarningsArePrinted(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	for _, src := range []string{"s = '\\d'\nlen(s)", "x = 1 is 1\n2"} {
		r, err := i.Run(ctx, runtime.Exec(src))
		require.NoError(t, err, src)
		require.JSONEq(t, "2", string(r.Value), src)
		require.Contains(t, string(r.Stderr), "<exec>:1: SyntaxWarning: ", src)
	}
}

// A mount over the stdlib passed validation and failed later, in the
// guest's start ("sp_init failed with code 3").
func TestMountOverTheStdlibIsBadOptions(t *testing.T) {
	for _, p := range []string{runtime.StdlibPath, runtime.StdlibPath + "/json", runtime.ZoneinfoPath} {
		_, err := rt(t).NewInstance(ctx, runtime.Options{Mounts: []runtime.Mount{{GuestPath: p, FS: fstest.MapFS{}}}})
		require.ErrorIs(t, err, runtime.ErrBadOptions, p)
	}
}
