package pandas_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/varianttest"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// EnvSuite runs pandas' own tests inside the sandbox: "1" for
// suiteModules, or a comma-separated list of test files relative to the
// variant's pandas-tests/ ("pandas/tests/frame/test_api.py"). EnvTestTools
// names the tree holding pytest and hypothesis (numpy/testtools.sh makes
// it), EnvTestZones the time zones with the legacy names the tests use
// (pandas/testzones.sh). The counts go to the test log, one line a file.
const (
	EnvSuite     = "SNAKEPIT_PANDAS_SUITE"
	EnvTestTools = "SNAKEPIT_PANDAS_TESTTOOLS"
	EnvTestZones = "SNAKEPIT_PANDAS_TESTZONES"
)

// suiteModules: frame, series, groupby, io/json and io/parsers, a few
// files of each, those that finish in minutes at wasm speed.
var suiteModules = []string{
	"pandas/tests/frame/test_api.py",
	"pandas/tests/frame/test_arithmetic.py",
	"pandas/tests/frame/methods/test_sort_values.py",
	"pandas/tests/series/test_api.py",
	"pandas/tests/series/test_arithmetic.py",
	"pandas/tests/groupby/test_groupby.py",
	"pandas/tests/groupby/aggregate/test_aggregate.py",
	"pandas/tests/io/json/test_pandas.py",
	"pandas/tests/io/json/test_ujson.py",
	"pandas/tests/io/parser/test_c_parser_only.py",
	"pandas/tests/io/parser/common/test_common_basic.py",
}

// suiteRunner runs one test file under pytest in the guest. pandas' tests
// (pandas-tests/, mounted as a package) join the built-in pandas package
// as pandas.tests. It leaves the counts and the causes of skips and
// failures in suite_result.
const suiteRunner = `
import collections, os, sys, zoneinfo
tests, zones = %q, %q
# The legacy zone names the tests use (US/Pacific, ...) are tzdata-legacy's.
zoneinfo.reset_tzpath([zones])
os.environ["PYTZ_TZDATADIR"] = zones
import dateutil.tz.tz
dateutil.tz.tz.TZPATHS.insert(0, zones)
import pandas
pandas.__path__.append(tests + "/pandas")
` + varianttest.PytestPrelude + `
import pytest

class Collect:
    def __init__(self):
        self.counts, self.causes = collections.Counter(), collections.Counter()
    def pytest_runtest_logreport(self, report):
        if report.when != "call" and report.passed:
            return
        kind = ("xfailed" if report.skipped else "xpassed") if hasattr(report, "wasxfail") else report.outcome
        if report.when != "call" and report.failed:
            kind = "errors"
        self.counts[kind] += 1
        if kind == "skipped":
            self.causes["skip: " + (report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr))[:200]] += 1
        elif kind in ("failed", "errors"):
            self.causes[kind + ": " + why(report)] += 1
    def pytest_collectreport(self, report):
        if report.failed:
            self.counts["errors"] += 1
            self.causes["collection: " + why(report)] += 1


c = Collect()
# pandas' addopts but the JUnit XML file (its directory is made with
# os.makedirs, which fails at "/": outside every preopen, wasi-libc says
# ENOENT) and --capture=no.
code = pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:faulthandler", "-p", "no:logging", "--capture=sys",
                    "-o", "addopts=--strict-markers --strict-config --durations=30",
                    "--rootdir", tests, "-c", tests + "/pyproject.toml", tests + "/" + %q], plugins=[c])
suite_result = {"exit": int(code), "counts": dict(c.counts), "causes": dict(c.causes.most_common(40))}
`

func TestPandasSuite(t *testing.T) {
	which := os.Getenv(EnvSuite)
	if which == "" {
		t.Skipf("pandas' test suite runs with %s=1 (and %s): tens of minutes", EnvSuite, EnvTestTools)
	}
	r := variant(t)
	tests := filepath.Join(localDir(), "pandas-tests")
	tools := os.Getenv(EnvTestTools)
	require.DirExists(t, tests, "pandas' tests come with a local build of the variant")
	require.NotEmpty(t, tools, "%s names the pytest/hypothesis tree (numpy/testtools.sh)", EnvTestTools)
	zones := os.Getenv(EnvTestZones)
	require.NotEmpty(t, zones, "%s names the test time zones (pandas/testzones.sh)", EnvTestZones)
	modules := suiteModules
	if which != "1" {
		modules = strings.Split(which, ",")
	}
	for _, m := range modules {
		t.Run(m, func(t *testing.T) {
			i, err := r.NewInstance(ctx, runtime.Options{
				Limits:   runtime.Limits{MaxMemory: 2 << 30},
				Packages: []runtime.Package{{HostDir: tests}, {HostDir: tools}, {HostDir: zones}},
			})
			require.NoError(t, err)
			defer i.Close(ctx)
			c, cancel := context.WithTimeout(ctx, 30*time.Minute)
			defer cancel()
			start := time.Now()
			run, err := i.Run(c, runtime.Exec(fmt.Sprintf(suiteRunner, runtime.PackagesPath+"/0", runtime.PackagesPath+"/2", m)))
			if pe, ok := errors.AsType[*runtime.PythonError](err); ok {
				t.Log(pe.Traceback)
			}
			require.NoError(t, err)
			out := string(run.Stdout) + string(run.Stderr)
			res, err := i.Run(c, runtime.Eval("suite_result"))
			require.NoError(t, err)
			var sr struct {
				Exit   int            `json:"exit"`
				Counts map[string]int `json:"counts"`
				Causes map[string]int `json:"causes"`
			}
			require.NoError(t, res.Decode(&sr))
			t.Logf("%s: exit %d, %v in %.0fs", m, sr.Exit, sr.Counts, time.Since(start).Seconds())
			for cause, n := range sr.Causes {
				t.Logf("  %d × %s", n, cause)
			}
			require.Contains(t, []int{0, 1}, sr.Exit, "pytest did not run the file through:\n%s", out[max(0, len(out)-3000):])
		})
	}
}
