package runtime

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"github.com/snakepit-wasm/snakepit/internal/bench/native"
	"github.com/stretchr/testify/require"
)

// debianPackages is the dist-packages directory that
// internal/pycache/testdata/fetch.sh leaves.
func debianPackages(b *testing.B) string {
	dir := filepath.Join(artifact.CacheBase(), "debian-py", "dist-packages")
	if _, err := os.Stat(filepath.Join(dir, "sympy", "__init__.py")); err != nil {
		b.Skip("Debian's networkx and sympy are not fetched: run internal/pycache/testdata/fetch.sh")
	}
	return dir
}

// waitPackages waits for the bytecode of the packages of opts.
func (r *Runtime) waitPackages(ctx context.Context, opts Options) error {
	o, _, err := r.resolvePackages(opts)
	if err != nil {
		return err
	}
	for _, m := range o.Mounts {
		if m.pyc != nil {
			if err := m.pyc.Wait(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// BenchmarkImportPackages imports networkx and sympy (Debian's, pure
// Python, from a read-only host directory) in a fresh interpreter, without
// bytecode (as before package pycache) and with it, beside native
// python3.13 importing the same with its own bytecode (written once to a
// pycache prefix, not beside the sources). Each reports the import's
// median in ms (import-ms) and, for the sandbox, the instance's creation
// and import together (total-ms). The compilation runs before the timing
// (from the disk cache after the first run).
func BenchmarkImportPackages(b *testing.B) {
	dir := debianPackages(b)
	ctx := context.Background()
	opts := Options{Limits: Limits{MaxMemory: 1 << 30}, Packages: []Package{{HostDir: dir}}}
	source, err := New(ctx, Config{})
	require.NoError(b, err)
	defer source.Close(ctx)
	source.pyc.Close()
	source.pyc = nil
	pyc, err := New(ctx, Config{})
	require.NoError(b, err)
	defer pyc.Close(ctx)
	t := time.Now()
	require.NoError(b, pyc.waitPackages(ctx, opts))
	b.Logf("bytecode ready in %v", time.Since(t))

	for _, mod := range []string{"networkx", "sympy"} {
		for _, c := range []struct {
			name string
			r    *Runtime
		}{{"source", source}, {"pyc", pyc}} {
			b.Run(mod+"/"+c.name, func(b *testing.B) {
				var imports, totals []time.Duration
				for b.Loop() {
					t := time.Now()
					i, err := c.r.NewInstance(ctx, opts)
					require.NoError(b, err)
					t1 := time.Now()
					_, err = i.Run(ctx, Exec("import "+mod))
					require.NoError(b, err)
					imports, totals = append(imports, time.Since(t1)), append(totals, time.Since(t))
					i.Close(ctx)
				}
				b.ReportMetric(medianMs(imports), "import-ms")
				b.ReportMetric(medianMs(totals), "total-ms")
			})
		}
		b.Run(mod+"/native", func(b *testing.B) {
			py, err := native.PythonPath()
			if err != nil {
				b.Skip(err)
			}
			prefix := filepath.Join(artifact.CacheBase(), "debian-py", "native-pyc")
			src := "import sys, time\nsys.path.append(" + strconv.Quote(dir) + ")\nt = time.perf_counter()\nimport " + mod + "\nprint(time.perf_counter() - t)"
			run := func() time.Duration {
				args := append(py[1:len(py):len(py)], "-I", "-X", "pycache_prefix="+prefix, "-W", "ignore", "-c", src)
				out, err := exec.Command(py[0], args...).Output()
				require.NoError(b, err)
				s, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
				require.NoError(b, err)
				return time.Duration(s * float64(time.Second))
			}
			run() // writes the bytecode on the first run ever
			var imports []time.Duration
			for b.Loop() {
				imports = append(imports, run())
			}
			b.ReportMetric(medianMs(imports), "import-ms")
		})
	}
}

func medianMs(d []time.Duration) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}
