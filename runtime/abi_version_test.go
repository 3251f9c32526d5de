package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// fakePython returns a module with every export python.wasm has, whose
// sp_abi_version answers version (below 64: one signed LEB128 byte).
func fakePython(version byte) []byte {
	sec := func(id byte, body ...byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	const (
		tI32    = 0 // () -> i32
		tVoid   = 1 // () -> ()
		tRun    = 2 // (i32, i32, i32) -> i64
		tBuffer = 3 // (i32) -> i32
	)
	types := sec(1, 4,
		0x60, 0, 1, 0x7f,
		0x60, 0, 0,
		0x60, 3, 0x7f, 0x7f, 0x7f, 1, 0x7e,
		0x60, 1, 0x7f, 1, 0x7f)
	imports := sec(2, cat([]byte{1}, name("snakepit"), name("yield"), []byte{0, tVoid})...)
	funcs := sec(3, 6, tI32, tVoid, tI32, tRun, tBuffer, tVoid)
	memory := sec(5, 1, 0, 1)
	exp := func(n string, kind, idx byte) []byte { return cat(name(n), []byte{kind, idx}) }
	exports := sec(7, cat([]byte{7},
		exp("sp_abi_version", 0, 1), exp("_initialize", 0, 2), exp("sp_init", 0, 3),
		exp("sp_run", 0, 4), exp("sp_buffer", 0, 5), exp("sp_release", 0, 6), exp("memory", 2, 0))...)
	body := func(code ...byte) []byte { return append([]byte{byte(len(code) + 1), 0}, code...) }
	code := sec(10, cat([]byte{6},
		body(0x41, version, 0x0b), body(0x0b), body(0x41, 0, 0x0b),
		body(0x42, 0, 0x0b), body(0x41, 0, 0x0b), body(0x0b))...)
	return cat([]byte("\x00asm\x01\x00\x00\x00"), types, imports, funcs, memory, exports, code)
}

func TestABIVersionMismatchFailsAtStartWithWhatToRebuild(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "lib", "python3.13"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lib", "python3.13", "os.py"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "python.wasm"), fakePython(42), 0o644))
	r, err := runtime.New(context.Background(), runtime.Config{Dir: dir, CompilationCacheDir: t.TempDir()})
	require.NoError(t, err)
	defer r.Close(context.Background())
	_, err = r.NewInstance(context.Background(), runtime.Options{})
	require.ErrorIs(t, err, runtime.ErrABIVersion)
	require.Contains(t, err.Error(), "ABI v42")
	require.Contains(t, err.Error(), "rebuild python.wasm with `make`")
}
