package wasmedit

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// tickHost runs ticks.wasm-shaped modules, counting the calls to each import;
// yield refills the budget to 1, so every check that runs calls it once.
func tickHost(t *testing.T, wasm []byte) (mod api.Module, yields, ticks *int) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { require.NoError(t, rt.Close(ctx)) })
	yields, ticks = new(int), new(int)
	_, err := rt.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module) {
		*yields++
		if g, ok := m.ExportedGlobal(budgetName).(api.MutableGlobal); ok {
			g.Set(api.EncodeI32(1))
		}
	}).Export("yield").
		NewFunctionBuilder().WithFunc(func() { *ticks++ }).Export("tick").
		Instantiate(ctx)
	require.NoError(t, err)
	mod, err = rt.Instantiate(ctx, wasm)
	require.NoError(t, err)
	return mod, yields, ticks
}

// interpSum is what ticks.wasm's interp returns for n steps.
func interpSum(n int) uint64 {
	var s uint64
	for i := range n {
		s += []uint64{1, 10, 100}[i%3]
	}
	return s
}

func TestInstrumentTicksReplaceTheDispatchCheck(t *testing.T) {
	in := testdata(t, "ticks.wasm")
	opts := Options{YieldModule: "env", YieldName: "yield", TickName: "tick", BudgetExport: budgetName, Budget: 1}
	withTicks, err := Instrument(in, opts)
	require.NoError(t, err)
	opts.TickName = ""
	allLoops, err := Instrument(in, opts)
	require.NoError(t, err)
	nops, err := NopCalls(in, "env", "tick")
	require.NoError(t, err)
	require.Len(t, nops, len(in))

	for _, tc := range []struct{ n, every, m int }{{0, 1, 1}, {1, 1, 1}, {10, 3, 4}, {100, 7, 1}, {999, 1, 5}} {
		args := []uint64{uint64(tc.n), uint64(tc.every), uint64(tc.m)}

		mod, yields, ticks := tickHost(t, withTicks)
		assert.Equal(t, interpSum(tc.n), call(t, mod, "interp", args...))
		// The pre loop's header is checked m times, each tick once, the dispatch header never.
		assert.Equal(t, tc.m+tc.n/tc.every, *yields, "%+v", tc)
		assert.Zero(t, *ticks, "every tick call is rewritten")
		// A function without ticks keeps the check on its dispatch loop.
		*yields = 0
		assert.Equal(t, uint64(tc.n/2*11+tc.n%2), call(t, mod, "plain", uint64(tc.n)))
		assert.Equal(t, tc.n+1, *yields)

		mod, yields, ticks = tickHost(t, allLoops)
		assert.Equal(t, interpSum(tc.n), call(t, mod, "interp", args...))
		assert.Equal(t, tc.m+tc.n+1, *yields, "%+v", tc)
		assert.Equal(t, tc.n/tc.every, *ticks, "without TickName, tick calls stay calls")

		mod, yields, ticks = tickHost(t, nops)
		assert.Equal(t, interpSum(tc.n), call(t, mod, "interp", args...))
		assert.Zero(t, *yields)
		assert.Zero(t, *ticks, "NopCalls removes every tick call")
	}
}

func TestInstrumentTickImportErrors(t *testing.T) {
	in := testdata(t, "ticks.wasm")
	for _, tc := range []struct{ module, name, want string }{
		{"env", "missing", `does not import "env" "missing"`},
		{"other", "tick", `does not import "other" "tick"`},
	} {
		_, err := Instrument(in, Options{YieldModule: "env", YieldName: "yield", TickName: tc.name, BudgetExport: budgetName, Budget: 1})
		if tc.module == "env" {
			assert.ErrorContains(t, err, tc.want)
		}
		_, err = NopCalls(in, tc.module, tc.name)
		assert.ErrorContains(t, err, tc.want)
	}
	// loops.wasm's "other" import takes a parameter.
	_, err := NopCalls(testdata(t, "loops.wasm"), "env", "other")
	assert.ErrorContains(t, err, "must have type [] -> []")

	ok, err := ImportsFunc(in, "env", "tick")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = ImportsFunc(in, "env", "nope")
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = ImportsFunc([]byte("not wasm"), "env", "tick")
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestInstrumentCountIsExactAcrossCallsAndExits(t *testing.T) {
	for _, tc := range []struct{ n, k, budget int32 }{{1, 1, 1}, {3, 5, 1}, {10, 7, 4}, {50, 100, 333}, {7, 1000, 1}} {
		// Every check that runs decrements the budget once; the yield refills it.
		var yields int
		mod := instantiate(t, instrument(t, "nested.wasm", "env", tc.budget), resetEvery(t, tc.budget, &yields))
		headers := int32(call(t, mod, "outer", api.EncodeI32(tc.n), api.EncodeI32(tc.k)))
		require.Equal(t, tc.n*(1+7*tc.k), headers, "%+v", tc)
		assert.Equal(t, int(headers/tc.budget), yields, "%+v", tc)
		assert.Equal(t, tc.budget-headers%tc.budget, api.DecodeI32(budget(t, mod).Get()), "%+v", tc)
	}
}

// A function that counts in a local hands the count over around a call only
// when the callee may check: nested.wat's $withleaf calls $leaf (no loop, no
// call) bare and $inner (a loop) with the handover.
func TestInstrumentHandsOverOnlyToCheckers(t *testing.T) {
	out := instrument(t, "nested.wasm", "env", 10)
	m, err := parseModule(out)
	require.NoError(t, err)
	im, err := m.scanImports("env", "yield")
	require.NoError(t, err)
	nglobals, _, err := m.globals(nil)
	require.NoError(t, err)
	budget := byte(im.globals + nglobals - 1) // the global Instrument added, the last
	code, err := m.scanCode(im.funcs, want{tick: -1})
	require.NoError(t, err)
	const inner, leaf, withleaf = 1, 5, 6 // function indices: the import, then nested.wat's order
	body := out[code.bodies[withleaf-im.funcs].code:code.bodies[withleaf-im.funcs].end]
	assert.Contains(t, string(body), string([]byte{0x10, leaf}), "$withleaf calls $leaf")
	assert.NotContains(t, string(body), string([]byte{0x24, budget, 0x10, leaf}), "no handover before the call to $leaf")
	assert.Contains(t, string(body), string([]byte{0x24, budget, 0x10, inner}), "a handover before the call to $inner")
}
