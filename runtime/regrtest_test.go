package runtime_test

import (
	"context"
	"encoding/json"
	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// testlib returns CPython's test suite from the local build (the embedded
// interpreter does not carry it), skipping the test when there is none.
func testlib(t *testing.T) string {
	dir := filepath.Join(artifact.DefaultDir(), "testlib")
	if _, err := os.Stat(filepath.Join(dir, "test", "__init__.py")); err != nil {
		t.Skipf("CPython's test suite comes from the local build, which is missing (run `make python-wasm`): %v", err)
	}
	return dir
}

// regrtest runs CPython's own regression tests for the named modules inside
// an instance and returns (run, failures, errors, skipped) and the report.
func regrtest(t *testing.T, newInst func(runtime.Options) *runtime.Instance, module string) ([4]int, string) {
	i := newInst(runtime.Options{
		Limits: runtime.Limits{MaxMemory: 1 << 30},
		Mounts: []runtime.Mount{{GuestPath: "/testlib", HostDir: testlib(t)}},
	})
	c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := i.Run(c, runtime.Exec(`
import sys, io, unittest
sys.path.insert(0, '/testlib')
from test import support
support.verbose = 0
stream = io.StringIO()
def flat(s):
    for t in s:
        yield from (flat(t) if isinstance(t, unittest.TestSuite) else [t])
# test_sumprod_stress alone takes about 100 s inside wasm (3 s natively).
slow = {'test_sumprod_stress'}
suite = unittest.TestSuite(t for t in flat(unittest.defaultTestLoader.loadTestsFromName('test.`+module+`'))
                           if getattr(t, '_testMethodName', '') not in slow)
res = unittest.TextTestRunner(stream=stream, verbosity=1).run(suite)
counts = [res.testsRun, len(res.failures), len(res.errors), len(res.skipped)]
report = stream.getvalue()
`))

	require.NoError(t, err)
	out, err := i.Run(c, runtime.Eval("[counts, report[-4000:]]"))
	require.NoError(t, err)
	var v [2]json.RawMessage
	require.NoError(t, json.Unmarshal(out.Value, &v))
	var counts [4]int
	var report string
	require.NoError(t, json.Unmarshal(v[0], &counts))
	require.NoError(t, json.Unmarshal(v[1], &report))
	return counts, report
}

func TestCPythonRegressionSuites(t *testing.T) {
	if testing.Short() {
		t.Skip("CPython's regression suites take a minute; skipped with -short")
	}
	for _, m := range []string{"test_json", "test_re", "test_math", "test_struct"} {
		t.Run(m, func(t *testing.T) {
			counts, report := regrtest(t, func(o runtime.Options) *runtime.Instance { return newInstance(t, o) }, m)
			t.Logf("%s: ran %d, failures %d, errors %d, skipped %d", m, counts[0], counts[1], counts[2], counts[3])
			require.Greater(t, counts[0], 20, report)
			require.Zero(t, counts[1], report)
			require.Zero(t, counts[2], report)
		})
	}
}
