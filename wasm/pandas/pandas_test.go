package pandas_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/snakepit-wasm/snakepit/wasm/pandas"
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

// EnvDir selects a local build of the pandas variant (`make pandas-tests`
// and `make pandas-bench` set it to the recipe's); by default the tests
// run on the files this package embeds, as `go test ./...` in CI does.
const EnvDir = "SNAKEPIT_PANDAS_DIR"

func localDir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(artifact.DefaultDir()), "pandas", "current")
}

var (
	rt     *runtime.Runtime
	rtErr  error
	rtOnce sync.Once
)

func variant(t testing.TB) *runtime.Runtime {
	rtOnce.Do(func() {
		if os.Getenv(EnvDir) != "" {
			rt, rtErr = runtime.New(ctx, runtime.Config{Dir: localDir()})
			return
		}
		rt, rtErr = runtime.New(ctx, runtime.Config{Variant: pandas.Files()})
	})
	if errors.Is(rtErr, runtime.ErrNotBuilt) {
		t.Skipf("this copy of the module does not embed the pandas variant; set %s to a local build (such as %s) to test one: %v", EnvDir, localDir(), rtErr)
	}
	require.NoError(t, rtErr)
	return rt
}

// pandas' import and a DataFrame's first operations take more than the
// default 256 MiB.
var limits = runtime.Limits{MaxMemory: 1 << 30}

var (
	snap     *runtime.Snapshot
	snapErr  error
	snapOnce sync.Once
)

// snapshot is a template that imported pandas: its clones start with it.
func snapshot(t testing.TB) *runtime.Snapshot {
	r := variant(t)
	snapOnce.Do(func() {
		snap, snapErr = r.NewSnapshot(ctx, runtime.SnapshotOptions{Preload: []string{"pandas"}, Options: runtime.Options{Limits: limits}})
	})
	require.NoError(t, snapErr)
	return snap
}

func TestBuildSaysPandas(t *testing.T) {
	require.Equal(t, "pandas", variant(t).Build().Variant)
}

// smoke reads a CSV file it writes into the scratch directory (with the C
// parser and the Python one), groups, merges, writes JSON and reads it
// back, runs a rolling window (pandas' C++ module) and a time-zone-aware
// date range (the guest's zoneinfo).
const smoke = `
import io, json
import numpy as np
import pandas as pd
with open("people.csv", "w") as f:
    f.write("id,name,dept,salary,start\n1,Ann,eng,120.5,2020-01-03\n2,Bob,ops,95,2019-07-15\n3,Cid,eng,130,2021-03-01\n4,Dee,ops,,2018-11-30\n")
df = pd.read_csv("people.csv", parse_dates=["start"])
py = pd.read_csv("people.csv", engine="python", parse_dates=["start"])
g = df.groupby("dept")["salary"].agg(["mean", "count"])
m = df.merge(pd.DataFrame({"dept": ["eng", "ops"], "floor": [3, 1]}), on="dept").sort_values("id")
js = m.to_json(orient="records", date_format="iso")
back = pd.read_json(io.StringIO(js), orient="records")
smoke = {
    "same": bool(df.equals(py)),
    "dtypes": df.dtypes.astype(str).tolist(),
    "mean": g["mean"].to_dict(),
    "count": g["count"].to_dict(),
    "first": json.loads(js)[0],
    "back": list(back.shape),
    "rolling": pd.Series(np.arange(10.0)).rolling(3).mean().tolist()[-1],
    "berlin": str(pd.date_range("2024-03-30 12:00", periods=2, freq="D", tz="Europe/Berlin")[1]),
    "origin": pd._libs.window.aggregations.__spec__.origin,
}
`

func TestPandasReadsGroupsMergesAndWritesJSON(t *testing.T) {
	i, err := variant(t).NewInstance(ctx, runtime.Options{Limits: limits})
	require.NoError(t, err)
	defer i.Close(ctx)
	_, err = i.Run(ctx, runtime.Exec(smoke))
	require.NoError(t, err)
	res, err := i.Run(ctx, runtime.Eval("smoke"))
	require.NoError(t, err)
	var got struct {
		Same    bool               `json:"same"`
		Dtypes  []string           `json:"dtypes"`
		Mean    map[string]float64 `json:"mean"`
		Count   map[string]int     `json:"count"`
		First   map[string]any     `json:"first"`
		Back    []int              `json:"back"`
		Rolling float64            `json:"rolling"`
		Berlin  string             `json:"berlin"`
		Origin  string             `json:"origin"`
	}
	require.NoError(t, res.Decode(&got))
	require.True(t, got.Same, "the C parser and the Python one read the file differently")
	require.Equal(t, []string{"int64", "object", "object", "float64", "datetime64[ns]"}, got.Dtypes)
	require.Equal(t, map[string]float64{"eng": 125.25, "ops": 95}, got.Mean)
	require.Equal(t, map[string]int{"eng": 2, "ops": 1}, got.Count)
	first, _ := json.Marshal(got.First)
	require.JSONEq(t, `{"id":1,"name":"Ann","dept":"eng","salary":120.5,"start":"2020-01-03T00:00:00.000","floor":3}`, string(first))
	require.Equal(t, []int{4, 6}, got.Back)
	require.Equal(t, 8.0, got.Rolling)
	require.Equal(t, "2024-03-31 12:00:00+02:00", got.Berlin, "the daylight-saving change comes from the guest's zoneinfo")
	require.Equal(t, "built-in", got.Origin)
}

func TestImportPandasInAClone(t *testing.T) {
	i, err := snapshot(t).NewInstance(ctx, runtime.CloneOptions{})
	require.NoError(t, err)
	defer i.Close(ctx)
	res, err := i.Run(ctx, runtime.Eval("'pandas' in __import__('sys').modules"))
	require.NoError(t, err)
	var in bool
	require.NoError(t, res.Decode(&in))
	require.True(t, in)
	res, err = i.Run(ctx, runtime.Eval("int(__import__('pandas').DataFrame({'a': [1, 2, 3]}).a.sum())"))
	require.NoError(t, err)
	var sum int
	require.NoError(t, res.Decode(&sum))
	require.Equal(t, 6, sum)
}
