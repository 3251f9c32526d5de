package abi_test

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/stretchr/testify/require"
)

// Python's repr of each float (python3.13 -c 'print(repr(x))').
func TestAppendPyFloatIsPythonsRepr(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1.0", -1: "-1.0", 0.1: "0.1", 1.5: "1.5", 100: "100.0", 1e15: "1000000000000000.0",
		1e16: "1e+16", 1e-4: "0.0001", 1e-5: "1e-05", 0.00012345: "0.00012345", 1.2345e-5: "1.2345e-05",
		9999999999999998: "9999999999999998.0", 2e16 + 8: "2.000000000000001e+16",
		123456789012345678: "1.2345678901234568e+17", 5e-324: "5e-324", math.MaxFloat64: "1.7976931348623157e+308",
		1e100: "1e+100", -2.5e-300: "-2.5e-300", 1 / 3.0: "0.3333333333333333", 2.0 / 3: "0.6666666666666666",
	} {
		require.Equal(t, want, string(abi.AppendPyFloat(nil, f)), "%v", f)
	}
	require.Equal(t, "-0.0", string(abi.AppendPyFloat(nil, math.Copysign(0, -1))))
	require.Equal(t, "0.0", string(abi.AppendPyFloat(nil, 0)))
}

// marshal.dumps(v, 2) of each value, as CPython 3.13 on wasm32 writes it.
func TestMarshalToJSON(t *testing.T) {
	for m, want := range map[string]string{
		"N": "null", "T": "true", "F": "false",
		"i\xff\xff\xff\xff":                         "-1",
		"l\x03\x00\x00\x00\x00\x00\x00\x00\x01\x00": "1073741824", // 2**30 in three 15-bit digits
		"l\xfd\xff\xff\xff\x00\x00\x00\x00\x02\x00": "-2147483648",
		"g\x00\x00\x00\x00\x00\x00\xf8\x3f":         "1.5",
		"u\x03\x00\x00\x00a\"\x7f":                  `"a\"\u007f"`,
		"u\x04\x00\x00\x00\xf0\x9f\x98\x80":         `"\ud83d\ude00"`,
		"u\x03\x00\x00\x00\xed\xa0\x80":             `"\ud800"`,
		"[\x02\x00\x00\x00NT":                       "[null,true]",
		"(\x00\x00\x00\x00":                         "[]",
		"{u\x01\x00\x00\x00ai\x01\x00\x00\x00Ni\x02\x00\x00\x00g\x00\x00\x00\x00\x00\x00\xf8\x3fTTF0": `{"a":1,"null":2,"1.5":true,"true":false}`,
	} {
		out, err := abi.MarshalToJSON(nil, []byte(m), 1<<20)
		require.NoError(t, err, "%q", m)
		require.Equal(t, want, string(out), "%q", m)
	}
	for _, m := range []string{
		"", "<\x00\x00\x00\x00", ">\x00\x00\x00\x00", "s\x00\x00\x00\x00", "y", ".", "S", "c",
		"g\x00\x00\x00\x00\x00\x00\xf8\x7f",                         // NaN
		"g\x00\x00\x00\x00\x00\x00\xf0\x7f",                         // inf
		"{(\x00\x00\x00\x00N0",                                      // a tuple key
		"[\x05\x00\x00\x00N",                                        // a count past the end
		"u\xff\xff\xff\x7fa",                                        // a length past the end
		"u\x01\x00\x00\x00\xff",                                     // not UTF-8
		"l\x05\x00\x00\x00\x01\x00\x01\x00\x01\x00\x01\x00\x01\x00", // over 60 bits
		"l\x00\x00\x00\x00",                                         // no digits
		"l\x01\x00\x00\x00\x00\x80",                                 // a digit of 16 bits
		"NN",                                                        // trailing bytes
		"{N",                                                        // no end
		"\xdb\x00\x00\x00\x00",                                      // a reference flag
	} {
		_, err := abi.MarshalToJSON(nil, []byte(m), 1<<20)
		require.ErrorIs(t, err, abi.ErrNotJSON, "%q", m)
	}
	_, err := abi.MarshalToJSON(nil, []byte("u\x05\x00\x00\x00hello"), 6)
	require.ErrorIs(t, err, abi.ErrJSONTooLarge)
}

func TestJSONToMarshal(t *testing.T) {
	for js, want := range map[string]string{
		` [ 1 , -2147483649, 3.5e0, "a\u00e9\ud83d\ude00\ud800x", {"k": null, "k": true} ] `: "[\x05\x00\x00\x00" +
			"i\x01\x00\x00\x00" + "l\xfd\xff\xff\xff\x01\x00\x00\x00\x02\x00" + "g\x00\x00\x00\x00\x00\x00\x0c\x40" +
			"u\x0b\x00\x00\x00a\xc3\xa9\xf0\x9f\x98\x80\xed\xa0\x80x" + "{u\x01\x00\x00\x00kNu\x01\x00\x00\x00kT0",
		`{}`: "{0", `[]`: "[\x00\x00\x00\x00", `-0`: "i\x00\x00\x00\x00", `"\/\b"`: "u\x02\x00\x00\x00/\b",
	} {
		out, ok := abi.JSONToMarshal(nil, []byte(js))
		require.True(t, ok, js)
		require.Equal(t, want, string(out), js)
	}
	for _, js := range []string{
		``, `[1,`, `[1]]`, `01`, `1.`, `1e`, `NaN`, `"\x01"`, "\"\xff\"", `"\x"`, `"\u12"`, `1e400`,
		`1234567890123456789`, `[[[[` + string(make([]byte, 0)) + `]]]]x`,
	} {
		_, ok := abi.JSONToMarshal(nil, []byte(js))
		require.False(t, ok, js)
	}
	deep := ""
	for range 300 {
		deep += "["
	}
	_, ok := abi.JSONToMarshal(nil, []byte(deep))
	require.False(t, ok)
}

// A round trip through both conversions gives back what Go's JSON decoder
// reads from the original; the marshal side never panics or passes its
// bound, whatever the guest sends.
func FuzzMarshalJSON(f *testing.F) {
	for _, s := range []string{`[1,"a",{"b":[true,null,1.5e-7]}]`, `{"k":"\ud800\u00e9"}`, `-9007199254740993`, "N", "[\x01\x00\x00\x00T"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if out, err := abi.MarshalToJSON(nil, b, 1<<16); err == nil {
			if !json.Valid(out) || len(out) > 1<<16 {
				t.Fatalf("%q gave %q", b, out)
			}
		}
		m, ok := abi.JSONToMarshal(nil, b)
		if !ok {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("%q is not JSON but converted", b)
		}
		back, err := abi.MarshalToJSON(nil, m, 1<<30)
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		var x, y any
		if json.Unmarshal(b, &x) != nil || json.Unmarshal(back, &y) != nil || !reflect.DeepEqual(x, y) {
			t.Fatalf("%q came back as %q", b, back)
		}
	})
}
