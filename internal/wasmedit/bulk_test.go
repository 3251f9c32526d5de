package wasmedit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// bulkHost compiles bulk.wasm-shaped modules once and instantiates them, with
// an env.yield that calls onYield.
type bulkHost struct {
	t       testing.TB
	rt      wazero.Runtime
	onYield func(api.Module)
}

func newBulkHost(t testing.TB) *bulkHost {
	ctx := context.Background()
	h := &bulkHost{t: t, rt: wazero.NewRuntime(ctx)}
	t.Cleanup(func() { require.NoError(t, h.rt.Close(ctx)) })
	_, err := h.rt.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module) {
		if h.onYield != nil {
			h.onYield(m)
		}
	}).Export("yield").
		Instantiate(ctx)
	require.NoError(t, err)
	return h
}

func (h *bulkHost) compile(wasm []byte) wazero.CompiledModule {
	c, err := h.rt.CompileModule(context.Background(), wasm)
	require.NoError(h.t, err)
	return c
}

func (h *bulkHost) instance(c wazero.CompiledModule) api.Module {
	mod, err := h.rt.InstantiateModule(context.Background(), c, wazero.NewModuleConfig().WithName(""))
	require.NoError(h.t, err)
	h.t.Cleanup(func() { _ = mod.Close(context.Background()) })
	return mod
}

func tryCall(mod api.Module, name string, args ...uint64) error {
	_, err := mod.ExportedFunction(name).Call(context.Background(), args...)
	return err
}

func memory(t testing.TB, mod api.Module) []byte {
	b, ok := mod.Memory().Read(0, mod.Memory().Size())
	require.True(t, ok)
	return bytes.Clone(b)
}

// The chunked operations leave memory exactly as the instructions do, and
// trap where they trap.
func TestBulkMatchesInstructions(t *testing.T) {
	const chunk = 1000 // neither a power of two nor a multiple of BulkUnit
	const size = 8 << 16
	const big = 1<<32 - 1
	orig := testdata(t, "bulk.wasm")
	edited, err := Instrument(orig, Options{YieldModule: "env", YieldName: "yield", BudgetExport: budgetName, Budget: 50, BulkChunk: chunk})
	require.NoError(t, err)
	h := newBulkHost(t)
	var yields int
	h.onYield = func(m api.Module) { yields++; budget(t, m).Set(api.EncodeI32(50)) }
	origMod, editedMod := h.compile(orig), h.compile(edited)

	type op struct {
		fn      string
		d, s, n uint32 // s is the value for fill
	}
	var ops []op
	for _, n := range []uint32{0, 1, 63, 64, 65, chunk - 1, chunk, chunk + 1, 2 * chunk, 2*chunk + 1, 7*chunk + 13, 65536, 100_003} {
		ops = append(ops,
			op{"copy", 200_000, 10, n},        // disjoint, dst above
			op{"copy", 10, 200_000, n},        // disjoint, dst below
			op{"copy", 5007, 5000, n},         // overlapping, dst just above
			op{"copy", 5000, 5007, n},         // overlapping, dst just below
			op{"copy", 5000 + chunk, 5000, n}, // overlapping by n - chunk
			op{"copy", 5000, 5000 + chunk, n},
			op{"copy", 5000 + chunk + 1, 5000, n},
			op{"copy", 5000, 5000, n},
			op{"copy", size - n, 0, n}, // ending at the end of memory
			op{"fill", 3, 0xa5, n},
			op{"fill", size - n, 0x5a, n},
			op{"copy", size - n + 1, 0, n}, // one past the end: traps, even at n = 0
			op{"copy", 0, size - n + 1, n},
			op{"fill", size - n + 1, 1, n},
			op{"copy", big - n/2, 0, n}, // wraps around 2^32
			op{"copy", 0, big - n/2, n},
			op{"fill", big - n/2, 1, n},
		)
	}
	pattern := make([]byte, 300_000)
	for i := range pattern {
		pattern[i] = byte(i*31 + 7)
	}
	for _, o := range ops {
		name := fmt.Sprintf("%s(%d, %d, %d)", o.fn, o.d, o.s, o.n)
		var mems [2][]byte
		var errs [2]error
		for i, c := range []wazero.CompiledModule{origMod, editedMod} {
			mod := h.instance(c)
			require.True(t, mod.Memory().Write(0, pattern))
			errs[i] = tryCall(mod, o.fn, uint64(o.d), uint64(o.s), uint64(o.n))
			mems[i] = memory(t, mod)
			require.NoError(t, mod.Close(context.Background()))
		}
		if errs[0] != nil {
			assert.ErrorContains(t, errs[1], "out of bounds memory access", name)
		} else {
			assert.NoError(t, errs[1], name)
		}
		// Not assert.Equal: its diff of the whole memory would take minutes.
		if !assert.True(t, bytes.Equal(mems[0], mems[1]), "%s: memory differs", name) {
			for i := range mems[0] {
				if mems[0][i] != mems[1][i] {
					t.Logf("first difference at %d: %#x, want %#x", i, mems[1][i], mems[0][i])
					break
				}
			}
		}
	}
	assert.Positive(t, yields)
}

// simulateYields returns the number of yields a copy or fill of n bytes
// makes, in chunks, with the budget refilled to budget at each yield.
func simulateYields(n, chunk uint32, budget int64) int {
	left, yields := budget, 0
	charge := func(k uint32) {
		if left -= int64(k+BulkUnit-1) / BulkUnit; left <= 0 {
			yields++
			left = budget
		}
	}
	if n <= chunk {
		charge(n)
		return yields
	}
	for ; n > 0; n -= min(n, chunk) {
		charge(min(n, chunk))
	}
	return yields
}

// A big copy or fill yields about once per Budget*BulkUnit bytes.
func TestBulkYieldsScaleWithBytes(t *testing.T) {
	const budgetSize = 10_000
	for _, chunk := range []uint32{0, 4096, 1000} {
		edited, err := Instrument(testdata(t, "bulk.wasm"), Options{YieldModule: "env", YieldName: "yield", BudgetExport: budgetName, Budget: budgetSize, BulkChunk: chunk})
		require.NoError(t, err)
		h := newBulkHost(t)
		var yields int
		h.onYield = resetEvery(t, budgetSize, &yields)
		mod := h.instance(h.compile(edited))
		call(t, mod, "grow", 392) // to 25 MiB
		for _, tc := range []struct {
			fn      string
			d, s, n uint32
		}{
			{"copy", 12 << 20, 0, 12 << 20},
			{"copy", 0, 12 << 20, 12 << 20},
			{"copy", 1 << 20, 0, 12 << 20}, // overlapping, back to front
			{"copy", 0, 1 << 20, 12 << 20}, // overlapping, front to back
			{"fill", 0, 7, 24 << 20},
			{"fill", 0, 7, 6 << 20},
			{"fill", 0, 7, 500_000},
		} {
			budget(t, mod).Set(budgetSize)
			yields = 0
			call(t, mod, tc.fn, uint64(tc.d), uint64(tc.s), uint64(tc.n))
			assert.Equal(t, simulateYields(tc.n, cmp.Or(chunk, DefaultBulkChunk), budgetSize), yields, "chunk %d: %+v", chunk, tc)
			// With chunks much smaller than the budget, a big operation yields
			// every budget*BulkUnit bytes. A default chunk costs 16,384 units,
			// more than the budget, so there it yields at every chunk.
			if tc.n < 12<<20 {
				continue
			}
			want := float64(tc.n) / (budgetSize * BulkUnit)
			if chunk == 0 {
				want = float64(tc.n) / DefaultBulkChunk
			}
			assert.InEpsilon(t, want, yields, 0.05, "chunk %d: %+v", chunk, tc)
		}
	}
}

// A yield that stops the call stops a big copy at its next chunk.
func TestBulkStopsAtYield(t *testing.T) {
	edited, err := Instrument(testdata(t, "bulk.wasm"), Options{YieldModule: "env", YieldName: "yield", BudgetExport: budgetName, Budget: 1000})
	require.NoError(t, err)
	h := newBulkHost(t)
	var yields int
	h.onYield = resetEvery(t, 1000, &yields)
	mod := h.instance(h.compile(edited))
	call(t, mod, "grow", 392) // to 25 MiB
	call(t, mod, "fill", 0, 1, 24<<20)
	assert.Equal(t, 24<<20/DefaultBulkChunk, yields, "each 1 MiB chunk costs 16,384 units, more than the budget")

	// A budget of 20,000 units lasts one chunk.
	stop := errors.New("deadline")
	h.onYield = func(api.Module) { panic(stop) }
	budget(t, mod).Set(api.EncodeI32(20_000))
	require.ErrorIs(t, tryCall(mod, "fill", 0, 2, 24<<20), stop)
	mem := memory(t, mod)
	assert.EqualValues(t, 2, mem[DefaultBulkChunk-1])
	assert.EqualValues(t, 1, mem[DefaultBulkChunk])
	assert.EqualValues(t, 1, mem[24<<20-1])
}

// The calls that replace the instructions count as calls: a function that
// keeps the budget in a local hands it over around them, so every unit is
// counted exactly once.
func TestBulkCountIsExact(t *testing.T) {
	const initial = 1_000_000
	units := func(n int32) int32 { return (n + BulkUnit - 1) / BulkUnit }
	wasm, err := Instrument(testdata(t, "bulk.wasm"), Options{YieldModule: "env", YieldName: "yield", BudgetExport: budgetName, Budget: initial})
	require.NoError(t, err)
	h := newBulkHost(t)
	h.onYield = func(api.Module) { t.Fatal("yielded") }
	c := h.compile(wasm)
	for _, tc := range []struct{ n, k int32 }{{0, 1}, {1, 5}, {64, 10}, {65, 3}, {1000, 100}, {300_000, 4}, {DefaultBulkChunk, 7}, {DefaultBulkChunk + 1, 2}, {DefaultBulkChunk + 1000, 3}} {
		mod := h.instance(c)
		call(t, mod, "grow", 40) // to 3 MiB
		call(t, mod, "around", 1<<20, 0, uint64(tc.n), uint64(tc.k))
		assert.Equal(t, initial-2*tc.k-units(tc.n), api.DecodeI32(budget(t, mod).Get()), "around %+v", tc)

		mod = h.instance(c)
		call(t, mod, "grow", 40)
		call(t, mod, "inside", 1000, uint64(tc.n), uint64(tc.k))
		assert.Equal(t, initial-tc.k*(1+units(tc.n)), api.DecodeI32(budget(t, mod).Get()), "inside %+v", tc)
	}
}

func TestBulkOptions(t *testing.T) {
	in := testdata(t, "bulk.wasm")
	_, err := Instrument(in, Options{YieldModule: "env", YieldName: "yield", BudgetExport: budgetName, BulkChunk: 1<<30 + 1})
	assert.ErrorContains(t, err, "bulk chunk")

	// Multi-memory: memory.copy and memory.fill of memory 1.
	voidType := vec([]byte{0x60, 0, 0})
	yieldFunc := vec(cat(str("env"), str("yield"), []byte{0x00, 0x00}))
	for _, code := range [][]byte{
		{0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 10, 1, 0, 0x0b},
		{0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 10, 0, 1, 0x0b},
		{0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 11, 1, 0x0b},
	} {
		_, err := Instrument(yieldModule(voidType, yieldFunc, code...), Options{YieldModule: "env", YieldName: "yield", BudgetExport: budgetName})
		assert.ErrorIs(t, err, ErrUnsupported)
		assert.ErrorContains(t, err, "multi-memory")
		// Only Instrument needs memory 0.
		_, err = StripData(yieldModule(voidType, yieldFunc, code...))
		assert.NoError(t, err)
	}

	// The type (i32 i32 i32) -> [] is reused when the module has it, and
	// appended otherwise; the functions come after the existing ones.
	reused := 0
	for _, name := range []string{"bulk.wasm", "loops.wasm", "cloops.wasm", "zlib.wasm"} {
		in := testdata(t, name)
		yieldModule := "env"
		if name == "cloops.wasm" || name == "zlib.wasm" {
			yieldModule = "snakepit"
		}
		out, err := Instrument(in, Options{YieldModule: yieldModule, YieldName: "yield", BudgetExport: budgetName})
		require.NoError(t, err)
		added := assertAppends(t, in, out)
		require.Len(t, added, 2, "%s: copy and fill", name)
		for _, ty := range added {
			assert.Equal(t, funcType{params: bulkParams, results: []byte{}}, ty, name)
		}
		var ntypes [2]int
		hasType := false
		for i, wasm := range [][]byte{in, out} {
			m, err := parseModule(wasm)
			require.NoError(t, err)
			types, err := m.types()
			require.NoError(t, err)
			ntypes[i] = len(types)
			for _, ty := range types {
				hasType = hasType || i == 0 && string(ty.params) == string(bulkParams) && len(ty.results) == 0
			}
		}
		if hasType {
			reused++
			assert.Equal(t, ntypes[0], ntypes[1], name)
		} else {
			assert.Equal(t, ntypes[0]+1, ntypes[1], name)
		}
	}
	assert.Positive(t, reused, "zlib.wasm has the type")
}

// BenchmarkBulk measures what the replacement costs a copy or fill of each
// size against the plain instruction (chunk 0): the call, the charge and,
// above a chunk, the loop. Big operations also run in smaller chunks than the
// default, to show what they would cost (DefaultBulkChunk). The MB/s are those
// of the copy itself; the machine's noise calls for -count and the fastest
// run.
func BenchmarkBulk(b *testing.B) {
	orig := testdata(b, "bulk.wasm")
	for _, fn := range []string{"copy", "fill"} {
		for _, n := range []uint64{64, 4096, 12 << 20} {
			chunks := []uint32{0, DefaultBulkChunk}
			if n > DefaultBulkChunk {
				chunks = append(chunks, 64<<10, 256<<10)
			}
			for _, chunk := range chunks {
				wasm := orig
				if chunk != 0 {
					var err error
					wasm, err = Instrument(orig, Options{YieldModule: "env", YieldName: "yield", BudgetExport: budgetName, Budget: 20_000, BulkChunk: chunk})
					require.NoError(b, err)
				}
				b.Run(fmt.Sprintf("%s/n=%d/chunk=%d", fn, n, chunk), func(b *testing.B) {
					h := newBulkHost(b)
					var yields int
					h.onYield = resetEvery(b, 20_000, &yields)
					mod := h.instance(h.compile(wasm))
					call(b, mod, "grow", 392)
					f := mod.ExportedFunction(fn)
					ctx := context.Background()
					b.SetBytes(int64(n))
					for b.Loop() {
						if _, err := f.Call(ctx, 12<<20, 0, n); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(yields)/float64(b.N), "yields/op")
				})
			}
		}
	}
}
