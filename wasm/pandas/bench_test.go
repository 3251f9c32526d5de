package pandas_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/bench/native"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func report(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/float64(time.Microsecond), "p50-us")
	b.ReportMetric(float64(ds[len(ds)*99/100])/float64(time.Microsecond), "p99-us")
}

// debian is what `apt install python3-pandas` runs: trixie's python3.13
// and python3-numpy (`make bench-debian`) with trixie's pandas
// (pandas/native.sh, the variant's native-site/); it skips without them.
func debian(b *testing.B) *exec.Cmd {
	py, _, err := native.Debian(native.DebianDir())
	if err != nil {
		b.Skip(err)
	}
	site := filepath.Join(localDir(), "native-site")
	if _, err := os.Stat(filepath.Join(site, "pandas", "__init__.py")); err != nil {
		b.Skipf("no native pandas in %s (pandas/native.sh unpacks it)", site)
	}
	prelude := "import sys\nsys.path += [" + strconv.Quote(filepath.Join(native.DebianDir(), "numpy-site")) + ", " + strconv.Quote(site) + "]\n"
	return exec.Command(py[0], append(py[1:len(py):len(py)], "-I", "-S", "-c", prelude)...)
}

// nativeRun runs src after the prelude debian's command carries.
func nativeRun(b *testing.B, src string) []byte {
	cmd := debian(b)
	cmd.Args[len(cmd.Args)-1] += src
	out, err := cmd.CombinedOutput()
	require.NoError(b, err, string(out))
	return out
}

const ready = "import pandas as pd\npd.DataFrame({'a': [1, 2, 3]}).a.sum()"

// BenchmarkPandasReady: a clone of a snapshot that imported pandas (ready,
// and importing pandas plus a first DataFrame), a ModeFresh pool of such
// clones, and a native `python3.13 -c` process with Debian's pandas.
func BenchmarkPandasReady(b *testing.B) {
	s := snapshot(b)
	for name, src := range map[string]string{"clone-ready": "", "clone-import-pandas-dataframe-sum": ready} {
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
	b.Run("fresh-pool", func(b *testing.B) {
		p, err := pool.New(ctx, variant(b), pool.Options{Size: 1, Preload: []string{"pandas"}, Instance: runtime.Options{Limits: limits}})
		require.NoError(b, err)
		defer p.Close(ctx)
		var ds []time.Duration
		for b.Loop() {
			t := time.Now()
			_, err := p.Run(ctx, runtime.Exec(ready))
			ds = append(ds, time.Since(t))
			require.NoError(b, err)
		}
		report(b, ds)
	})
	b.Run("debian-subprocess", func(b *testing.B) {
		var ds []time.Duration
		for b.Loop() {
			t := time.Now()
			nativeRun(b, ready)
			ds = append(ds, time.Since(t))
		}
		report(b, ds)
	})
}

// workload is a DataFrame workload of 200,000 rows, each step timed inside
// the interpreter (best of 3, perf_counter), so that wasm and native
// pandas run the same Python around the same step. It prints the times in
// ms as JSON.
const workload = `
import io, json, time
import numpy as np
import pandas as pd
rng = np.random.default_rng(0)
n = 200_000
df = pd.DataFrame({
    "k": rng.integers(0, 1000, n),
    "g": rng.choice(list("abcdefgh"), n),
    "x": rng.random(n),
    "y": rng.normal(size=n),
    "t": pd.date_range("2024-01-01", periods=n, freq="min"),
})
keys = pd.DataFrame({"k": np.arange(1000), "w": rng.random(1000)})
csv = df.to_csv(index=False)
steps = {
    "read_csv": lambda: pd.read_csv(io.StringIO(csv), parse_dates=["t"]),
    "to_csv": lambda: df.to_csv(index=False),
    "groupby_agg": lambda: df.groupby(["g", "k"]).agg(x=("x", "mean"), y=("y", "sum"), n=("x", "size")),
    "merge": lambda: df.merge(keys, on="k"),
    "sort_values": lambda: df.sort_values(["g", "x"]),
    "rolling_mean": lambda: df["y"].rolling(50).mean(),
    "resample": lambda: df.set_index("t")["x"].resample("h").mean(),
    "pivot_table": lambda: df.pivot_table(index="g", columns=df["k"] % 10, values="x", aggfunc="mean"),
    "str_value_counts": lambda: df["g"].str.upper().value_counts(),
    "to_json": lambda: df.head(50_000).to_json(orient="records"),
}
times = {}
for name, f in steps.items():
    best = 1e9
    for _ in range(3):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    times[name] = best * 1e3
times["total"] = sum(times.values())
print(json.dumps(times))
`

// BenchmarkPandasWorkload runs the workload in the variant and in Debian's
// pandas, and reports each step's ms and the ratio.
func BenchmarkPandasWorkload(b *testing.B) {
	r := variant(b)
	var nat map[string]float64
	require.NoError(b, json.Unmarshal(nativeRun(b, workload), &nat))
	i, err := r.NewInstance(ctx, runtime.Options{Limits: runtime.Limits{MaxMemory: 2 << 30}})
	require.NoError(b, err)
	defer i.Close(ctx)
	var wasm map[string]float64
	for b.Loop() {
		res, err := i.Run(ctx, runtime.Exec(workload))
		require.NoError(b, err)
		require.NoError(b, json.Unmarshal(res.Stdout, &wasm))
	}
	for name, ms := range wasm {
		b.ReportMetric(ms, name+"-wasm-ms")
		b.ReportMetric(nat[name], name+"-debian-ms")
		b.ReportMetric(ms/nat[name], name+"-wasm/debian")
	}
}
