package runtime_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// values builds JSON-shaped values from a seed, with what the conversion
// between JSON and marshal must get right: floats from random bits (every
// exponent, subnormals, -0.0), integers at the int32, 60-bit and 64-bit
// edges and past them, strings with escapes, controls, DEL, non-ASCII,
// astral characters and lone surrogates, dict keys of every kind json
// takes, tuples, nesting, duplicate-looking keys.
const jsonValues = `
import json, random, struct, math, sys

def _float(r):
    while True:
        f = struct.unpack("<d", r.getrandbits(64).to_bytes(8, "little"))[0]
        if not (math.isnan(f) or math.isinf(f)):
            return f

_EDGES = [0, 1, -1, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**60 - 1, 2**60, -2**60, 2**63 - 1, -2**63, 2**64, 10**18 - 1, 10**18, 10**30, -10**30,
          0.0, -0.0, 1e16, 1e15, 9999999999999998.0, 1e-4, 1e-5, 0.1, 5e-324, 1.7976931348623157e308, 1.5, 100.0, 123456789012345678.0, 2e16 + 8]
_CHARS = '"\\\b\f\n\r\t\x00\x1f\x7f/ aZ~\xe9\u20ac\U0001f600\ud800\udc00\udbff\uffff'

def _str(r):
    return "".join(r.choice(_CHARS) if r.random() < 0.5 else chr(r.randrange(0x110000)) for _ in range(r.randrange(12)))

def value(seed, depth=0):
    r = random.Random(seed)
    k = r.randrange(10 if depth < 4 else 5)
    if k == 0: return r.choice(_EDGES)
    if k == 1: return _float(r)
    if k == 2: return r.randrange(-2**70, 2**70) >> r.randrange(72)
    if k == 3: return _str(r) * r.choice((1, 1, 40))
    if k == 4: return r.choice((None, True, False))
    if k == 5: return [value(r.random(), depth + 1) for _ in range(r.randrange(6))]
    if k == 6: return tuple(value(r.random(), depth + 1) for _ in range(r.randrange(4)))
    if k == 7:
        keys = [_str(r), r.choice(_EDGES), _float(r), None, True, False, "1", 1]
        return {r.choice(keys): value(r.random(), depth + 1) for _ in range(r.randrange(6))}
    if k == 8: return {_str(r): value(r.random(), depth + 1) for _ in range(r.randrange(6))}
    return [value(r.random(), depth + 1)]

def dumped(seed):
    return json.dumps(value(seed), separators=(",", ":"), allow_nan=False)

def same(x, text):
    y = json.loads(text)
    return repr(x) == repr(y) or [repr(x), repr(y)]

def marshalled(x):
    # The dispatcher's frame: its b is what the host sent.
    return sys._getframe(1).f_locals["b"][:5] == b"[\x01\x00\x00\x00"
`

// TestJSONCrossesAsPythonsJSONWritesIt runs values through both ways of
// the marshal conversion and checks each against CPython's own json in the
// same interpreter: a result must be json.dumps' text byte for byte, and
// arguments must arrive as json.loads would decode them.
func TestJSONCrossesAsPythonsJSONWritesIt(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec(jsonValues))
	require.NoError(t, err)

	// Both ways are taken, not json's: the host holds a list result's
	// JSON, and list arguments arrive marshalled.
	r, err := i.Run(ctx, runtime.Eval("__import__('snakepit_guest')._tojson([1, 'a']) is None"))
	require.NoError(t, err)
	require.Equal(t, "true", string(r.Value))
	r, err = i.Run(ctx, runtime.Call(".marshalled", 1)) // through _dispatch, whose b it reads
	require.NoError(t, err)
	require.Equal(t, "true", string(r.Value))

	for seed := range 400 {
		r, err := i.Run(ctx, runtime.Call("value", seed))
		require.NoError(t, err, "seed %d", seed)
		ref, err := i.Run(ctx, runtime.Call("dumped", seed))
		require.NoError(t, err, "seed %d", seed)
		var want string
		require.NoError(t, json.Unmarshal(ref.Value, &want))
		got := string(r.Value)
		if r.Value == nil {
			got = "null" // None has no frame
		}
		require.Equal(t, want, got, "seed %d", seed)

		// Back in: Python's JSON text as arguments, beside itself as a str.
		text, _ := json.Marshal(want)
		r, err = i.Run(ctx, runtime.Request{Op: runtime.OpCall, Code: "same", Args: json.RawMessage(fmt.Sprintf("[%s,%s]", want, text))})
		require.NoError(t, err, "seed %d", seed)
		require.Equal(t, "true", string(r.Value), "seed %d: %s", seed, want)
	}
}

// TestJSONErrorsAreJSONsOwn: what the host does not convert, Python's json
// encodes or refuses, with its own error.
func TestJSONErrorsAreJSONsOwn(t *testing.T) {
	i := stateful(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec(`
import json, collections, enum, functools
class Color(enum.IntEnum):
    RED = 1
cyc = [1]
cyc.append(cyc)
def ref(src):
    try:
        return ["ok", json.dumps(eval(src), separators=(",", ":"), allow_nan=False)]
    except Exception as e:
        return [type(e).__name__, str(e)]
`))
	require.NoError(t, err)
	for _, src := range []string{
		"[{1, 2}]", "[frozenset()]", "[1j]", "[b'x']", "[bytearray(b'x')]", "[memoryview(b'x')]",
		"[float('nan')]", "{'a': float('inf')}", "{float('nan'): 1}", "{(1, 2): 3}", "{b'k': 1}",
		"cyc", "[...]", "[StopIteration]", "[(lambda: 0).__code__]",
		"[2**70, -2**100]", "{2**80: 1}", "[10**5000]", "[collections.OrderedDict(a=1)]", "[Color.RED]",
		"{Color.RED: 1}", "['x' * 300, 'é' * 300]", "'\\ud800' * 300", "(1, [2, (3,)])",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		"functools.reduce(lambda a, _: [a], range(300), 1)",
	} {
		r, err := i.Run(ctx, runtime.Call("ref", src))
		require.NoError(t, err, src)
		var want [2]string
		require.NoError(t, json.Unmarshal(r.Value, &want), src)
		got, err := i.Run(ctx, runtime.Eval(src))
		if want[0] == "ok" {
			require.NoError(t, err, src)
			require.Equal(t, want[1], string(got.Value), src)
			continue
		}
		requirePython(t, i, err, want[0], want[1])
	}
}

// Stream chunks take the same way: each is json.dumps' text of its item,
// and an item json refuses ends the call with json's error.
func TestStreamChunksAreJSONsText(t *testing.T) {
	i := stateful(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec(`
import json
items = [[1, 'x', 2.5], {'k': (1e16, None)}, 'y\u20ac' * 300, 3, None, {1: True}]
def texts():
    return [json.dumps(x, separators=(",", ":")) for x in items]
def gen(bad):
    yield from items
    if bad:
        yield {1, 2}
`))
	require.NoError(t, err)
	r, err := i.Run(ctx, runtime.Call("texts"))
	require.NoError(t, err)
	var want []string
	require.NoError(t, json.Unmarshal(r.Value, &want))
	for _, bad := range []bool{false, true} {
		var got []string
		_, err = i.Run(ctx, runtime.CallStream("gen", json.RawMessage(fmt.Sprintf("[%v]", bad)), func(c json.RawMessage) error {
			got = append(got, string(c))
			return nil
		}))
		require.Equal(t, want, got)
		if bad {
			requirePython(t, i, err, "TypeError", "Object of type set is not JSON serializable")
		} else {
			require.NoError(t, err)
		}
	}
}

// A guest that claims the host holds its value when the host made none
// broke the contract: the instance is given up.
func TestAHeldValueWithoutAConversionBreaksTheInstance(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec("import snakepit_guest as g\ndef held():\n    return g._HELD"))
	require.NoError(t, err)
	_, err = i.Run(ctx, runtime.Call("held"))
	require.ErrorIs(t, err, abi.ErrMalformed)
	require.Error(t, i.Err())
}

// The C half runs a call of a function it finds in __main__ or a loaded
// module itself (snakepit.c's fast_call): what it answers must be what the
// dispatcher's Python answers. ".name" resolves to the same function
// through the Python dispatcher (the C half finds no module "").
func TestTheCHalfsCallsAnswerAsTheDispatcher(t *testing.T) {
	i := stateful(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec(`
import sys
def f(*a, **k):
    v = k.get("v", a[0] if a else None)
    if v == "raise":
        raise ValueError("no " + "way")
    if v == "exit":
        sys.exit(3)
    if v == "digits":
        return 10 ** 5000
    if v == "out":
        print("printed")
        return 7
    return v
`))
	require.NoError(t, err)
	for _, args := range []string{`[]`, `[1]`, `[-5]`, `[2.5]`, `[null]`, `[true]`, `["s"]`, `[[1,{"a":[2]}]]`, `{"v":{"k":1}}`,
		`["raise"]`, `["exit"]`, `["digits"]`, `["out"]`, `[1,2,3]`} {
		var got [2]*runtime.Result
		var errs [2]error
		for k, name := range []string{"f", ".f"} {
			got[k], errs[k] = i.Run(ctx, runtime.Request{Op: runtime.OpCall, Code: name, Args: json.RawMessage(args)})
		}
		require.Equal(t, errs[1] == nil, errs[0] == nil, args)
		if errs[0] != nil {
			require.Equal(t, errs[1].Error(), errs[0].Error(), args)
			var pe [2]*runtime.PythonError
			require.ErrorAs(t, errs[0], &pe[0], args)
			require.ErrorAs(t, errs[1], &pe[1], args)
			// The dispatcher's own frames are not in the C half's
			// tracebacks (an int over the digit limit fails in _value).
			require.Equal(t, withoutDispatcher(pe[1].Traceback), withoutDispatcher(pe[0].Traceback), args)
			if args == `["raise"]` {
				require.Contains(t, pe[0].Traceback, `line 6, in f`, args)
			}
			pe[0].Traceback, pe[1].Traceback = "", ""
			require.Equal(t, *pe[1], *pe[0], args)
			continue
		}
		require.Equal(t, string(got[1].Value), string(got[0].Value), args)
		require.Equal(t, string(got[1].Stdout), string(got[0].Stdout), args)
	}

	// Proof that the C half ran them: with the dispatcher's code replaced,
	// a call of f still answers, and everything else gets the replacement.
	_, err = i.Run(ctx, runtime.Exec("import snakepit_guest as g\ng._dispatch.__code__ = (lambda kind, a, b: (b'J', b'42')).__code__"))
	require.NoError(t, err)
	for name, want := range map[string]string{"f": "9", "__main__.f": "9", ".f": "42", "len": "42"} {
		r, err := i.Run(ctx, runtime.Call(name, 9))
		require.NoError(t, err, name)
		require.Equal(t, want, string(r.Value), name)
	}
}

func withoutDispatcher(tb string) string {
	var keep []string
	for _, l := range strings.SplitAfter(tb, "\n") {
		if !strings.Contains(l, `File "snakepit_guest.py"`) && l != "Traceback (most recent call last):\n" {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}
