package numpy_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/snakepit-wasm/snakepit/wasm/numpy"
	"github.com/stretchr/testify/require"
)

var ctx = context.Background()

// TestMain checks for leaked goroutines (testrt.Main, with goleak) once
// the variant's snapshot and Runtime are closed.
func TestMain(m *testing.M) { testrt.Main(m, closeVariant) }

func closeVariant() {
	if snap != nil {
		snap.Close()
	}
	if rt != nil {
		rt.Close(ctx)
	}
}

// EnvDir selects a local build of the numpy variant for the tests (`make
// numpy-tests` and `make numpy-bench` set it to the recipe's); by default
// they run on the files this package embeds, as `go test ./...` in CI does.
const EnvDir = "SNAKEPIT_NUMPY_DIR"

// localDir is where `make python-wasm` leaves the numpy variant, or EnvDir.
func localDir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(artifact.DefaultDir()), "numpy", "current")
}

// embeddedVariant reports whether this copy of the module carries the
// variant's files (`make embedded` copies them into blob/).
func embeddedVariant() bool {
	_, err := fs.Stat(numpy.Files(), "MANIFEST")
	return err == nil
}

var (
	rt     *runtime.Runtime
	rtErr  error
	rtOnce sync.Once
)

// variant returns the test binary's Runtime of the numpy variant: the
// local build EnvDir names; else the embedded files; else, in a checkout
// whose blob/ is empty, the recipe's local build. It skips the test when
// none is there.
func variant(t testing.TB) *runtime.Runtime {
	rtOnce.Do(func() {
		if os.Getenv(EnvDir) != "" || !embeddedVariant() {
			if _, err := os.Stat(filepath.Join(localDir(), "python.wasm")); err == nil || os.Getenv(EnvDir) != "" {
				rt, rtErr = runtime.New(ctx, runtime.Config{Dir: localDir()})
				return
			}
		}
		rt, rtErr = runtime.New(ctx, runtime.Config{Variant: numpy.Files()})
	})
	if errors.Is(rtErr, runtime.ErrNotBuilt) {
		t.Skipf("the numpy variant is not built (no %s, and this module does not embed it): %v", localDir(), rtErr)
	}
	require.NoError(t, rtErr)
	return rt
}

func newInstance(t *testing.T, o runtime.Options) *runtime.Instance {
	i, err := variant(t).NewInstance(ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { i.Close(ctx) })
	return i
}

var (
	snap     *runtime.Snapshot
	snapErr  error
	snapOnce sync.Once
)

// snapshot is a template that imported numpy and numpy.random (which numpy
// imports lazily, at first use): its clones start with both.
func snapshot(t *testing.T) *runtime.Snapshot {
	r := variant(t)
	snapOnce.Do(func() {
		snap, snapErr = r.NewSnapshot(ctx, runtime.SnapshotOptions{Preload: []string{"numpy", "numpy.random"}, Options: runtime.Options{Limits: runtime.Limits{MaxMemory: 1 << 30}}})
	})
	require.NoError(t, snapErr)
	return snap
}

func clone(t *testing.T) *runtime.Instance {
	i, err := snapshot(t).NewInstance(ctx, runtime.CloneOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { i.Close(ctx) })
	return i
}

func eval[T any](t *testing.T, i *runtime.Instance, expr string) T {
	t.Helper()
	res, err := i.Run(ctx, runtime.Eval(expr))
	require.NoError(t, err, expr)
	var v T
	require.NoError(t, res.Decode(&v), expr)
	return v
}

func TestBuildSaysNumpy(t *testing.T) {
	b := variant(t).Build()
	require.Equal(t, "numpy", b.Variant)
	if os.Getenv(EnvDir) == "" && embeddedVariant() {
		require.True(t, b.Embedded, "the tests run on the embedded files when the module carries them")
	}
}

func TestImportNumpyInAFreshInstance(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec("import numpy as np"))
	require.NoError(t, err)
	require.Equal(t, "2.2.4", eval[string](t, i, "np.__version__"))
	require.Equal(t, 45, eval[int](t, i, "int(np.arange(10).sum())"))
	// Each part built in: linalg (lapack_lite), fft (pocketfft), random.
	require.InDelta(t, -2.0, eval[float64](t, i, "float(np.linalg.det(np.array([[1.0, 2.0], [3.0, 4.0]])))"), 1e-9)
	require.InDelta(t, 4.0, eval[float64](t, i, "float(np.fft.fft(np.ones(4))[0].real)"), 1e-12)
	require.Equal(t, 3, eval[int](t, i, "len(np.random.default_rng(1).random(3))"))
	// The modules are built in, under their dotted names.
	require.Equal(t, "built-in", eval[string](t, i, "np._core._multiarray_umath.__spec__.origin"))
}

func TestImportNumpyInAClone(t *testing.T) {
	i := clone(t)
	require.True(t, eval[bool](t, i, "'numpy' in __import__('sys').modules"))
	_, err := i.Run(ctx, runtime.Exec("import numpy as np"))
	require.NoError(t, err)
	require.Equal(t, 45, eval[int](t, i, "int(np.arange(10).sum())"))
	require.Equal(t, [][]float64{{7, 10}, {15, 22}}, eval[[][]float64](t, i, "(np.array([[1., 2.], [3., 4.]]) @ np.array([[1., 2.], [3., 4.]])).tolist()"))
}

func TestClonesDrawDifferentNumpyRandomNumbers(t *testing.T) {
	a, b := clone(t), clone(t)
	// Seeded in the template: without a seed per clone, both would draw
	// its next number.
	require.True(t, eval[bool](t, a, "'numpy.random.mtrand' in __import__('sys').modules"))
	x := eval[float64](t, a, "__import__('numpy').random.rand()")
	y := eval[float64](t, b, "__import__('numpy').random.rand()")
	require.NotEqual(t, x, y, "two clones of one snapshot drew the same np.random.rand()")
}

// Each runs for far longer than its deadline in numpy's C loops; setup
// makes the data outside the deadline.
var numpySpinners = []struct{ name, setup, src string }{
	{"dot", "import numpy as np\na = np.ones((600, 600))", "while True:\n    a.dot(a)"},
	{"sort", "import numpy as np\na = np.random.default_rng(0).random(30_000_000)", "np.sort(a, kind='quicksort')"},
	{"ufunc", "import numpy as np\na = np.ones(20_000_000)", "while True:\n    np.sin(a, out=a)"},
	{"one-long-dot", "import numpy as np\na = np.ones((3000, 3000))", "a @ a"},
}

func TestDeadlineStopsNumpyLoops(t *testing.T) {
	for _, tc := range numpySpinners {
		t.Run(tc.name, func(t *testing.T) {
			testrt.StopsAtDeadline(t, newInstance(t, runtime.Options{Limits: runtime.Limits{MaxMemory: 1 << 30}}), tc.setup, tc.src)
		})
	}
}

func TestMemoryCapHoldsForAHugeArray(t *testing.T) {
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxMemory: 256 << 20}})
	// numpy asks for the whole buffer at once: malloc fails and numpy
	// raises its MemoryError (_ArrayMemoryError), or the runtime reports
	// the cap; either way the interpreter keeps its state.
	_, err := i.Run(ctx, runtime.Exec("import numpy as np\na = np.ones(100_000_000)"))
	require.Error(t, err)
	var pe *runtime.PythonError
	if !errors.As(err, &pe) || !strings.HasSuffix(pe.Type, "MemoryError") {
		require.ErrorIs(t, err, runtime.ErrMemoryLimit)
	}
	require.LessOrEqual(t, i.MemoryBytes(), uint64(256<<20))
	require.Equal(t, 10, eval[int](t, i, "int(np.arange(5).sum())"), "np is still defined")
	// The host and the other instances are fine.
	j := newInstance(t, runtime.Options{})
	require.Equal(t, 6, eval[int](t, j, "int(__import__('numpy').arange(4).sum())"))
}
