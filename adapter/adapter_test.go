package adapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/adapter"
	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { testrt.Main(m) }

// shop is testdata/shop, a package of exported functions.
var shop = runtime.Package{FS: os.DirFS("testdata")}

// shopTools are the host tools shop calls.
var shopTools = map[string]runtime.HostFunc{
	"price": func(_ context.Context, args json.RawMessage) (any, error) {
		var a []string
		if err := json.Unmarshal(args, &a); err != nil || len(a) != 1 {
			return nil, errors.New("price wants one name")
		}
		return float64(len(a[0])) / 2, nil
	},
}

func newShop(t *testing.T) *runtime.Instance {
	t.Helper()
	ctx := context.Background()
	inst, err := testrt.Runtime(t).NewInstance(ctx, runtime.Options{Packages: []runtime.Package{shop}, Host: shopTools})
	require.NoError(t, err)
	t.Cleanup(func() { inst.Close(ctx) })
	_, err = inst.Run(ctx, runtime.Exec("import shop"))
	require.NoError(t, err)
	return inst
}

func shopOptions(mode pool.Mode) pool.Options {
	return pool.Options{
		Size: 1, Mode: mode, Preload: []string{"shop"}, MaxCallTime: time.Minute,
		Instance: runtime.Options{Limits: runtime.Limits{MaxAsyncHostCalls: 4}, Packages: []runtime.Package{shop}, Host: shopTools},
	}
}

func newShopPool(t *testing.T, mode pool.Mode) *pool.Pool {
	t.Helper()
	ctx := context.Background()
	p, err := pool.New(ctx, testrt.Runtime(t), shopOptions(mode))
	require.NoError(t, err)
	t.Cleanup(func() { p.Close(ctx) })
	return p
}

// newShopRunner returns a Runner of a pool in mode ("fresh", "warm" or
// "session") and its stats.
func newShopRunner(t *testing.T, mode string) (runtime.Runner, func() pool.Stats) {
	t.Helper()
	switch mode {
	case "fresh":
		p := newShopPool(t, pool.ModeFresh)
		return p, p.Stats
	case "warm":
		p := newShopPool(t, pool.ModeWarm)
		return p, p.Stats
	}
	ctx := context.Background()
	ss, err := pool.NewSessions(ctx, testrt.Runtime(t), shopOptions(pool.ModeFresh))
	require.NoError(t, err)
	t.Cleanup(func() { ss.Close(ctx) })
	return ss.Session("s"), ss.Stats
}

func TestCatalogSchemas(t *testing.T) {
	cat, err := adapter.Catalog(context.Background(), newShop(t))
	require.NoError(t, err)
	var names []string
	for _, f := range cat {
		names = append(names, f.Name)
	}
	require.Equal(t, []string{"aticks", "closed_so_far", "count", "echo", "fail", "flexible", "hints", "item", "later", "positive", "price", "prices"}, names)
	f := cat[slices.IndexFunc(cat, func(f adapter.Function) bool { return f.Name == "hints" })]
	require.Equal(t, "Takes every kind of hint.", f.Description)
	require.False(t, f.Stream)
	schemas := map[string]string{
		"a": `{"type":"integer","description":"an int, described on two lines."}`,
		"b": `{"type":"number","description":"a float"}`,
		"c": `{"type":"string"}`,
		"d": `{"type":"boolean"}`,
		"e": `{"type":"null"}`,
		"f": `{"type":"array","items":{"type":"integer"}}`,
		"g": `{"type":"object","additionalProperties":{"type":"number"}}`,
		"h": `{"anyOf":[{"type":"string"},{"type":"null"}]}`,
		"i": `{"anyOf":[{"type":"integer"},{"type":"string"}]}`,
		"j": `{"type":"string","enum":["x","y"]}`,
		"k": `{"type":"object","title":"Movie","properties":{"title":{"type":"string"},"year":{"type":"integer"}},"required":["title","year"],"additionalProperties":false}`,
		"m": `{"type":"object","title":"Point","properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x"],"additionalProperties":false,"description":"A point in the plane."}`,
		"n": `{"type":"string","enum":["red","blue"],"title":"Color"}`,
		"o": `{"type":"integer","description":"an annotated int"}`,
		"p": `{"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"minItems":2,"maxItems":2}`,
		"q": `{"type":"string","contentEncoding":"base64"}`,
		"r": `{"type":"object","title":"Extra","properties":{"note":{"type":"string"}},"required":[],"additionalProperties":false}`,
		"s": `{"anyOf":[{"type":"integer"},{"type":"null"}]}`,
	}
	var required []string
	for _, p := range f.Params {
		require.JSONEq(t, schemas[p.Name], string(p.Schema), p.Name)
		if p.Required {
			required = append(required, p.Name)
		}
	}
	require.Len(t, f.Params, len(schemas))
	require.Equal(t, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "m", "n"}, required)
	o := f.Params[13]
	require.JSONEq(t, `3`, string(o.Default))
	require.True(t, f.Params[14].KeywordOnly)
	require.JSONEq(t, `[1,"a"]`, string(f.Params[14].Default))

	var input struct {
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
		Additional bool                       `json:"additionalProperties"`
	}
	require.NoError(t, json.Unmarshal(f.Input, &input))
	require.Equal(t, "object", input.Type)
	require.Equal(t, required, input.Required)
	require.False(t, input.Additional)
	require.JSONEq(t, `{"type":"integer","description":"an annotated int","default":3}`, string(input.Properties["o"]))
	require.JSONEq(t, `{"type":"object","additionalProperties":{}}`, string(f.Output), "a bare dict is any object")

	it := cat[slices.IndexFunc(cat, func(f adapter.Function) bool { return f.Name == "item" })]
	require.JSONEq(t, `{"type":"object","title":"Item","properties":{"name":{"type":"string"},"price":{"type":"number"},"tags":{"type":"array","items":{"type":"string"}},"where":{"type":"object","title":"Point","properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x"],"additionalProperties":false,"description":"A point in the plane."}},"required":["name","price","tags","where"],"additionalProperties":false}`, string(it.Output))
	flex := cat[slices.IndexFunc(cat, func(f adapter.Function) bool { return f.Name == "flexible" })]
	require.True(t, flex.Params[0].PositionalOnly)
	require.Len(t, flex.Params, 2, "**rest is not a parameter but the schema's additionalProperties")
	require.JSONEq(t, `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer","default":2}},"required":["a"],"additionalProperties":{"type":"string"}}`, string(flex.Input))
	later := cat[slices.IndexFunc(cat, func(f adapter.Function) bool { return f.Name == "later" })]
	require.JSONEq(t, `{"type":"object","title":"Later","properties":{"v":{"type":"integer"}},"required":["v"],"additionalProperties":false}`, string(later.Output))
	aticks := cat[slices.IndexFunc(cat, func(f adapter.Function) bool { return f.Name == "aticks" })]
	require.True(t, aticks.Stream)
	count := cat[slices.IndexFunc(cat, func(f adapter.Function) bool { return f.Name == "count" })]
	require.True(t, count.Stream)
	require.JSONEq(t, `{"type":"integer"}`, string(count.Output))
}

func TestCatalogEmpty(t *testing.T) {
	ctx := context.Background()
	inst, err := testrt.Runtime(t).NewInstance(ctx, runtime.Options{})
	require.NoError(t, err)
	defer inst.Close(ctx)
	cat, err := adapter.Catalog(ctx, inst)
	require.NoError(t, err)
	require.Empty(t, cat)
}

type point struct{ X, Y float64 }

type item struct {
	Name  string
	Price float64
	Tags  []string
	Where point
}

func TestCall(t *testing.T) {
	ctx := context.Background()
	inst := newShop(t)
	it, err := adapter.Call[item](ctx, inst, "item", map[string]any{"name": "pear"})
	require.NoError(t, err)
	require.Equal(t, item{Name: "pear", Price: 1.5, Tags: []string{"new"}, Where: point{1, 2}}, it)

	it, err = adapter.Call[item](ctx, inst, "item", []any{"fig", 3})
	require.NoError(t, err)
	require.Equal(t, 3.0, it.Price)

	s, err := adapter.Call[string](ctx, inst, "echo", json.RawMessage(`{"s": "hi"}`))
	require.NoError(t, err)
	require.Equal(t, "hi", s)

	args := map[string]any{"a": 1, "b": 2, "c": "c", "d": true, "e": nil, "f": []int{1}, "g": map[string]float64{},
		"h": nil, "i": "i", "j": "y", "k": map[string]any{"title": "T", "year": 1999}, "m": map[string]any{"x": 1},
		"n": "blue", "p": []any{2, "b"}, "q": []byte("hi")}
	var got map[string]any
	got, err = adapter.Call[map[string]any](ctx, inst, "hints", args)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"a": 1.0, "b": 2.0, "k": map[string]any{"title": "T", "year": 1999.0},
		"m": map[string]any{"x": 1.0, "y": 0.0}, "n": "blue", "p": []any{2.0, "b"}, "q": "aGk=", "mtype": "Point"}, got)

	sum, err := adapter.Call[[]int](ctx, inst, "count", []int{3})
	require.NoError(t, err, "Call collects a generator's items")
	require.Equal(t, []int{0, 1, 2}, sum)

	p, err := adapter.Call[float64](ctx, inst, "price", []string{"kiwi"})
	require.NoError(t, err)
	require.Equal(t, 2.0, p)

	fl, err := adapter.Call[map[string]any](ctx, inst, "flexible", map[string]any{"a": 1, "x": "y"})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"a": 1.0, "b": 2.0, "rest": map[string]any{"x": "y"}}, fl)
	fl, err = adapter.Call[map[string]any](ctx, inst, "flexible", []int{1, 5})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"a": 1.0, "b": 5.0, "rest": map[string]any{}}, fl)

	lt, err := adapter.Call[struct{ V int }](ctx, inst, "later", map[string]any{"p": map[string]any{"v": 1}})
	require.NoError(t, err)
	require.Equal(t, 2, lt.V)

	ticks, err := adapter.Call[[]int](ctx, inst, "aticks", []int{3})
	require.NoError(t, err, "Call collects an async generator's items")
	require.Equal(t, []int{0, 1, 2}, ticks)

	ps, err := adapter.Call[[]float64](ctx, inst, "prices", map[string]any{"names": []string{"kiwi", "fig"}})
	require.NoError(t, err, "an async function runs on asyncio's loop, where acall awaits host tools")
	require.Equal(t, []float64{2, 1.5}, ps)
}

func TestCallErrors(t *testing.T) {
	ctx := context.Background()
	inst := newShop(t)
	base := map[string]any{"a": 1, "b": 2, "c": "c", "d": true, "e": nil, "f": []int{1}, "g": map[string]float64{},
		"h": nil, "i": "i", "j": "y", "k": map[string]any{"title": "T", "year": 1999}, "m": map[string]any{"x": 1}, "n": "blue"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, c := range []struct {
		fn     string
		args   any
		kind   error
		reason string
	}{
		{"nope", nil, adapter.ErrUnknownFunction, `no exported function "nope" (exported: aticks, closed_so_far, count, echo, fail, flexible, hints, item, later, positive, price, prices)`},
		{"shop.item", nil, adapter.ErrUnknownFunction, ""},
		{"item", nil, adapter.ErrArguments, "missing required argument name"},
		{"item", map[string]any{"name": 3}, adapter.ErrArguments, "argument name: expected string, got integer"},
		{"item", map[string]any{"name": "x", "colour": "red"}, adapter.ErrArguments, `unexpected argument "colour"`},
		{"item", []any{"x", 1, 2}, adapter.ErrArguments, "takes at most 2 positional arguments, got 3"},
		{"item", "x", adapter.ErrArguments, "arguments must encode as a JSON object, array or null"},
		{"item", map[string]any{"name": make(chan int)}, adapter.ErrArguments, "json: unsupported type: chan int"},
		{"hints", with("a", true), adapter.ErrArguments, "argument a: expected integer, got boolean"},
		{"hints", with("a", 1.5), adapter.ErrArguments, "argument a: expected integer, got number"},
		{"hints", with("f", []any{1, "2"}), adapter.ErrArguments, "argument f[1]: expected integer, got string"},
		{"hints", with("g", map[string]any{"a": "b"}), adapter.ErrArguments, `argument g["a"]: expected number, got string`},
		{"hints", with("h", 3), adapter.ErrArguments, "argument h: expected string or null, got integer"},
		{"hints", with("j", "z"), adapter.ErrArguments, `argument j: expected one of "x", "y", got 'z'`},
		{"hints", with("k", map[string]any{"title": "T"}), adapter.ErrArguments, `argument k: missing key "year"`},
		{"hints", with("k", map[string]any{"title": "T", "year": "1999"}), adapter.ErrArguments, `argument k.year: expected integer, got string`},
		{"hints", with("m", map[string]any{"x": 1, "z": 2}), adapter.ErrArguments, `argument m: unexpected key "z"`},
		{"hints", with("n", "green"), adapter.ErrArguments, `argument n: expected one of "red", "blue", got 'green'`},
		{"hints", with("p", []any{1}), adapter.ErrArguments, "argument p: expected array of 2 items, got array"},
		{"hints", with("q", "!!"), adapter.ErrArguments, "argument q: expected base64 string, got string"},
		{"hints", with("e", nil), adapter.ErrArguments, "missing required argument e"},
		{"positive", []int{-1}, adapter.ErrArguments, "argument x: must be positive"},
		{"flexible", map[string]any{"a": 1, "x": 3}, adapter.ErrArguments, "argument x: expected string, got integer"},
		{"later", map[string]any{"p": map[string]any{}}, adapter.ErrArguments, `argument p: missing key "v"`},
	} {
		_, err := adapter.Call[any](ctx, inst, c.fn, c.args)
		require.ErrorIs(t, err, c.kind, "%s %v", c.fn, c.args)
		var ae *adapter.Error
		require.ErrorAs(t, err, &ae)
		require.Equal(t, c.fn, ae.Func)
		if c.reason != "" {
			require.Equal(t, c.reason, ae.Reason, "%s %v", c.fn, c.args)
			require.Contains(t, err.Error(), c.fn+": ")
		}
	}

	_, err := adapter.Call[int](ctx, inst, "echo", []string{"not an int"})
	require.ErrorIs(t, err, adapter.ErrResult)
	var je *json.UnmarshalTypeError
	require.ErrorAs(t, err, &je)

	_, err = adapter.Call[any](ctx, inst, "fail", []string{"boom"})
	var pe *runtime.PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ValueError", pe.Type)
	require.Equal(t, "boom", pe.Message)
	require.Equal(t, runtime.KindPython, runtime.KindOf(err))

	// Every failure above left the interpreter usable.
	s, err := adapter.Call[string](ctx, inst, "echo", []string{"still here"})
	require.NoError(t, err)
	require.Equal(t, "still here", s)
}
