package wasmedit

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
)

// The fuzz targets check only that the edits never panic and that, when an
// edit succeeds on a module wazero accepts, wazero accepts the result too.
// This package does not validate types, so a mutated module that wazero
// rejects may still be edited without error; its output is rejected the same
// way and is not a failure.

func fuzzSeeds(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.wasm"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	voidType := vec([]byte{0x60, 0, 0})
	yieldFunc := vec(cat(str("env"), str("yield"), []byte{0x00, 0x00}))
	f.Add(yieldModule(voidType, yieldFunc, 0x03, 0x40, 0x03, 0x7f, 0x41, 0x01, 0x0d, 0x00, 0x1a, 0x0b, 0x0b, 0x0b))
}

func fuzzRuntime(f *testing.F) func(wasm []byte) bool {
	ctx := context.Background()
	// The interpreter validates exactly as the compiler does and compiles much faster.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	f.Cleanup(func() { _ = rt.Close(ctx) })
	return func(wasm []byte) bool {
		c, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			return false
		}
		_ = c.Close(ctx)
		return true
	}
}

func FuzzInstrumentLoops(f *testing.F) {
	fuzzSeeds(f)
	compiles := fuzzRuntime(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, yieldModule := range []string{"env", "snakepit"} {
			for _, tick := range []string{"", "yield"} {
				// A small chunk, so that the fixtures' bulk memory
				// instructions are split even with small operands.
				o := Options{YieldModule: yieldModule, YieldName: "yield", TickName: tick, BudgetExport: budgetName, Budget: 3, BulkChunk: 100}
				if tick != "" {
					o.GuardOptions = testGuards
				}
				out, err := Instrument(in, o)
				if err == nil && compiles(in) && !compiles(out) {
					t.Fatalf("input compiles but the instrumented output (ticks %q) does not", tick)
				}
			}
			out, err := NopCalls(in, yieldModule, "yield")
			if err == nil && compiles(in) && !compiles(out) {
				t.Fatalf("input compiles but the output of NopCalls does not")
			}
		}
	})
}

func FuzzGuardImports(f *testing.F) {
	fuzzSeeds(f)
	compiles := fuzzRuntime(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := GuardImports(in, testGuards)
		if err == nil && compiles(in) && !compiles(out) {
			t.Fatalf("input compiles but the guarded output does not")
		}
	})
}

func FuzzStripData(f *testing.F) {
	fuzzSeeds(f)
	compiles := fuzzRuntime(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := StripData(in)
		if err == nil && compiles(in) && !compiles(out) {
			t.Fatalf("input compiles but the stripped output does not")
		}
	})
}
