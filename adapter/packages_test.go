package adapter_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/snakepit-wasm/snakepit/adapter"
	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// zipOf archives a file system, as a wheel would hold it.
func zipOf(t *testing.T, fsys fs.FS) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	require.NoError(t, w.AddFS(fsys))
	require.NoError(t, w.Close())
	return buf.Bytes()
}

const mathsSrc = `
import snakepit

@snakepit.export
def double(x: int) -> int:
    return 2 * x
`

// A package from each source is on sys.path and imported before the
// snapshot in ModeFresh (and at each worker's start in ModeWarm).
func TestPackages(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "maths"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "maths", "__init__.py"), []byte(mathsSrc), 0o644))
	mapFS := fstest.MapFS{"maths/__init__.py": {Data: []byte(mathsSrc)}}
	for name, pkg := range map[string]runtime.Package{
		"fs":      {FS: mapFS},
		"hostdir": {HostDir: dir},
		"zip":     {Zip: zipOf(t, mapFS)},
		"files":   {Files: map[string]string{"maths/__init__.py": mathsSrc}},
	} {
		for _, mode := range []pool.Mode{pool.ModeFresh, pool.ModeWarm} {
			t.Run(name+"/"+mode.String(), func(t *testing.T) {
				ctx := context.Background()
				p, err := pool.New(ctx, testrt.Runtime(t), pool.Options{Size: 1, Mode: mode, Preload: []string{"maths"},
					Instance: runtime.Options{Packages: []runtime.Package{pkg}}})
				require.NoError(t, err)
				defer p.Close(ctx)
				n, err := adapter.Call[int](ctx, p, "double", []int{21})
				require.NoError(t, err)
				require.Equal(t, 42, n)
			})
		}
	}
}

// A clone of a snapshot that preloaded the package imports nothing at call
// time: a finder first on sys.meta_path, installed before the snapshot,
// records every import that sys.modules cannot answer.
func TestPackagesPreloadedInSnapshot(t *testing.T) {
	ctx := context.Background()
	p, err := pool.New(ctx, testrt.Runtime(t), pool.Options{Size: 1, Preload: []string{"shop"},
		Setup: `
import sys
imported = []
class Recorder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        imported.append(name)
sys.meta_path.insert(0, Recorder)
`,
		Instance: runtime.Options{Packages: []runtime.Package{shop}, Host: shopTools}})
	require.NoError(t, err)
	defer p.Close(ctx)
	// item builds a dataclass, checks its arguments and encodes its
	// result; the exec then reads what was imported on the way.
	res, err := p.Run(ctx, runtime.Request{Op: runtime.OpExec, Code: `
start = len(imported)  # what the snapshot's own code imported after Setup
import snakepit_adapter
snakepit_adapter._call("item", {"name": "pear"})
snakepit_adapter._call("hints", {"a": 1, "b": 2, "c": "c", "d": True, "e": None, "f": [1], "g": {}, "h": None, "i": "i", "j": "y", "k": {"title": "T", "year": 1}, "m": {"x": 1}, "n": "red"})
list(snakepit_adapter._stream("count", [3]) or [])
imported[start:]
`, OnChunk: func(json.RawMessage) error { return nil }})
	require.NoError(t, err)
	require.JSONEq(t, `[]`, string(res.Value))

	// The recorder works: a module not in the snapshot is recorded.
	res, err = p.Run(ctx, runtime.Exec("start = len(imported)\nimport colorsys\nimported[start:]"))
	require.NoError(t, err)
	require.JSONEq(t, `["colorsys"]`, string(res.Value))
}

// A package that fails to import fails pool.New with the Python traceback.
func TestPackageImportFails(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []pool.Mode{pool.ModeFresh, pool.ModeWarm} {
		_, err := pool.New(ctx, testrt.Runtime(t), pool.Options{Size: 1, Mode: mode, Preload: []string{"broken"},
			Instance: runtime.Options{Packages: []runtime.Package{{Files: map[string]string{
				"broken.py": "import snakepit\n\n@snakepit.export\ndef f(x: set[int]) -> int:\n    return 1\n",
			}}}}})
		var pe *runtime.PythonError
		require.True(t, errors.As(err, &pe), "%v", err)
		require.Equal(t, "TypeError", pe.Type)
		require.Equal(t, "snakepit.export: f(x): unsupported type hint set[int]", pe.Message)
		require.Contains(t, pe.Traceback, `File "/packages/0/broken.py", line 3`)
	}
}

func TestPackageOptionsRefused(t *testing.T) {
	ctx := context.Background()
	rt := testrt.Runtime(t)
	for _, o := range []runtime.Options{
		{Packages: []runtime.Package{{}}},
		{Packages: []runtime.Package{{HostDir: "x", Files: map[string]string{}}}},
		{Packages: []runtime.Package{{Zip: []byte("not a zip")}}},
		{Packages: []runtime.Package{{Files: map[string]string{"../up.py": ""}}}},
		{Mounts: []runtime.Mount{{GuestPath: "/packages/0", FS: fstest.MapFS{}}}},
		{Mounts: []runtime.Mount{{GuestPath: "/usr/lib/snakepit", FS: fstest.MapFS{}}}},
	} {
		_, err := rt.NewInstance(ctx, o)
		require.ErrorIs(t, err, runtime.ErrBadOptions)
	}
}

// A clone with other limits keeps its snapshot's packages: they are in the
// snapshot's memory (sys.path, imported modules).
func TestSnapshotClonePackages(t *testing.T) {
	ctx := context.Background()
	pkgs := []runtime.Package{{Files: map[string]string{"maths.py": mathsSrc}}}
	s, err := testrt.Runtime(t).NewSnapshot(ctx, runtime.SnapshotOptions{Options: runtime.Options{Packages: pkgs}, Preload: []string{"maths"}})
	require.NoError(t, err)
	defer s.Close()
	c, err := s.NewInstance(ctx, runtime.CloneOptions{Limits: runtime.Limits{MaxMemory: 64 << 20}})
	require.NoError(t, err)
	defer c.Close(ctx)
	n, err := adapter.Call[int](ctx, c, "double", []int{4})
	require.NoError(t, err)
	require.Equal(t, 8, n)
}
