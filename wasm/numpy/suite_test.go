package numpy_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/varianttest"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// EnvSuite runs numpy's own tests inside the sandbox (`make numpy-tests`):
// "1" for suiteModules, or a comma-separated list of test files relative
// to the tests tree ("numpy/linalg/tests/test_linalg.py"). EnvSuiteOut
// names the Markdown report to write; EnvTestTools the tree holding pytest
// and hypothesis (numpy/testtools.sh); EnvTests the tests tree
// (numpy/tests-tree.sh), by default the local build's numpy-tests/.
const (
	EnvSuite     = "SNAKEPIT_NUMPY_SUITE"
	EnvSuiteOut  = "SNAKEPIT_NUMPY_SUITE_OUT"
	EnvTestTools = "SNAKEPIT_NUMPY_TESTTOOLS"
	EnvTests     = "SNAKEPIT_NUMPY_TESTS"
)

// suiteModules is the subset `make numpy-tests` runs: the core array and
// ufunc machinery, each built-in part (linalg, fft, random) and the
// pure-Python layers over them, leaving out what needs a compiler or
// subprocesses (f2py, the C API tests, typing).
var suiteModules = []string{
	"numpy/_core/tests/test_multiarray.py",
	"numpy/_core/tests/test_ufunc.py",
	"numpy/_core/tests/test_numeric.py",
	"numpy/_core/tests/test_umath.py",
	"numpy/_core/tests/test_shape_base.py",
	"numpy/_core/tests/test_indexing.py",
	"numpy/_core/tests/test_dtype.py",
	"numpy/_core/tests/test_scalarmath.py",
	"numpy/_core/tests/test_arrayprint.py",
	"numpy/_core/tests/test_einsum.py",
	"numpy/linalg/tests/test_linalg.py",
	"numpy/fft/tests/test_pocketfft.py",
	"numpy/fft/tests/test_helper.py",
	"numpy/random/tests/test_generator_mt19937.py",
	"numpy/random/tests/test_random.py",
	"numpy/random/tests/test_randomstate.py",
	"numpy/lib/tests/test_function_base.py",
	"numpy/lib/tests/test_arraysetops.py",
	"numpy/lib/tests/test_nanfunctions.py",
	"numpy/ma/tests/test_core.py",
	"numpy/polynomial/tests/test_polynomial.py",
}

// suiteRunner runs one test file under pytest in the guest and returns
// the outcome counts and the reasons for skips and failures. The tests tree
// (mounted as a package) holds only numpy/**/tests: each subpackage's
// __path__ is extended to it.
const suiteRunner = `
import json, os, sys
tests = %q
import numpy
` + varianttest.PytestPrelude + `
for d, dirs, files in os.walk(tests + "/numpy"):
    if "tests" in dirs:
        rel = os.path.relpath(d, tests).replace("/", ".")
        try:
            pkg = __import__(rel, fromlist=["_"])
        except ImportError:
            continue
        if d not in pkg.__path__:
            pkg.__path__.append(d)
import pytest

class Collect:
    def __init__(self):
        self.counts, self.skips, self.failures = {}, {}, []
    def pytest_runtest_logreport(self, report):
        if report.when != "call" and report.passed:
            return
        if hasattr(report, "wasxfail"):
            kind = "xfailed" if report.skipped else "xpassed"
        else:
            kind = report.outcome
        if report.when != "call" and report.failed:
            kind = "errors"
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == "skipped":
            r = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.skips[r] = self.skips.get(r, 0) + 1
        elif kind in ("failed", "errors"):
            self.failures.append(report.nodeid + ": " + why(report))
    def pytest_collectreport(self, report):
        if report.failed:
            self.counts["errors"] = self.counts.get("errors", 0) + 1
            self.failures.append(report.nodeid + " (collection): " + why(report))


c = Collect()
# Not faulthandler, logging (they open /dev/null, which WASI lacks), fd
# capture (no dup2) or the cache (the tests tree is read-only; the working
# directory is the scratch file system).
code = pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:faulthandler", "-p", "no:logging", "--capture=sys",
                    "--rootdir", tests, "-c", tests + "/pytest.ini", tests + "/" + %q], plugins=[c])
suite_result = {"exit": int(code), "counts": c.counts, "skips": c.skips, "failures": c.failures[:50]}
`

type suiteResult struct {
	Exit     int            `json:"exit"`
	Counts   map[string]int `json:"counts"`
	Skips    map[string]int `json:"skips"`
	Failures []string       `json:"failures"`
	Err      string         `json:"err,omitempty"`
	Seconds  float64        `json:"seconds"`
}

func TestNumpySuite(t *testing.T) {
	which := os.Getenv(EnvSuite)
	if which == "" {
		t.Skipf("numpy's test suite runs with `make numpy-tests` (%s=1): about half an hour", EnvSuite)
	}
	r := variant(t)
	tests := os.Getenv(EnvTests)
	if tests == "" {
		tests = filepath.Join(localDir(), "numpy-tests")
	}
	tools := os.Getenv(EnvTestTools)
	require.DirExists(t, tests, "numpy's tests: %s, or a local build of the variant", EnvTests)
	require.NotEmpty(t, tools, "%s names the pytest/hypothesis tree (numpy/testtools.sh)", EnvTestTools)
	modules := suiteModules
	if which != "1" {
		modules = strings.Split(which, ",")
	}
	results := map[string]suiteResult{}
	for _, m := range modules {
		t.Run(m, func(t *testing.T) {
			i, err := r.NewInstance(ctx, runtime.Options{
				// test_largish_file writes 64 MiB, the scratch's default cap.
				Limits:   runtime.Limits{MaxMemory: 2 << 30, MaxScratchBytes: 512 << 20},
				Packages: []runtime.Package{{HostDir: tests}, {HostDir: tools}},
			})
			require.NoError(t, err)
			defer i.Close(ctx)
			c, cancel := context.WithTimeout(ctx, 20*time.Minute)
			defer cancel()
			start := time.Now()
			var sr suiteResult
			res, err := i.Run(c, runtime.Exec(fmt.Sprintf(suiteRunner, runtime.PackagesPath+"/0", m)))
			if res != nil && testing.Verbose() {
				out := string(res.Stdout)
				t.Log(out[max(0, len(out)-3000):])
			}
			if err == nil {
				var res *runtime.Result
				if res, err = i.Run(c, runtime.Eval("suite_result")); err == nil {
					err = res.Decode(&sr)
				}
			}
			// 1: tests failed, 2: a file that could not be collected (its
			// error is counted and reported), 5: none collected.
			if err == nil && sr.Exit > 2 && sr.Exit != 5 {
				err = fmt.Errorf("pytest exited with %d", sr.Exit)
			}
			if err != nil {
				sr.Err = err.Error()
				if pe, ok := errors.AsType[*runtime.PythonError](err); ok {
					t.Log(pe.Traceback)
				}
			}
			sr.Seconds = time.Since(start).Seconds()
			results[m] = sr
			t.Logf("%s: %v in %.0fs %s", m, sr.Counts, sr.Seconds, sr.Err)
		})
	}
	if out := os.Getenv(EnvSuiteOut); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(suiteReport(r.Build(), results)), 0o644))
	}
	for m, sr := range results {
		require.Empty(t, sr.Err, m)
	}
}

func suiteReport(build runtime.Build, results map[string]suiteResult) string {
	var b strings.Builder
	total := map[string]int{}
	skips := map[string]int{}
	fmt.Fprintf(&b, "# numpy's tests inside the sandbox\n\nnumpy 2.2.4's own tests (pytest 8.3, hypothesis 6.130, from Debian trixie), each file in a fresh instance of the numpy variant (`make numpy-tests`), the %s interpreter (python.wasm sha256 %s).\n\n", map[bool]string{true: "embedded", false: "locally built"}[build.Embedded], build.SHA256)
	fmt.Fprintf(&b, "| file | passed | failed | errors | skipped | xfailed | seconds |\n|---|---|---|---|---|---|---|\n")
	for _, m := range slices.Sorted(maps.Keys(results)) {
		r := results[m]
		for k, v := range r.Counts {
			total[k] += v
		}
		for k, v := range r.Skips {
			skips[k] += v
		}
		note := ""
		if r.Err != "" {
			note = " (" + strings.ReplaceAll(r.Err, "|", "/") + ")"
		}
		fmt.Fprintf(&b, "| %s%s | %d | %d | %d | %d | %d | %.0f |\n", m, note, r.Counts["passed"], r.Counts["failed"], r.Counts["errors"], r.Counts["skipped"], r.Counts["xfailed"], r.Seconds)
	}
	fmt.Fprintf(&b, "| **total** | %d | %d | %d | %d | %d | |\n\n", total["passed"], total["failed"], total["errors"], total["skipped"], total["xfailed"])
	fmt.Fprintf(&b, "## Skip reasons, with their cause\n\n")
	for _, k := range slices.Sorted(maps.Keys(skips)) {
		fmt.Fprintf(&b, "- %d × %s (%s)\n", skips[k], strings.TrimSpace(k), cause(k))
	}
	fmt.Fprintf(&b, "\n## Failures, with their cause\n\n")
	for _, m := range slices.Sorted(maps.Keys(results)) {
		for _, f := range results[m].Failures {
			fmt.Fprintf(&b, "- %s (%s)\n", f, cause(f))
		}
	}
	return b.String()
}

// causes says, by a word of its reason or message, why a test is skipped
// or fails inside the sandbox; the first that matches wins.
var causes = []struct{ word, cause string }{
	{"FloatingPointError not raised", "wasm32: no floating-point exception flags; upstream skips the other such tests on wasm, not these"},
	{"ctypes", "ours: the interpreter has no ctypes (no libffi for wasm32-wasi)"},
	{"mmap", "WASI: no mmap module"},
	{"wasm", "WASI/wasm32, as upstream marks it"},
	{"thread", "WASI: no threads"},
	{"subprocess", "WASI: no processes"},
	{"fork", "WASI: no processes"},
	{"Bad memory reports", "wasm32: upstream skips it on 32-bit platforms"},
	{"memory", "WASI: no way to read the available memory"},
	{"32-bit", "wasm32: a 32-bit C long"},
	{"int32", "wasm32: a 32-bit C long"},
	{"x86-64", "wasm32: not x86-64"},
	{"fp error", "wasm32: no floating-point exception flags"},
	{"windows", "upstream: a platform difference it skips everywhere"},
	{"PyPy", "upstream: not CPython's"},
	{"broken on some platforms", "upstream: skipped everywhere"},
}

func cause(s string) string {
	for _, c := range causes {
		if strings.Contains(strings.ToLower(s), strings.ToLower(c.word)) {
			return c.cause
		}
	}
	return "upstream: the test's own parametrization"
}
