package runtime

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/mountfs"
	"github.com/snakepit-wasm/snakepit/internal/pycache"
	"github.com/stretchr/testify/require"
)

// pycRuntime is a Runtime of the internal tests, closed by the test that
// opened it; its bytecode is kept on disk in dir.
func pycRuntime(t *testing.T, dir string) *Runtime {
	r, err := New(context.Background(), Config{})
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(context.Background()) })
	r.pyc.Close()
	r.pyc = pycache.New(r.build.SHA256, dir)
	return r
}

// bigPackage is a package past pycache.MinSourceBytes: big/__init__.py
// and big/sub.py, whose boom raises.
func bigPackage(value string) map[string]string {
	var b strings.Builder
	for k := range 1500 {
		fmt.Fprintf(&b, "def f%d(x):\n    return x + %d  # padding padding padding\n\n", k, k)
	}
	return map[string]string{
		"big/__init__.py": b.String() + "VALUE = " + value + "\n",
		"big/sub.py":      "def boom():\n    raise ValueError('boom from the source line')\n",
	}
}

// importsFromBytecode imports big.sub in a fresh instance and returns how
// many of big's modules CPython compiled from source, and boom's error.
const countCompiles = `
import importlib.machinery as _m, os
_compiled = []
_orig = _m.SourceFileLoader.source_to_code
def _count(self, data, path, **kw):
    _compiled.append(path)
    return _orig(self, data, path, **kw)
_m.SourceFileLoader.source_to_code = _count
import big.sub
assert os.path.exists(big.__cached__), big.__cached__
`

func importBig(t *testing.T, r *Runtime, opts Options) (compiled int, value int, boom error) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, r.waitPackages(ctx, opts))
	i, err := r.NewInstance(ctx, opts)
	require.NoError(t, err)
	defer i.Close(ctx)
	_, err = i.Run(ctx, Exec(countCompiles))
	require.NoError(t, err)
	res, err := i.Run(ctx, Eval("[len(_compiled), big.VALUE]"))
	require.NoError(t, err)
	var got [2]int
	require.NoError(t, res.Decode(&got))
	_, boom = i.Run(ctx, Call("big.sub.boom"))
	return got[0], got[1], boom
}

func zipOf(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, src := range files {
		f, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)})
		require.NoError(t, err)
		_, err = f.Write([]byte(src))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestPackagesAreImportedFromBytecodeWithSourceLinesInTracebacks(t *testing.T) {
	r := pycRuntime(t, t.TempDir())
	files := bigPackage("1")
	dir := t.TempDir()
	mapFS := fstest.MapFS{}
	for name, src := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644))
		mapFS[name] = &fstest.MapFile{Data: []byte(src), Mode: 0o644, ModTime: time.Unix(1700000000, 0)}
	}
	for kind, p := range map[string]Package{
		"Files": {Files: files}, "Zip": {Zip: zipOf(t, files)}, "FS": {FS: mapFS}, "HostDir": {HostDir: dir},
	} {
		t.Run(kind, func(t *testing.T) {
			// Second in the list: the bytecode does not depend on where
			// the package is mounted.
			opts := Options{Packages: []Package{{Files: map[string]string{"other.py": ""}}, p}}
			compiled, value, boom := importBig(t, r, opts)
			require.Zero(t, compiled, "big and big.sub come from bytecode")
			require.Equal(t, 1, value)
			var pe *PythonError
			require.True(t, errors.As(boom, &pe), "%v", boom)
			require.Contains(t, pe.Traceback, "raise ValueError('boom from the source line')", "the source is there for the traceback")
			require.Contains(t, pe.Traceback, PackagesPath+"/1/big/sub.py", "the code's file name is where it is mounted")
		})
	}
}

func TestAnEditedHostDirIsImportedFromSource(t *testing.T) {
	r := pycRuntime(t, t.TempDir())
	dir := t.TempDir()
	for name, src := range bigPackage("1") {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644))
	}
	opts := Options{Packages: []Package{{HostDir: dir}}}
	compiled, value, _ := importBig(t, r, opts)
	require.Zero(t, compiled)
	require.Equal(t, 1, value)

	init := filepath.Join(dir, "big", "__init__.py")
	require.NoError(t, os.WriteFile(init, []byte(bigPackage("22")["big/__init__.py"]), 0o644))
	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(init, later, later))
	compiled, value, _ = importBig(t, r, opts)
	require.Equal(t, 1, compiled, "big/__init__.py from source, big/sub.py from bytecode")
	require.Equal(t, 22, value)
}

func TestPackageBytecodeIsKeptOnDisk(t *testing.T) {
	disk := t.TempDir()
	r := pycRuntime(t, disk)
	p := Package{Files: bigPackage("3")}
	compiled, _, _ := importBig(t, r, Options{Packages: []Package{p}})
	require.Zero(t, compiled)
	entries, err := os.ReadDir(disk)
	require.NoError(t, err)
	require.Len(t, entries, 1)

	// Another cache of the same interpreter loads it without compiling.
	c := pycache.New(r.build.SHA256, disk)
	defer c.Close()
	m := Mount{GuestPath: compileRoot}
	m.FS, err = mountfs.Files(p.Files)
	require.NoError(t, err)
	calls := 0
	compile := r.compiler(m)
	s := c.Get("test", m.sourceKey, func(ctx context.Context, have []string, add func(pycache.Batch) error) error {
		calls++
		return compile(ctx, have, add)
	})
	require.NoError(t, s.Wait(context.Background()))
	require.Zero(t, calls)
	require.Equal(t, 2, s.Len())

	// A cache of another interpreter does not.
	c2 := pycache.New("another build", disk)
	defer c2.Close()
	s = c2.Get("test", m.sourceKey, func(ctx context.Context, have []string, add func(pycache.Batch) error) error {
		calls++
		return compile(ctx, have, add)
	})
	require.NoError(t, s.Wait(context.Background()))
	require.Equal(t, 1, calls)
}
