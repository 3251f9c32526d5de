package numpy_test

import (
	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// report records p50/p99 of ds in microseconds.
func report(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/float64(time.Microsecond), "p50-us")
	b.ReportMetric(float64(ds[len(ds)*99/100])/float64(time.Microsecond), "p99-us")
}

// nativeNumpy returns a command running src in stage 1's native python3.13
// (-I -S) with the native numpy of the same source (the recipe's
// native-site) on sys.path, or skips.
func nativeNumpy(b *testing.B, src string) *exec.Cmd {
	py := filepath.Join(artifact.DefaultDir(), "native", "bin", "python3.13")
	site := filepath.Join(localDir(), "native-site")
	if _, err := os.Stat(filepath.Join(site, "numpy", "__init__.py")); err != nil {
		b.Skipf("no native numpy of the same source in %s (numpy/native.sh builds it)", site)
	}
	if _, err := os.Stat(py); err != nil {
		b.Skipf("no native python3.13 at %s", py)
	}
	return exec.Command(py, "-I", "-S", "-c", "import sys\nsys.path.append("+strconv.Quote(site)+")\n"+src)
}

const ready = "import numpy as np\nnp.arange(10).sum()"

// BenchmarkNumpyReady compares the ways to get an interpreter with numpy
// imported that has run a small computation: a clone of a snapshot that
// imported numpy (recycled and copy-on-write memory), a fresh instance
// that imports it, and a native `python3.13 -c` process with the native
// numpy of the same source.
func BenchmarkNumpyReady(b *testing.B) {
	r := variant(b)
	for _, cow := range []bool{false, true} {
		s, err := r.NewSnapshot(ctx, runtime.SnapshotOptions{Preload: []string{"numpy"}, CopyOnWrite: cow})
		require.NoError(b, err)
		defer s.Close()
		for _, src := range []string{"", ready} {
			name := map[bool]string{false: "clone-recycled", true: "clone-copy-on-write"}[cow] + map[string]string{"": "-ready", ready: "-arange-sum"}[src]
			b.Run(name, func(b *testing.B) {
				var ds []time.Duration
				for b.Loop() {
					t := time.Now()
					i, err := s.NewInstance(ctx, runtime.CloneOptions{})
					require.NoError(b, err)
					if src != "" {
						_, err = i.Run(ctx, runtime.Exec(src))
					}
					ds = append(ds, time.Since(t))
					require.NoError(b, err)
					i.Close(ctx)
				}
				report(b, ds)
				b.ReportMetric(float64(s.Bytes())/(1<<20), "snapshot-MiB")
			})
		}
	}
	b.Run("fresh-instance", func(b *testing.B) {
		var ds []time.Duration
		for b.Loop() {
			t := time.Now()
			i, err := r.NewInstance(ctx, runtime.Options{})
			require.NoError(b, err)
			_, err = i.Run(ctx, runtime.Exec(ready))
			ds = append(ds, time.Since(t))
			require.NoError(b, err)
			i.Close(ctx)
		}
		report(b, ds)
	})
	b.Run("native-subprocess", func(b *testing.B) {
		var ds []time.Duration
		for b.Loop() {
			cmd := nativeNumpy(b, ready)
			t := time.Now()
			out, err := cmd.CombinedOutput()
			ds = append(ds, time.Since(t))
			require.NoError(b, err, string(out))
		}
		report(b, ds)
	})
}

// kernels are timed inside the interpreter (best of 5, perf_counter), so
// that wasm and native numpy run the same Python around the same kernel.
var kernels = []struct{ name, setup, run string }{
	{"matmul-200x200", "a = np.random.default_rng(0).random((200, 200))", "a @ a"},
	{"sort-1e6", "a = np.random.default_rng(0).random(10**6)", "np.sort(a)"},
	{"ufunc-add-mul-1e6", "a = np.random.default_rng(0).random(10**6); b = a + 1", "a * b + a"},
	{"ufunc-sin-exp-1e6", "a = np.random.default_rng(0).random(10**6)", "np.sin(a) + np.exp(a)"},
	{"sum-1e6", "a = np.random.default_rng(0).random(10**6)", "a.sum()"},
	{"linalg-solve-200", "a = np.random.default_rng(0).random((200, 200)); v = np.ones(200)", "np.linalg.solve(a, v)"},
	{"fft-2^16", "a = np.random.default_rng(0).random(2**16)", "np.fft.fft(a)"},
}

func kernelSource(setup, run string) string {
	return "import numpy as np, time\n" + setup + "\nbest = 1e9\nfor _ in range(5):\n    t = time.perf_counter()\n    " + run + "\n    best = min(best, time.perf_counter() - t)\nprint(best * 1e3)\n"
}

// BenchmarkNumpyKernels runs each kernel in the variant and, when the
// native numpy of the same source is there, natively; it reports both
// (ms, best of 5) and their ratio.
func BenchmarkNumpyKernels(b *testing.B) {
	r := variant(b)
	i, err := r.NewInstance(ctx, runtime.Options{Limits: runtime.Limits{MaxMemory: 1 << 30}})
	require.NoError(b, err)
	defer i.Close(ctx)
	for _, k := range kernels {
		b.Run(k.name, func(b *testing.B) {
			src := kernelSource(k.setup, k.run)
			var wasm, native float64
			for b.Loop() {
				res, err := i.Run(ctx, runtime.Exec(src))
				require.NoError(b, err)
				wasm, err = strconv.ParseFloat(strings.TrimSpace(string(res.Stdout)), 64)
				require.NoError(b, err)
			}
			b.ReportMetric(wasm, "wasm-ms")
			out, err := nativeNumpy(b, src).Output()
			require.NoError(b, err)
			native, err = strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
			require.NoError(b, err)
			b.ReportMetric(native, "native-ms")
			b.ReportMetric(wasm/native, "wasm/native")
		})
	}
}
