package wasmedit

import (
	"bytes"
	"cmp"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const budgetName = "budget"

// testdata reads a module that testdata/build.sh builds from its source.
// When none is built (a plain clone: `go test ./...` without `make test`)
// the test is skipped; when some are, a missing one is a failure.
func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if built, _ := filepath.Glob(filepath.Join("testdata", "*.wasm")); err != nil && len(built) == 0 {
		t.Skip("the test modules are not built: `make test` builds them (testdata/build.sh, with wabt and clang)")
	}
	require.NoError(t, err, "the test modules are built by `make test` (testdata/build.sh)")
	return b
}

// instantiate runs wasm in a fresh runtime that provides every import the
// test modules use; both yield imports call onYield with the calling module.
func instantiate(t testing.TB, wasm []byte, onYield func(api.Module)) api.Module {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { require.NoError(t, rt.Close(ctx)) })
	yield := func(_ context.Context, m api.Module) {
		if onYield != nil {
			onYield(m)
		}
	}
	_, err := rt.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(yield).Export("yield").
		NewFunctionBuilder().WithFunc(func(int32) {}).Export("other").
		Instantiate(ctx)
	require.NoError(t, err)
	_, err = rt.NewHostModuleBuilder("snakepit").
		NewFunctionBuilder().WithFunc(yield).Export("yield").
		Instantiate(ctx)
	require.NoError(t, err)
	_, err = rt.InstantiateWithConfig(ctx, testdata(t, "consts.wasm"), wazero.NewModuleConfig().WithName("consts"))
	require.NoError(t, err)
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName("test"))
	require.NoError(t, err)
	return mod
}

func call(t testing.TB, mod api.Module, name string, args ...uint64) uint64 {
	t.Helper()
	fn := mod.ExportedFunction(name)
	require.NotNil(t, fn, name)
	res, err := fn.Call(context.Background(), args...)
	require.NoError(t, err, name)
	if len(res) == 0 {
		return 0
	}
	return res[0]
}

func budget(t testing.TB, mod api.Module) api.MutableGlobal {
	t.Helper()
	g, ok := mod.ExportedGlobal(budgetName).(api.MutableGlobal)
	require.True(t, ok, "budget export is missing or immutable")
	require.Equal(t, api.ValueTypeI32, g.Type())
	return g
}

func instrument(t testing.TB, name, yieldModule string, initial int32) []byte {
	t.Helper()
	out, err := Instrument(testdata(t, name), Options{YieldModule: yieldModule, YieldName: "yield", BudgetExport: budgetName, Budget: initial})
	require.NoError(t, err)
	return out
}

// resetEvery returns a yield callback that refills the budget, as the real host does, and counts calls.
func resetEvery(t testing.TB, refill int32, count *int) func(api.Module) {
	return func(m api.Module) {
		*count++
		budget(t, m).Set(api.EncodeI32(refill))
	}
}

func TestInstrumentLoopsYieldCount(t *testing.T) {
	wasm := instrument(t, "loops.wasm", "env", 0)
	for _, tc := range []struct{ n, budget int32 }{
		{0, 10}, {1, 1}, {5, 100}, {7, 1}, {99, 10}, {100, 10}, {1000, 3},
	} {
		// The budget is refilled on every yield, so the loop header (run n times) yields every budget-th time.
		var yields int
		mod := instantiate(t, wasm, resetEvery(t, tc.budget, &yields))
		budget(t, mod).Set(api.EncodeI32(tc.budget))
		assert.EqualValues(t, tc.n, call(t, mod, "count", api.EncodeI32(tc.n)))
		assert.Equal(t, int(tc.n/tc.budget), yields, "n=%d budget=%d", tc.n, tc.budget)
		assert.Equal(t, tc.budget-tc.n%tc.budget, api.DecodeI32(budget(t, mod).Get()), "n=%d budget=%d", tc.n, tc.budget)

		// Without a refill the budget stays spent and every later header
		// yields; the local count restarts at 1 after each such yield.
		yields = 0
		mod = instantiate(t, instrument(t, "loops.wasm", "env", tc.budget), func(api.Module) { yields++ })
		call(t, mod, "count", api.EncodeI32(tc.n))
		assert.Equal(t, int(max(0, tc.n-tc.budget+1)), yields, "n=%d budget=%d", tc.n, tc.budget)
		assert.Equal(t, max(1, tc.budget-tc.n), api.DecodeI32(budget(t, mod).Get()))
	}
}

func TestInstrumentLoopsHostSetsBudget(t *testing.T) {
	var yields int
	var onYield func(api.Module)
	mod := instantiate(t, instrument(t, "loops.wasm", "env", 1_000_000), func(m api.Module) {
		yields++
		onYield(m)
	})
	g := budget(t, mod)
	assert.EqualValues(t, 1_000_000, api.DecodeI32(g.Get()))

	// Zero set before a call forces a yield at the first loop header.
	onYield = func(m api.Module) { budget(t, m).Set(api.EncodeI32(1_000_000)) }
	g.Set(0)
	call(t, mod, "count", api.EncodeI32(5))
	assert.Equal(t, 1, yields)
	assert.EqualValues(t, 1_000_000-4, api.DecodeI32(g.Get()))

	// Zero set inside the callback forces a yield at every header.
	yields = 0
	onYield = func(m api.Module) { budget(t, m).Set(0) }
	g.Set(0)
	call(t, mod, "count", api.EncodeI32(5))
	assert.Equal(t, 5, yields)

	// Nested loops: both headers count.
	yields = 0
	g.Set(0)
	call(t, mod, "nested", api.EncodeI32(3), api.EncodeI32(4))
	assert.Equal(t, 3+3*4, yields)
}

func TestInstrumentLoopsPreservesResults(t *testing.T) {
	type run struct {
		fn   string
		args []uint64
	}
	i32 := func(vs ...int32) []uint64 {
		out := make([]uint64, len(vs))
		for i, v := range vs {
			out[i] = api.EncodeI32(v)
		}
		return out
	}
	for _, tc := range []struct {
		file, yieldModule string
		runs              []run
	}{
		{"loops.wasm", "env", []run{
			{"count", i32(0)}, {"count", i32(1000)},
			{"nested", i32(3, 4)}, {"nested", i32(10, 10)},
			{"brtable", i32(0)}, {"brtable", i32(10)}, {"brtable", i32(1000)},
			{"fibmv", i32(1)}, {"fibmv", i32(10)}, {"fibmv", i32(40)},
			{"manylocals", i32(1)}, {"manylocals", i32(300)},
			{"reftypes", i32(1)}, {"reftypes", i32(50)},
			{"bulk", i32(1)}, {"bulk", i32(56)},
			{"simd", i32(1)}, {"simd", i32(100)},
			{"ifloop", i32(-5)}, {"ifloop", i32(0)}, {"ifloop", i32(7)}, {"ifloop", i32(100)},
		}},
		{"cloops.wasm", "snakepit", []run{
			{"get_counter", nil}, {"greeting_sum", nil}, {"prime_sum", nil},
			{"sieve", i32(10000)}, {"collatz", i32(300)}, {"switchy", i32(1000)},
			{"float_sum", i32(1000)}, {"copy_and_sum", i32(5000)},
		}},
	} {
		orig := testdata(t, tc.file)
		edited := instrument(t, tc.file, tc.yieldModule, 7)
		assert.Positive(t, splitLoops(t, orig, Options{YieldModule: tc.yieldModule, YieldName: "yield"}), "%s: no loop split", tc.file)
		var total int
		for _, r := range tc.runs {
			// Fresh instances, because several functions keep state in memory, tables or globals.
			want := call(t, instantiate(t, orig, func(api.Module) { t.Fatal("original module yielded") }), r.fn, r.args...)
			var yields int
			got := call(t, instantiate(t, edited, resetEvery(t, 7, &yields)), r.fn, r.args...)
			assert.Equal(t, want, got, "%s %s%v", tc.file, r.fn, r.args)
			total += yields
		}
		assert.Positive(t, total, tc.file)
	}
}

// zlib.wasm is real compiler output: zlib and wasi-libc's malloc, with
// br_table state machines, indirect calls and bulk memory.
func TestInstrumentLoopsZlib(t *testing.T) {
	orig := testdata(t, "zlib.wasm")
	edited := instrument(t, "zlib.wasm", "snakepit", 100)
	assert.Greater(t, splitLoops(t, orig, Options{YieldModule: "snakepit", YieldName: "yield"}), 20, "zlib's tight loops are split")
	run := func(wasm []byte, onYield func(api.Module)) []uint64 {
		mod := instantiate(t, wasm, onYield)
		call(t, mod, "_initialize")
		var out []uint64
		for _, level := range []int32{0, 1, 6, 9} {
			for _, n := range []int32{0, 1, 1000, 65536} {
				size := call(t, mod, "roundtrip", api.EncodeI32(n), api.EncodeI32(level))
				require.NotEqual(t, api.EncodeI32(-1), size, "roundtrip(%d, %d) failed", n, level)
				out = append(out, size, call(t, mod, "checksum", api.EncodeI32(n)))
			}
		}
		return out
	}
	want := run(orig, func(api.Module) { t.Fatal("original module yielded") })
	var yields int
	assert.Equal(t, want, run(edited, resetEvery(t, 100, &yields)))
	assert.Greater(t, yields, 1000)

	// Without its data segments zlib's tables are gone, but the module still instantiates.
	stripped, err := StripData(edited)
	require.NoError(t, err)
	call(t, instantiate(t, stripped, resetEvery(t, 100, &yields)), "_initialize")
}

func TestInstrumentLoopsInsertsMissingSections(t *testing.T) {
	in := testdata(t, "bare.wasm")
	m, err := parseModule(in)
	require.NoError(t, err)
	_, hasGlobal := m.section(secGlobal)
	_, hasExport := m.section(secExport)
	require.False(t, hasGlobal || hasExport, "fixture must lack global and export sections")

	// The start function runs its loop header 10 times during instantiation.
	var yields int
	mod := instantiate(t, instrument(t, "bare.wasm", "env", 3), func(api.Module) { yields++ })
	assert.Equal(t, 10-3+1, yields)
	assert.EqualValues(t, 1, api.DecodeI32(budget(t, mod).Get()), "the local count restarts at 1 after a yield that does not refill")
}

func TestInstrumentLoopsCopiesOtherSections(t *testing.T) {
	for _, name := range []string{"loops.wasm", "cloops.wasm", "zlib.wasm", "data.wasm", "bare.wasm"} {
		in := testdata(t, name)
		yieldModule := "env"
		if name == "cloops.wasm" || name == "zlib.wasm" {
			yieldModule = "snakepit"
		}
		if name == "data.wasm" {
			in = withYieldImport(t, in)
		}
		o := Options{YieldModule: yieldModule, YieldName: "yield", BudgetExport: budgetName, Budget: 1}
		out, err := Instrument(in, o)
		require.NoError(t, err, name)
		assert.Equal(t, unedited(t, in), unedited(t, out), name)
		assertAppends(t, in, out)
		assert.LessOrEqual(t, cap(out)-len(out), 12, "%s: output should be allocated once, at its final size", name)

		stats, err := Inspect(in)
		require.NoError(t, err)
		after, err := Inspect(out)
		require.NoError(t, err)
		// The added functions hold the only bulk memory instructions left.
		added := after.Functions - stats.Functions
		ops := bulkOpsByFunction(t, out)
		assert.Zero(t, sum(ops[:stats.Functions]), name)
		// Each split loop gets a loop around it.
		split := splitLoops(t, in, o)
		if stats.BulkOps == 0 {
			assert.Zero(t, added, name)
			stats.Loops += split
			assert.Equal(t, stats, after, name)
		} else {
			assert.Equal(t, 2, added, "%s: copy and fill", name)
			stats.Functions, stats.Loops, stats.BulkOps = after.Functions, stats.Loops+split+3, 4+3
			assert.Equal(t, stats, after, name)
		}
		if stats.Loops == 0 && stats.BulkOps == 0 {
			assert.Equal(t, sectionBytes(t, in, secCode), sectionBytes(t, out, secCode), name)
		}
	}
}

// unedited returns the sections Instrument promises to copy, in order.
func unedited(t testing.TB, wasm []byte) [][]byte {
	m, err := parseModule(wasm)
	require.NoError(t, err)
	var out [][]byte
	for _, s := range m.sections {
		switch s.id {
		case secType, secFunction, secGlobal, secExport, secCode:
		default:
			out = append(out, wasm[s.start:s.end])
		}
	}
	return out
}

// assertAppends checks that out has in's types and functions, in the same
// order, before any it adds, and returns the types of the added functions.
func assertAppends(t testing.TB, in, out []byte) (added []funcType) {
	t.Helper()
	var types, ftypes [2][]uint32
	var all [2][]funcType
	for i, wasm := range [][]byte{in, out} {
		m, err := parseModule(wasm)
		require.NoError(t, err)
		im, err := m.scanImports("", "")
		require.NoError(t, err)
		all[i], err = m.types()
		require.NoError(t, err)
		for _, f := range im.list {
			types[i] = append(types[i], f.typ)
		}
		f, err := m.funcTypes()
		require.NoError(t, err)
		ftypes[i] = append(types[i], f...)
	}
	require.GreaterOrEqual(t, len(all[1]), len(all[0]))
	assert.Equal(t, all[0], all[1][:len(all[0])], "types")
	require.GreaterOrEqual(t, len(ftypes[1]), len(ftypes[0]))
	assert.Equal(t, ftypes[0], ftypes[1][:len(ftypes[0])], "function types")
	for _, ti := range ftypes[1][len(ftypes[0]):] {
		require.Less(t, int(ti), len(all[1]))
		added = append(added, all[1][ti])
	}
	return added
}

// bulkOpsByFunction counts the memory.copy and memory.fill instructions in
// each function body.
func bulkOpsByFunction(t testing.TB, wasm []byte) []int {
	m, err := parseModule(wasm)
	require.NoError(t, err)
	im, err := m.scanImports("", "")
	require.NoError(t, err)
	code, err := m.scanCode(im.funcs, want{record: true, tick: -1, bulk: true})
	require.NoError(t, err)
	out := make([]int, len(code.bodies))
	for i, bd := range code.bodies {
		for _, st := range code.sites[bd.first : bd.first+bd.n] {
			if st.kind == siteCopy || st.kind == siteFill {
				out[i]++
			}
		}
	}
	return out
}

func sum(vs []int) (n int) {
	for _, v := range vs {
		n += v
	}
	return n
}

func sectionBytes(t testing.TB, wasm []byte, id byte) []byte {
	m, err := parseModule(wasm)
	require.NoError(t, err)
	s, ok := m.section(id)
	if !ok {
		return nil
	}
	return wasm[s.start:s.end]
}

// withYieldImport adds an env.yield import to a module that has no imports.
// Its type goes last, so the existing type indices stay valid; the import
// shifts function indices, so the result is for decoding, not for running.
func withYieldImport(t testing.TB, wasm []byte) []byte {
	m, err := parseModule(wasm)
	require.NoError(t, err)
	_, hasImport := m.section(secImport)
	require.False(t, hasImport)
	s, ok := m.section(secType)
	require.True(t, ok)
	n, rest, err := readU32(wasm, s.payload, s.end)
	require.NoError(t, err)
	types := cat(u32(n+1), wasm[rest:s.end], []byte{0x60, 0, 0})
	imports := vec(cat(str("env"), str("yield"), []byte{0x00}, u32(n)))
	return cat(wasm[:s.start], sec(secType, types), sec(secImport, imports), wasm[s.end:])
}

func TestInstrumentLoopsErrors(t *testing.T) {
	loops := testdata(t, "loops.wasm")
	voidType := vec([]byte{0x60, 0, 0})
	yieldFunc := vec(cat(str("env"), str("yield"), []byte{0x00, 0x00}))
	withCode := func(code ...byte) []byte { return yieldModule(voidType, yieldFunc, code...) }
	for _, tc := range []struct {
		name          string
		wasm          []byte
		field, export string
		want          string
		is            error
	}{
		{name: "no import", wasm: testdata(t, "data.wasm"), want: `does not import "env" "yield"`},
		{name: "wrong name", wasm: loops, field: "yeild", want: `does not import "env" "yeild"`},
		{name: "not a function", wasm: yieldModule(voidType, vec(cat(str("env"), str("yield"), []byte{0x03, 0x7f, 0x00})), 0x0b),
			want: `import "env" "yield" is not a function`},
		{name: "wrong type", wasm: yieldModule(vec([]byte{0x60, 1, 0x7f, 0}), yieldFunc, 0x0b), want: "1 params and 0 results"},
		{name: "duplicate export", wasm: loops, export: "memory", want: `already exports "memory"`},
		{name: "invalid export", wasm: loops, export: "\xff", want: "valid UTF-8"},
		{name: "bad magic", wasm: []byte("\x00asm\x02\x00\x00\x00"), is: ErrMalformed},
		{name: "empty", wasm: nil, is: ErrMalformed},
		{name: "exceptions", wasm: withCode(0x06, 0x40, 0x0b, 0x0b), want: "exception handling (opcode 0x06)", is: ErrUnsupported},
		{name: "threads", wasm: withCode(0xfe, 0x03, 0x00, 0x0b), want: "threads", is: ErrUnsupported},
		{name: "tail calls", wasm: withCode(0x12, 0x00, 0x0b), want: "tail calls", is: ErrUnsupported},
		{name: "unknown fc", wasm: withCode(0xfc, 0x20, 0x0b), want: "opcode 0xfc 32", is: ErrUnsupported},
		{name: "gc type", wasm: yieldModule(vec([]byte{0x5f, 0}), yieldFunc, 0x0b), want: "type form 0x5f", is: ErrUnsupported},
		{name: "bad block type", wasm: withCode(0x03, 0x05, 0x0b, 0x0b), want: "block type index 5 out of range", is: ErrMalformed},
		{name: "bytes after end", wasm: withCode(0x0b, 0x01), want: "after the final end", is: ErrMalformed},
		{name: "no end", wasm: withCode(0x03, 0x40, 0x0b), want: "no final end", is: ErrMalformed},
		{name: "truncated immediate", wasm: withCode(0x41), want: "in function 1", is: ErrMalformed},
		{name: "long LEB", wasm: withCode(0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b), is: ErrMalformed},
		{name: "section order", wasm: cat(header[:], sec(secFunction, vec()), sec(secType, vec())), want: "out of order", is: ErrMalformed},
		{name: "section too long", wasm: cat(header[:], []byte{secType, 0x10, 0x00}), is: ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			field, export := cmp.Or(tc.field, "yield"), cmp.Or(tc.export, budgetName)
			out, err := Instrument(tc.wasm, Options{YieldModule: "env", YieldName: field, BudgetExport: export, Budget: 1})
			require.Error(t, err)
			assert.Nil(t, out)
			assert.Contains(t, err.Error(), "wasmedit: ")
			assert.Contains(t, err.Error(), tc.want)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
		})
	}
	_, err := Instrument(loops, Options{YieldModule: "env", YieldName: "yield", BudgetExport: "", Budget: 1})
	assert.ErrorContains(t, err, "non-empty")
}

// Every prefix of a valid module either fails cleanly or, when it ends on a
// section boundary after the code, is itself a valid module.
func TestTruncatedModules(t *testing.T) {
	for _, name := range []string{"loops.wasm", "cloops.wasm", "zlib.wasm", "data.wasm", "bulk.wasm", "guard.wasm"} {
		wasm := testdata(t, name)
		if name == "data.wasm" {
			wasm = withYieldImport(t, wasm)
		}
		yieldModule := "env"
		if name == "cloops.wasm" || name == "zlib.wasm" {
			yieldModule = "snakepit"
		}
		for n := range len(wasm) {
			prefix := wasm[:n]
			if _, err := Instrument(prefix, Options{YieldModule: yieldModule, YieldName: "yield", BudgetExport: budgetName, Budget: 1, GuardOptions: testGuards}); err == nil {
				assertCompiles(t, prefix)
			}
			if _, err := GuardImports(prefix, testGuards); err == nil {
				assertCompiles(t, prefix)
			}
			if _, err := StripData(prefix); err == nil {
				assertCompiles(t, prefix)
			}
			_, _ = Inspect(prefix)
		}
	}
}

func assertCompiles(t testing.TB, wasm []byte) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	_, err := rt.CompileModule(ctx, wasm)
	assert.NoError(t, err)
}

func TestStripData(t *testing.T) {
	in := testdata(t, "data.wasm")
	orig := instantiate(t, in, nil)
	assert.EqualValues(t, 'h', call(t, orig, "load", 16))

	out, err := StripData(in)
	require.NoError(t, err)
	stats, err := Inspect(out)
	require.NoError(t, err)
	assert.Equal(t, 0, stats.DataSegments)
	mod := instantiate(t, out, nil)
	mem, ok := mod.Memory().Read(0, 64)
	require.True(t, ok)
	assert.Equal(t, make([]byte, 64), mem)

	// Every other section is unchanged.
	assert.Equal(t, sectionsExcept(t, in, secData), sectionsExcept(t, out, secData))
}

func TestStripDataCompiledC(t *testing.T) {
	in := testdata(t, "cloops.wasm")
	orig := instantiate(t, in, nil)
	assert.EqualValues(t, 42, call(t, orig, "get_counter"))
	assert.NotZero(t, call(t, orig, "greeting_sum"))

	out, err := StripData(in)
	require.NoError(t, err)
	mod := instantiate(t, out, nil)
	assert.Zero(t, call(t, mod, "get_counter"))
	assert.Zero(t, call(t, mod, "greeting_sum"))
	assert.Equal(t, call(t, orig, "sieve", 5000), call(t, mod, "sieve", 5000))

	// Stripping and instrumenting compose in either order.
	both, err := Instrument(out, Options{YieldModule: "snakepit", YieldName: "yield", BudgetExport: budgetName, Budget: 5})
	require.NoError(t, err)
	again, err := StripData(instrument(t, "cloops.wasm", "snakepit", 5))
	require.NoError(t, err)
	assert.Equal(t, both, again)
	var yields int
	mod = instantiate(t, both, resetEvery(t, 5, &yields))
	assert.Equal(t, call(t, orig, "collatz", 100), call(t, mod, "collatz", 100))
	assert.Positive(t, yields)
}

func TestStripDataDataCount(t *testing.T) {
	// A passive segment that no code uses, announced by a DataCount section.
	in := cat(header[:],
		sec(secType, vec([]byte{0x60, 0, 1, 0x7f})),
		sec(secFunction, vec([]byte{0})),
		sec(secMemory, vec([]byte{0, 1})),
		sec(secExport, vec(cat(str("load"), []byte{0, 0}))),
		sec(secDataCount, u32(2)),
		sec(secCode, vec(fnBody(0x41, 0x00, 0x28, 0x02, 0x00, 0x0b))), // i32.load (i32.const 0)
		sec(secData, vec(
			cat([]byte{0x01}, str("passive")),
			cat([]byte{0x00, 0x41, 0x00, 0x0b}, str("\x01\x02\x03\x04")))),
	)
	assert.EqualValues(t, 0x04030201, call(t, instantiate(t, in, nil), "load"))
	stats, err := Inspect(in)
	require.NoError(t, err)
	assert.Equal(t, Stats{Functions: 1, DataSegments: 2}, stats)

	out, err := StripData(in)
	require.NoError(t, err)
	assert.Equal(t, sec(secDataCount, []byte{0}), sectionBytes(t, out, secDataCount))
	assert.Equal(t, sec(secData, []byte{0}), sectionBytes(t, out, secData))
	assert.Zero(t, call(t, instantiate(t, out, nil), "load"))
}

func TestStripDataRefusesSegmentIndices(t *testing.T) {
	for _, name := range []string{"data_init.wasm", "data_drop.wasm"} {
		in := testdata(t, name)
		stats, err := Inspect(in)
		require.NoError(t, err)
		assert.True(t, stats.UsesDataOps)
		out, err := StripData(in)
		assert.Nil(t, out)
		assert.ErrorContains(t, err, "wasmedit: cannot strip data segments: the code uses memory.init or data.drop", name)
	}
}

func TestStripDataWithoutData(t *testing.T) {
	in := testdata(t, "loops.wasm")
	out, err := StripData(in)
	require.NoError(t, err)
	assert.Equal(t, in, out)
	out[0] = 1
	assert.Zero(t, in[0], "the result must be a copy")
}

func sectionsExcept(t testing.TB, wasm []byte, id byte) [][]byte {
	m, err := parseModule(wasm)
	require.NoError(t, err)
	var out [][]byte
	for _, s := range m.sections {
		if s.id != id {
			out = append(out, wasm[s.start:s.end])
		}
	}
	return out
}

// The expected loop counts match `wasm-objdump -d testdata/X.wasm | grep -c "| *loop"`.
func TestInspect(t *testing.T) {
	stats, err := Inspect(testdata(t, "loops.wasm"))
	require.NoError(t, err)
	assert.Equal(t, Stats{Functions: 12, Imports: 2, Loops: 12, BulkOps: 2}, stats)

	stats, err = Inspect(testdata(t, "cloops.wasm"))
	require.NoError(t, err)
	assert.Equal(t, Stats{Functions: 10, Imports: 1, Loops: 14, BulkOps: 2, DataSegments: 1}, stats)

	stats, err = Inspect(testdata(t, "zlib.wasm"))
	require.NoError(t, err)
	assert.Equal(t, Stats{Functions: 53, Imports: 1, Loops: 123, BulkOps: 2, DataSegments: 1}, stats)
}

func TestLEB(t *testing.T) {
	for _, v := range []uint32{0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 1 << 31, 1<<32 - 1} {
		b := appendU32(nil, v)
		assert.Len(t, b, sizeU32(v))
		got, n, err := readU32(b, 0, len(b))
		require.NoError(t, err)
		assert.Equal(t, v, got)
		assert.Equal(t, len(b), n)
	}
	_, _, err := readU32([]byte{0xff, 0xff, 0xff, 0xff, 0x1f}, 0, 5)
	assert.ErrorIs(t, err, ErrMalformed)
	for _, v := range []int32{0, 1, -1, 63, 64, -64, -65, 1 << 30, -1 << 31, 1<<31 - 1} {
		b := appendS32(nil, v)
		var got int64
		var shift uint
		for i, c := range b {
			got |= int64(c&0x7f) << shift
			shift += 7
			if c < 0x80 {
				assert.Equal(t, len(b)-1, i)
				if c&0x40 != 0 {
					got |= -1 << shift
				}
			}
		}
		assert.Equal(t, int64(v), got, "%d encodes as % x", v, b)
	}
}

// A tiny binary encoder for hand-built modules.

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func u32(v uint32) []byte { return appendU32(nil, v) }

func str(s string) []byte { return cat(u32(uint32(len(s))), []byte(s)) }

func vec(items ...[]byte) []byte { return cat(u32(uint32(len(items))), cat(items...)) }

func sec(id byte, payload []byte) []byte { return cat([]byte{id}, u32(uint32(len(payload))), payload) }

// fnBody encodes a function body with no locals around the given instructions.
func fnBody(code ...byte) []byte {
	content := cat([]byte{0}, code)
	return cat(u32(uint32(len(content))), content)
}

// yieldModule builds a module from type and import section payloads and one
// function of type 0 with the given instructions.
func yieldModule(types, imports []byte, code ...byte) []byte {
	return cat(header[:],
		sec(secType, types),
		sec(secImport, imports),
		sec(secFunction, vec([]byte{0})),
		sec(secCode, vec(fnBody(code...))),
	)
}

// splitLoops counts the loops Instrument splits in module: those with an
// empty block type in the functions that count in a local.
func splitLoops(t testing.TB, module []byte, o Options) int {
	t.Helper()
	m, err := parseModule(module)
	require.NoError(t, err)
	im, err := m.scanImports(o.YieldModule, o.YieldName)
	require.NoError(t, err)
	code, err := m.scanCode(im.funcs, want{record: true, checks: true, tick: -1, bulk: true})
	require.NoError(t, err)
	types, err := m.types()
	require.NoError(t, err)
	ftypes, err := m.funcTypes()
	require.NoError(t, err)
	e := emitter{checks: true, inLoop: o.InLoopYield}
	n := 0
	for i, bd := range code.bodies {
		if !e.countsLocally(bd, uint64(len(types[ftypes[i]].params))+bd.locals) {
			continue
		}
		for _, st := range code.sites[bd.first : bd.first+bd.n] {
			if st.kind == siteLoop && st.plain {
				n++
			}
		}
	}
	return n
}
