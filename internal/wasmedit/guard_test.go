package wasmedit

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

const errnoName = "errno"

// guardHost runs guard.wasm-shaped modules with host versions of its WASI
// imports that record their calls and return ret, after setting the errno
// global to setErrno if it is not 0.
type guardHost struct {
	calls    []string
	ret      uint32
	setErrno uint32
}

func (h *guardHost) instantiate(t *testing.T, wasm []byte) api.Module {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { require.NoError(t, rt.Close(ctx)) })
	host := func(name string, params int) api.GoModuleFunc {
		return func(_ context.Context, m api.Module, stack []uint64) {
			h.calls = append(h.calls, fmt.Sprint(name, stack[:params]))
			if h.setErrno != 0 {
				m.ExportedGlobal(errnoName).(api.MutableGlobal).Set(uint64(h.setErrno))
			}
			stack[0] = uint64(h.ret)
		}
	}
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	fn := func(b wazero.HostModuleBuilder, name string, params ...api.ValueType) wazero.HostModuleBuilder {
		return b.NewFunctionBuilder().WithGoModuleFunction(host(name, len(params)), params, []api.ValueType{i32}).Export(name)
	}
	b := rt.NewHostModuleBuilder("wasi_snapshot_preview1")
	b = fn(b, "path_open", i32, i32, i32, i32, i32, i64, i64, i32, i32)
	b = fn(b, "path_rename", i32, i32, i32, i32, i32, i32)
	b = fn(b, "fd_write", i32, i32, i32, i32)
	b = fn(b, "fd_sync", i32)
	_, err := b.Instantiate(ctx)
	require.NoError(t, err)
	_, err = rt.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module) {
		budget(t, m).Set(api.EncodeI32(3))
	}).Export("yield").
		Instantiate(ctx)
	require.NoError(t, err)
	mod, err := rt.Instantiate(ctx, wasm)
	require.NoError(t, err)
	return mod
}

var testGuards = GuardOptions{Guards: WASIPathGuards, MaxPathLen: 1000, ErrnoExport: errnoName}

func TestGuardImports(t *testing.T) {
	in := testdata(t, "guard.wasm")
	guarded, err := GuardImports(in, testGuards)
	require.NoError(t, err)
	withChecks, err := Instrument(in, Options{YieldModule: "env", YieldName: "yield", BudgetExport: budgetName, Budget: 3, GuardOptions: testGuards})
	require.NoError(t, err)
	for name, wasm := range map[string][]byte{"GuardImports": guarded, "Instrument": withChecks} {
		t.Run(name, func(t *testing.T) {
			h := &guardHost{}
			mod := h.instantiate(t, wasm)
			errno := mod.ExportedGlobal(errnoName).(api.MutableGlobal)
			u32 := func(v uint32) uint64 { return uint64(v) }
			check := func(want uint32, calls []string, fn string, args ...uint64) {
				t.Helper()
				h.calls = nil
				assert.EqualValues(t, want, call(t, mod, fn, args...), "%s%v", fn, args)
				assert.Equal(t, calls, h.calls, "%s%v", fn, args)
			}

			// Path lengths up to MaxPathLen reach the host; longer ones (as u32) do not.
			h.ret = 0
			check(0, []string{"path_open[3 1 100 10 0 0 0 0 200]"}, "open", 10)
			check(0, []string{"path_open[3 1 100 1000 0 0 0 0 200]"}, "open", 1000)
			check(37, nil, "open", 1001)
			check(37, nil, "open", u32(1<<32-1))
			check(37, nil, "open", u32(1<<31))
			check(0, []string{"path_rename[3 100 1000 4 300 0]"}, "rename", 1000, 0)
			check(37, nil, "rename", 1001, 5)
			check(37, nil, "rename", 5, 1001)

			// Other errnos pass through, whatever the global says; the global stays set.
			h.ret, h.setErrno = 8, 51
			check(8, []string{"path_open[3 1 100 10 0 0 0 0 200]"}, "open", 10)
			assert.EqualValues(t, 51, errno.Get())
			errno.Set(0)

			// EIO with the global set returns the global and clears it.
			h.ret, h.setErrno = 29, 51
			check(51, []string{"path_open[3 1 100 10 0 0 0 0 200]"}, "open", 10)
			assert.Zero(t, errno.Get())
			check(51, []string{"fd_write[7 0 1 8]"}, "write", 7)
			h.setErrno = 33
			check(33, []string{"fd_write[7 0 1 8]"}, "write", 7)
			assert.Zero(t, errno.Get())

			// EIO without it stays EIO.
			h.setErrno = 0
			check(29, []string{"fd_write[7 0 1 8]"}, "write", 7)
			check(29, []string{"path_rename[3 100 1 4 300 2]"}, "rename", 1, 2)

			// Every call site is redirected, in a loop too.
			h.setErrno = 19
			check(5*19, []string{"fd_write[0 0 1 8]", "fd_write[1 0 1 8]", "fd_write[2 0 1 8]", "fd_write[3 0 1 8]", "fd_write[4 0 1 8]"}, "writes", 5)
			assert.Zero(t, errno.Get())

			// An import that is not guarded returns what the host does.
			check(29, []string{"fd_sync[4]"}, "sync", 4)
			assert.EqualValues(t, 19, errno.Get())
		})
	}
}

// Without ErrnoExport only the path lengths are checked, and no global is added.
func TestGuardImportsWithoutErrno(t *testing.T) {
	in := testdata(t, "guard.wasm")
	out, err := GuardImports(in, GuardOptions{Guards: WASIPathGuards})
	require.NoError(t, err)
	added := assertAppends(t, in, out)
	require.Len(t, added, 2, "path_open and path_rename")
	m, err := parseModule(out)
	require.NoError(t, err)
	_, hasGlobal := m.section(secGlobal)
	assert.False(t, hasGlobal)

	h := &guardHost{ret: 29}
	mod := h.instantiate(t, out)
	assert.EqualValues(t, 37, call(t, mod, "open", DefaultMaxPathLen+1))
	assert.EqualValues(t, 29, call(t, mod, "open", DefaultMaxPathLen))
	assert.EqualValues(t, 29, call(t, mod, "write", 1))
	assert.Len(t, h.calls, 2)
}

// The wrappers come after the existing functions, with the imports' types,
// and the errno global after the budget.
func TestGuardImportsShape(t *testing.T) {
	in := testdata(t, "guard.wasm")
	for _, checks := range []bool{false, true} {
		o := Options{YieldModule: "env", YieldName: "yield", BudgetExport: budgetName, Budget: 3, GuardOptions: testGuards}
		out, err := rewrite(in, o, checks)
		require.NoError(t, err)
		assert.Equal(t, unedited(t, in), unedited(t, out))
		added := assertAppends(t, in, out)
		m, err := parseModule(in)
		require.NoError(t, err)
		im, err := m.scanImports("", "")
		require.NoError(t, err)
		types, err := m.types()
		require.NoError(t, err)
		// path_open, path_rename, fd_write; not fd_sync or yield.
		require.Len(t, added, 3)
		for i, imp := range []int{0, 2, 3} {
			assert.Equal(t, types[im.list[imp].typ], added[i])
		}
		stats, err := Inspect(in)
		require.NoError(t, err)
		calls := callsByFunction(t, out)
		for fn, targets := range calls {
			for _, target := range targets {
				if fn < stats.Functions {
					assert.NotContains(t, []uint32{0, 2, 3}, target, "function %d calls a guarded import directly", fn)
				}
			}
		}
		for i, imp := range []uint32{0, 2, 3} {
			assert.Equal(t, []uint32{imp}, calls[stats.Functions+i], "wrapper %d calls its import once", i)
		}

		outMod := (&guardHost{}).instantiate(t, out)
		if checks {
			assert.NotNil(t, outMod.ExportedGlobal(budgetName))
		}
		assert.NotNil(t, outMod.ExportedGlobal(errnoName))
	}
}

// callsByFunction lists the imports each function body calls directly.
func callsByFunction(t testing.TB, wasm []byte) [][]uint32 {
	m, err := parseModule(wasm)
	require.NoError(t, err)
	im, err := m.scanImports("", "")
	require.NoError(t, err)
	// Redirecting every import keeps the sites of every body that calls one.
	redirect := make([]uint32, im.funcs)
	for i := range redirect {
		redirect[i] = 1
	}
	code, err := m.scanCode(im.funcs, want{record: true, tick: -1, redirect: redirect})
	require.NoError(t, err)
	out := make([][]uint32, len(code.bodies))
	for i, bd := range code.bodies {
		for _, st := range code.sites[bd.first : bd.first+bd.n] {
			if st.kind == siteCall && st.to != 0 {
				idx, _, err := readU32(wasm, st.at+1, st.at+st.del)
				require.NoError(t, err)
				out[i] = append(out[i], idx)
			}
		}
	}
	return out
}

func TestGuardImportsErrors(t *testing.T) {
	wasi := func(name string, typ byte) []byte {
		return cat(str("wasi_snapshot_preview1"), str(name), []byte{0x00, typ})
	}
	i2i := []byte{0x60, 1, 0x7f, 1, 0x7f}
	for _, tc := range []struct {
		name string
		wasm []byte
		o    GuardOptions
		want string
	}{
		{
			name: "no i32 result",
			wasm: yieldModule(vec([]byte{0x60, 0, 0}), vec(wasi("fd_close", 0)), 0x0b),
			o:    testGuards, want: `guarded import "wasi_snapshot_preview1" "fd_close" must return one i32`,
		},
		{
			name: "length index out of range",
			wasm: yieldModule(vec(i2i), vec(wasi("path_unlink_file", 0)), 0x41, 0, 0x0b),
			o:    testGuards, want: "has no i32 parameter 2",
		},
		{
			name: "i64 length",
			wasm: yieldModule(vec([]byte{0x60, 1, 0x7e, 1, 0x7f}), vec(wasi("x", 0)), 0x0b),
			o:    GuardOptions{Guards: []Guard{{"wasi_snapshot_preview1", "x", []int{0}}}}, want: "has no i32 parameter 0",
		},
		{
			name: "in a table",
			wasm: cat(header[:],
				sec(secType, vec(i2i)),
				sec(secImport, vec(wasi("fd_close", 0))),
				sec(secTable, vec([]byte{0x70, 0x00, 0x01})),
				sec(secElement, vec([]byte{0x00, 0x41, 0x00, 0x0b, 0x01, 0x00}))),
			o: testGuards, want: "an element segment refers to guarded import 0",
		},
		{
			name: "declared for ref.func",
			wasm: cat(header[:],
				sec(secType, vec(i2i, []byte{0x60, 0, 0})),
				sec(secImport, vec(wasi("fd_close", 0))),
				sec(secFunction, vec([]byte{1})),
				sec(secElement, vec([]byte{0x03, 0x00, 0x01, 0x00})),
				sec(secCode, vec(fnBody(0xd2, 0x00, 0x1a, 0x0b)))),
			o: testGuards, want: "an element segment refers to guarded import 0",
		},
		{
			name: "ref.func",
			wasm: cat(header[:],
				sec(secType, vec(i2i, []byte{0x60, 0, 0})),
				sec(secImport, vec(wasi("fd_close", 0))),
				sec(secFunction, vec([]byte{1})),
				sec(secCode, vec(fnBody(0xd2, 0x00, 0x1a, 0x0b)))),
			o: testGuards, want: "ref.func of guarded import 0",
		},
		{
			name: "in a global",
			wasm: cat(header[:],
				sec(secType, vec(i2i)),
				sec(secImport, vec(wasi("fd_close", 0))),
				sec(secGlobal, vec([]byte{0x70, 0x00, 0xd2, 0x00, 0x0b}))),
			o: testGuards, want: "ref.func of guarded import 0",
		},
		{
			name: "errno export taken",
			wasm: testdata(t, "guard.wasm"),
			o:    GuardOptions{Guards: WASIPathGuards, ErrnoExport: "memory"}, want: `already exports "memory"`,
		},
		{
			name: "errno export invalid",
			wasm: testdata(t, "guard.wasm"),
			o:    GuardOptions{Guards: WASIPathGuards, ErrnoExport: "\xff"}, want: "valid UTF-8",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := GuardImports(tc.wasm, tc.o)
			assert.Nil(t, out)
			assert.ErrorContains(t, err, "wasmedit: ")
			assert.ErrorContains(t, err, tc.want)
		})
	}

	_, err := Instrument(testdata(t, "guard.wasm"), Options{YieldModule: "env", YieldName: "yield", BudgetExport: "x",
		GuardOptions: GuardOptions{Guards: WASIPathGuards, ErrnoExport: "x"}})
	assert.ErrorContains(t, err, "differ from the budget's")

	// Absent imports, and guards with nothing to do, are skipped.
	loops := testdata(t, "loops.wasm")
	out, err := GuardImports(loops, testGuards)
	require.NoError(t, err)
	assert.Empty(t, assertAppends(t, loops, out))
	guard := testdata(t, "guard.wasm")
	out, err = GuardImports(guard, GuardOptions{Guards: []Guard{{"wasi_snapshot_preview1", "fd_write", nil}}})
	require.NoError(t, err)
	assert.Equal(t, guard, out)
}

// WASIPathGuards matches the signatures of wazero's implementation.
func TestWASIPathGuards(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi, err := wasi_snapshot_preview1.NewBuilder(rt).Compile(ctx)
	require.NoError(t, err)
	defs := wasi.ExportedFunctions()
	for _, g := range WASIPathGuards {
		def, ok := defs[g.Name]
		require.True(t, ok, g.Name)
		assert.Equal(t, []api.ValueType{api.ValueTypeI32}, def.ResultTypes(), g.Name)
		for _, p := range g.LenParams {
			require.Less(t, p, len(def.ParamTypes()), g.Name)
			assert.Equal(t, api.ValueTypeI32, def.ParamTypes()[p], g.Name)
			assert.Contains(t, def.ParamNames()[p], "path_len", g.Name)
		}
		for i, name := range def.ParamNames() {
			if def.ParamTypes()[i] == api.ValueTypeI32 && (name == "path_len" || name == "old_path_len" || name == "new_path_len") {
				assert.Contains(t, g.LenParams, i, "%s: %s", g.Name, name)
			}
		}
	}
}
