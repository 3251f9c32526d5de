package runtime_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// A result crosses without being copied in the guest to be framed: a
// 30 MiB str needs the str and its JSON (66 MiB with the interpreter's
// own 20), where it used to need four copies; bytes need only themselves.
func TestThirtyMiBResultsReturnFromA96MiBInstance(t *testing.T) {
	const n = 30 << 20
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxMemory: 96 << 20, MaxResult: 64 << 20}})
	only := func(b []byte, c byte) bool { return len(bytes.Trim(b, string(c))) == 0 }

	r, err := i.Run(ctx, runtime.Eval("'x' * (30 << 20)"))
	require.NoError(t, err)
	require.Equal(t, n+2, len(r.Value))
	require.True(t, r.Value[0] == '"' && only(r.Value[1:n+1], 'x') && r.Value[n+1] == '"')

	_, err = i.Run(ctx, runtime.Exec("def big():\n    return 'y' * (30 << 20)\n"))
	require.NoError(t, err)
	r, err = i.Run(ctx, runtime.Call("big"))
	require.NoError(t, err)
	require.Equal(t, n+2, len(r.Value))
	require.True(t, only(r.Value[1:n+1], 'y'))

	r, err = i.Run(ctx, runtime.Eval("b'z' * (30 << 20)"))
	require.NoError(t, err)
	require.Nil(t, r.Value)
	require.Equal(t, n, len(r.Bytes))
	require.True(t, only(r.Bytes, 'z'))
	require.NoError(t, i.Err())
}

// A non-ASCII str result still arrives as UTF-8 (JSON escapes it; a str
// the guest sends unescaped goes through its UTF-8 form).
func TestNonASCIIResults(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	r, err := i.Run(ctx, runtime.Eval("'é\u2603\U0001F600'"))
	require.NoError(t, err)
	var s string
	require.NoError(t, json.Unmarshal(r.Value, &s))
	require.Equal(t, "é\u2603\U0001F600", s)

	_, err = i.Run(ctx, runtime.Exec("import snakepit_guest as g\ng._dispatch.__code__ = (lambda kind, a, b: (b'J', '\"é\"')).__code__"))
	require.NoError(t, err)
	r, err = i.Run(ctx, runtime.Eval("1"))
	require.NoError(t, err)
	require.Equal(t, `"é"`, string(r.Value))
}

// Dotted calls (every adapter call is one) take their module from
// sys.modules: 1,000 of them run no import_module; a module not yet
// imported is still imported.
func TestDottedCallsDoNotReimport(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec(`
import importlib, snakepit
@snakepit.export
def inc(x: int) -> int:
    return x + 1
imports = []
_import_module = importlib.import_module
def _counting(name, package=None):
    imports.append(name)
    return _import_module(name, package)
importlib.import_module = _counting
`))

	require.NoError(t, err)
	for range 1000 {
		r, err := i.Run(ctx, runtime.Request{Op: runtime.OpCall, Code: abi.AdapterCall, Args: json.RawMessage(`["inc", [1]]`)})
		require.NoError(t, err)
		require.JSONEq(t, "2", string(r.Bytes))
	}
	r, err := i.Run(ctx, runtime.Eval("imports"))
	require.NoError(t, err)
	require.JSONEq(t, `[]`, string(r.Value))

	r, err = i.Run(ctx, runtime.Call("colorsys.rgb_to_hsv", 1, 0, 0))
	require.NoError(t, err)
	require.JSONEq(t, `[0.0, 1.0, 1]`, string(r.Value))
	r, err = i.Run(ctx, runtime.Eval("imports"))
	require.NoError(t, err)
	require.JSONEq(t, `["colorsys"]`, string(r.Value))
}
