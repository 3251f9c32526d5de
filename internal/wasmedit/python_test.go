package wasmedit

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
)

// pythonWasm is where the build puts the CPython reactor module. The
// WASMEDIT_PYTHON_WASM variable points these tests at another module that
// imports snakepit.yield, to try the package on other real compiler output.
const pythonWasm = "/root/.cache/snakepit-wasm/python-wasm/current/python.wasm"

func readPython(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(cmp.Or(os.Getenv("WASMEDIT_PYTHON_WASM"), pythonWasm))
	if os.IsNotExist(err) {
		tb.Skip("python.wasm not built: run make")
	}
	require.NoError(tb, err)
	return b
}

func TestInstrumentPython(t *testing.T) {
	in := readPython(t)
	stats, err := Inspect(in)
	require.NoError(t, err)
	t.Logf("python.wasm: %d bytes, %+v", len(in), stats)

	o := Options{YieldModule: "snakepit", YieldName: "yield", BudgetExport: budgetName, Budget: 10_000, GuardOptions: testGuards}
	out, err := Instrument(in, o)
	require.NoError(t, err)
	t.Logf("instrumented: %d bytes (+%d)", len(out), len(out)-len(in))
	assertPythonEdits(t, in, out, stats, true)
	guarded, err := GuardImports(in, testGuards)
	require.NoError(t, err)
	assertPythonEdits(t, in, guarded, stats, false)

	// CPython's eval loop marks its preemption points with the tick import:
	// the dispatch loop around them is the one loop left unchecked. The
	// profile-guided build also inlines the eval loop into its hot caller,
	// _PyEval_Vector: a second copy, with the same ticks.
	if ok, err := ImportsFunc(in, "snakepit", "tick"); err == nil && ok {
		m, err := parseModule(in)
		require.NoError(t, err)
		tick, err := m.findNullaryImport("snakepit", "tick")
		require.NoError(t, err)
		code, err := m.scanCode(uint32(stats.Imports), want{record: true, tick: tick})
		require.NoError(t, err)
		var ticks, skipped, bodies int
		perBody := map[int]bool{} // tick counts of the functions with ticks
		for _, bd := range code.bodies {
			n := 0
			for _, st := range code.sites[bd.first : bd.first+bd.n] {
				if st.kind == siteTick {
					n++
				}
				if st.skip {
					skipped++
				}
			}
			if n > 0 {
				bodies++
				perBody[n] = true
			}
			ticks += n
		}
		t.Logf("ticks: %d calls in %d function(s), %d loop(s) left unchecked", ticks, bodies, skipped)
		require.NotZero(t, bodies)
		require.Len(t, perBody, 1, "only copies of the eval loop tick, each with all its ticks")
		require.Equal(t, bodies, skipped, "one dispatch loop unchecked per copy")
		o.TickName = "tick"
		withTicks, err := Instrument(in, o)
		require.NoError(t, err)
		assertPythonEdits(t, in, withTicks, stats, true)
		out = withTicks
	}

	stripped, err := StripData(out)
	if stats.UsesDataOps {
		require.Error(t, err)
		stripped = out
	} else {
		require.NoError(t, err)
	}

	// The interpreter runs the same validator as the compiler; the compiler
	// takes about 40 s on this module under -race, the interpreter about 5 s.
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	compiled, err := rt.CompileModule(ctx, stripped)
	require.NoError(t, err)
	require.NoError(t, compiled.Close(ctx))
}

// assertPythonEdits checks what Instrument (bulk) or GuardImports did to
// python.wasm: the only memory.copy and memory.fill left are in the added
// functions, and every guarded WASI import it has is called only from its
// wrapper.
func assertPythonEdits(t *testing.T, in, out []byte, stats Stats, bulk bool) {
	t.Helper()
	after, err := Inspect(out)
	require.NoError(t, err)
	m, err := parseModule(in)
	require.NoError(t, err)
	im, err := m.scanImports("", "")
	require.NoError(t, err)
	var guarded []uint32
	var absent []string
	for _, g := range WASIPathGuards {
		found := false
		for i, f := range im.list {
			if string(f.module) == g.Module && string(f.name) == g.Name {
				guarded, found = append(guarded, uint32(i)), true
			}
		}
		if !found {
			absent = append(absent, g.Name)
		}
	}
	slices.Sort(guarded) // the wrappers are in import order
	t.Logf("%d bulk memory instructions; %d guarded imports, not imported: %v", stats.BulkOps, len(guarded), absent)
	if os.Getenv("WASMEDIT_PYTHON_WASM") == "" {
		require.NotEmpty(t, guarded, "python.wasm has file system imports")
	}
	wrappers := len(guarded)
	ops := bulkOpsByFunction(t, out)
	added := 0
	switch {
	case !bulk:
		require.Equal(t, stats.BulkOps, sum(ops), "GuardImports leaves bulk memory instructions alone")
	case stats.BulkOps > 0:
		require.Zero(t, sum(ops[:stats.Functions]), "bulk memory instructions left in python.wasm's own functions")
		code, err := m.scanCode(im.funcs, want{record: true, tick: -1, bulk: true})
		require.NoError(t, err)
		// The copy function has 4 memory.copy instructions, the fill function 3 memory.fill.
		wantOps := 0
		for _, n := range []int{code.copies, code.fills} {
			if n > 0 {
				added++
			}
		}
		if code.copies > 0 {
			wantOps += 4
		}
		if code.fills > 0 {
			wantOps += 3
		}
		assert.Equal(t, wantOps, sum(ops[stats.Functions+wrappers:]))
	}
	assert.Equal(t, stats.Functions+wrappers+added, after.Functions)
	calls := callsByFunction(t, out)
	for fn := range stats.Functions {
		for _, target := range calls[fn] {
			require.NotContains(t, guarded, target, "function %d calls guarded import %d directly", fn+int(stats.Imports), target)
		}
	}
	for i, imp := range guarded {
		assert.Equal(t, []uint32{imp}, calls[stats.Functions+i], "wrapper of import %d", imp)
	}
}

// BenchmarkInstrumentPython is the rewrite the runtime makes at every start
// with InterruptLoops: checks, bulk memory calls and WASI guards.
func BenchmarkInstrumentPython(b *testing.B) {
	benchmarkInstrument(b, readPython(b), "snakepit")
}

func BenchmarkStripDataPython(b *testing.B) {
	benchmarkStrip(b, readPython(b))
}

// BenchmarkInstrumentSynthetic runs without python.wasm on a module of the
// same shape: 8,700 functions in about 6 MB of code.
func BenchmarkInstrumentSynthetic(b *testing.B) {
	benchmarkInstrument(b, syntheticModule(8700, 20), "env")
}

func BenchmarkStripDataSynthetic(b *testing.B) {
	benchmarkStrip(b, syntheticModule(8700, 20))
}

func benchmarkInstrument(b *testing.B, in []byte, yieldModule string) {
	o := Options{YieldModule: yieldModule, YieldName: "yield", BudgetExport: budgetName, Budget: 10_000, GuardOptions: testGuards}
	if ok, _ := ImportsFunc(in, yieldModule, "tick"); ok {
		o.TickName = "tick"
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Instrument(in, o); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkStrip(b *testing.B, in []byte) {
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := StripData(in); err != nil {
			b.Fatal(err)
		}
	}
}

// syntheticModule builds a valid module of n functions of type [i32] -> [],
// each made of chunks blocks of typical straight-line code, every fifth of
// which is a loop.
func syntheticModule(n, chunks int) []byte {
	inner := []byte{
		0x20, 0x00, // local.get 0
		0x41, 0xac, 0x02, // i32.const 300
		0x6a,       // i32.add
		0x22, 0x01, // local.tee 1
		0x28, 0x02, 0x08, // i32.load offset=8
		0x42, 0xb9, 0xe0, 0x00, // i64.const 12345
		0xa7,       // i32.wrap_i64
		0x6a,       // i32.add
		0x21, 0x02, // local.set 2
		0x20, 0x02, // local.get 2
		0x0d, 0x01, // br_if 1
		0x20, 0x01, // local.get 1
		0x0d, 0x00, // br_if 0
		0x0b, 0x0b, // end end
	}
	var code bytes.Buffer
	code.Write([]byte{0x01, 0x02, 0x7f}) // two i32 locals
	for i := range chunks {
		inner := append([]byte{0x02, 0x40, 0x02, 0x40}, inner...) // block block
		if i%5 == 0 {
			inner[2] = 0x03 // loop
		}
		code.Write(inner)
	}
	code.WriteByte(0x0b)
	body := binary.AppendUvarint(nil, uint64(code.Len()))
	body = append(body, code.Bytes()...)

	funcs := binary.AppendUvarint(nil, uint64(n))
	bodies := binary.AppendUvarint(nil, uint64(n))
	for range n {
		funcs = append(funcs, 0x01)
		bodies = append(bodies, body...)
	}
	return cat(header[:],
		sec(secType, vec([]byte{0x60, 0, 0}, []byte{0x60, 1, 0x7f, 0})),
		sec(secImport, vec(cat(str("env"), str("yield"), []byte{0x00, 0x00}))),
		sec(secFunction, funcs),
		sec(secMemory, vec([]byte{0, 1})),
		sec(secCode, bodies),
	)
}

func TestSyntheticModuleIsValid(t *testing.T) {
	in := syntheticModule(3, 20)
	out, err := Instrument(in, Options{YieldModule: "env", YieldName: "yield", BudgetExport: budgetName, Budget: 1})
	require.NoError(t, err)
	assertCompiles(t, in)
	assertCompiles(t, out)
	stats, err := Inspect(in)
	require.NoError(t, err)
	require.Equal(t, Stats{Functions: 3, Imports: 1, Loops: 12}, stats)
}

// BenchmarkGuardImportsPython is the rewrite for the mechanisms without
// budget checks (after NopCalls).
func BenchmarkGuardImportsPython(b *testing.B) {
	in := readPython(b)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := GuardImports(in, testGuards); err != nil {
			b.Fatal(err)
		}
	}
}
