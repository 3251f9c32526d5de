package pytestpkg_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { testrt.Main(m) }

// distPackages is where fetch.sh unpacks pytest. Without it the test is
// skipped, except under CI, where it must run.
func distPackages(t *testing.T) string {
	cache := os.Getenv("SNAKEPIT_CACHE_DIR")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			require.NoError(t, err)
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "snakepit-wasm")
	}
	dir := filepath.Join(cache, "pytest", "dist-packages")
	if _, err := os.Stat(filepath.Join(dir, "pytest", "__init__.py")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("pytest is not unpacked in %s (CI is set, so this fails): run `make pytest-pkg`", dir)
		}
		t.Skipf("pytest is not unpacked in %s: run `make pytest-pkg` (internal/pytestpkg/fetch.sh)", dir)
	}
	return dir
}

func options(t *testing.T) runtime.Options {
	return runtime.Options{
		Packages: []runtime.Package{{HostDir: distPackages(t)}},
		Mounts:   []runtime.Mount{{GuestPath: "/suite", FS: os.DirFS("testdata/suite")}},
	}
}

// The suite runs from scratch, where pytest can write its cache, as it
// would in a checkout. pytest.main gets the path and nothing else.
const runSuite = `
import shutil, pytest
shutil.copytree("/suite", "/tmp/suite")
int(pytest.main(["/tmp/suite"]))
`

var (
	ansi    = regexp.MustCompile("\x1b\\[[0-9;]*m")
	summary = regexp.MustCompile(`=+ (\d+) failed, (\d+) passed(?:, \d+ warnings?)? in [0-9.]+s =+`)
)

// requireCounts checks pytest's exit status (1: tests failed) and its
// summary: 11 tests pass (the parametrised one four times), the one meant
// to fail fails.
func requireCounts(t *testing.T, r *runtime.Result) {
	t.Helper()
	out := ansi.ReplaceAllString(string(r.Stdout), "")
	require.JSONEq(t, "1", string(r.Value), "pytest's exit status; output:\n%s\n%s", out, r.Stderr)
	m := summary.FindStringSubmatch(out)
	require.NotNil(t, m, "no summary line in pytest's output:\n%s", out)
	require.Equal(t, []string{"1", "11"}, m[1:], "failed, passed; output:\n%s", out)
	require.Contains(t, out, "FAILED suite/test_sandbox.py::test_fails_on_purpose")
	require.NotContains(t, out, "skipped")
}

func TestPytestRunsASuiteInAFreshInstance(t *testing.T) {
	ctx := context.Background()
	i, err := testrt.Runtime(t).NewInstance(ctx, options(t))
	require.NoError(t, err)
	defer i.Close(ctx)
	r, err := i.Run(ctx, runtime.Exec(runSuite))
	require.NoError(t, err)
	requireCounts(t, r)
}

func TestPytestRunsASuiteInASnapshotClone(t *testing.T) {
	ctx := context.Background()
	s, err := testrt.Runtime(t).NewSnapshot(ctx, runtime.SnapshotOptions{Options: options(t), Preload: []string{"pytest"}})
	require.NoError(t, err)
	defer s.Close()
	for range 2 { // each clone starts from the snapshot: the same counts
		c, err := s.NewInstance(ctx, runtime.CloneOptions{})
		require.NoError(t, err)
		r, err := c.Run(ctx, runtime.Exec(runSuite))
		require.NoError(t, err)
		requireCounts(t, r)
		require.NoError(t, c.Close(ctx))
	}
}
