package stdlibtest

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/stretchr/testify/require"
)

var (
	runner     *Runner
	runnerErr  error
	runnerOnce sync.Once
)

// TestMain checks for leaked goroutines (testrt.Main, with goleak) once
// the package's Runner is closed.
func TestMain(m *testing.M) { testrt.Main(m, closeRunner) }

func closeRunner() {
	if runner != nil {
		runner.Close(context.Background())
	}
}

// testRunner returns the package's Runner, skipping the test when there is
// no local build with CPython's test suite.
func testRunner(t *testing.T) *Runner {
	if _, _, err := Dirs(); err != nil {
		t.Skipf("CPython's test suite comes from the local build (run `make python-wasm`): %v", err)
	}
	runnerOnce.Do(func() {
		runner, runnerErr = NewRunner(context.Background(), Config{Timeout: 5 * time.Minute})
	})
	require.NoError(t, runnerErr)
	return runner
}

// quick is the reduced set `make test` runs: modules that pass clean in
// both modes and take a few seconds each (wasm/STDLIB-TESTS.md has their
// times). The tests named beside a module are left out for time.
var quick = map[string][]string{
	"test_abc": nil, "test_base64": nil, "test_binascii": nil, "test_bisect": nil,
	"test_calendar": nil, "test_cmath": nil, "test_codeccallbacks": nil, "test_complex": nil,
	"test_copy": nil, "test_csv": nil, "test_dbm_dumb": nil, "test_enumerate": nil,
	"test_exception_group": nil, "test_exceptions": nil, "test_filecmp": nil, "test_fileinput": nil,
	"test_fileio": nil, "test_float": nil, "test_fractions": nil, "test_genericpath": nil,
	"test_gzip": nil, "test_json": nil, "test_memoryio": nil, "test_netrc": nil,
	"test_operator": nil, "test_re": nil, "test_struct": nil,
	// test_sumprod_stress alone takes about 100 s inside wasm (3 s natively).
	"test_math": {"test_sumprod_stress"},
}

func TestQuickModulesPassCleanInFreshAndClonedInterpreters(t *testing.T) {
	if testing.Short() {
		t.Skip("the quick set of CPython's tests takes a minute or two; skipped with -short")
	}
	r := testRunner(t)
	for m, skip := range quick {
		t.Run(m, func(t *testing.T) {
			var res [2]*Result
			for k, mode := range []Mode{Fresh, Clone} {
				var err error
				res[k], err = r.Run(context.Background(), m, mode, skip...)
				require.NoError(t, err)
				t.Logf("%s %s: %s, run %d, failures %d, errors %d, skipped %d, %.1f s", m, mode, res[k].Status, res[k].Run, res[k].Failures, res[k].Errors, res[k].Skipped, res[k].Seconds)
				require.True(t, res[k].Clean(), "%s %s: %s %s %v", m, mode, res[k].Status, res[k].Reason, res[k].Failed)
			}
			mod := Module{Module: m, Fresh: res[0], Clone: res[1]}
			require.True(t, mod.Agree(), "fresh %s, clone %s", counts(res[0]), counts(res[1]))
		})
	}
}

// A module's deadline stops it where it is and says which test it was in;
// the runner serves on.
func TestADeadlineIsRecordedWithTheTestItStoppedIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts interpreters; skipped with -short")
	}
	r := testRunner(t)
	short := *r
	// test_math takes 10-25 s in the sandbox on the 2-core VM, and finished
	// within 10 s on a quiet moment: a deadline of 1 s stops it on any
	// machine this runs on.
	short.cfg.Timeout = time.Second
	res, err := short.Run(context.Background(), "test_math", Clone)
	require.NoError(t, err)
	require.Equal(t, Timeout, res.Status)
	if res.Started > 0 { // a loaded machine may spend the second importing
		require.True(t, strings.HasPrefix(res.LastTest, "test.test_math."), res.LastTest)
	}

	res, err = r.Run(context.Background(), "test_no_such_module", Fresh)
	require.NoError(t, err)
	require.Equal(t, LoadError, res.Status)
	require.Contains(t, res.Reason, "ModuleNotFoundError")
}

func TestModulesListsFilesAndPackages(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"test/test_a.py", "test/test_pkg/__init__.py", "test/test_data/x.txt", "test/support.py", "test/test_b.txt"} {
		require.NoError(t, os.MkdirAll(dir+"/"+p[:strings.LastIndexByte(p, '/')], 0o755))
		require.NoError(t, os.WriteFile(dir+"/"+p, nil, 0o644))
	}
	mods, err := Modules(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"test_a", "test_pkg"}, mods)
}

func TestAgreementComparesOutcomesAndFailingTests(t *testing.T) {
	a := &Result{Status: Failed, Run: 3, Failures: 1, Failed: []Problem{{Test: "t1", Message: "x"}}}
	b := *a
	require.True(t, (&Module{Fresh: a, Clone: &b}).Agree())
	b.Failed = []Problem{{Test: "t2", Message: "x"}}
	require.False(t, (&Module{Fresh: a, Clone: &b}).Agree())
	require.False(t, (&Module{Fresh: a}).Agree())
}

func TestClassifyReadsReasonsAndMessages(t *testing.T) {
	for _, c := range []struct {
		r    Result
		want Cause
	}{
		{Result{Status: Skipped, Reason: "No module named '_testinternalcapi'"}, CauseTestModules},
		{Result{Status: Skipped, Reason: "No module named '_ctypes'"}, CauseNotBuilt},
		{Result{Status: Skipped, Reason: "requires socket support"}, CauseWASI},
		{Result{Status: Skipped, Reason: "Android-specific"}, CausePlatform},
		{Result{Status: Timeout, LastTest: "test.test_x.T.test_y"}, CauseSlow},
		{Result{Status: Passed, Run: 2, Skipped: 2, SkipReasons: map[string]int{"requires threading support": 2}}, CauseWASI},
		{Result{Status: Failed, Failed: []Problem{{Message: "OSError: [Errno 58] Not supported"}}}, CauseWASI},
		{Result{Status: Failed, Failed: []Problem{{Message: "AssertionError: 1 != 2"}}}, CauseUnknown},
	} {
		got, _ := Classify(&c.r)
		require.Equal(t, c.want, got, "%+v", c.r)
	}
}
