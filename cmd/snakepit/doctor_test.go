package main

import (
	"encoding/json"
	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"os"
	"path/filepath"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestDoctorPassesWithTheEmbeddedInterpreter(t *testing.T) {
	t.Setenv(runtime.EnvDir, "")
	code, stdout, stderr := snakepit(t, "", "doctor")
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stdout, "interpreter  embedded in the Go module")
	require.Contains(t, stdout, "matches its MANIFEST")
	require.Contains(t, stdout, "printed 42")
	require.Contains(t, stdout, "ok: no problem found")

	code, stdout, _ = snakepit(t, "", "doctor", "--json")
	require.Equal(t, exitOK, code)
	var r doctorReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &r))
	require.True(t, r.Embedded)
	require.Equal(t, "matches", r.Manifest)
	require.Equal(t, abi.Version, r.ABIVersion)
	require.Regexp(t, `^3\.13\.\d+$`, r.PythonVersion)
	require.Len(t, r.SHA256, 64)
	require.Equal(t, artifact.DefaultCompilationCacheDir(r.SHA256), r.Cache)
	require.Positive(t, r.CacheBytes)
	require.Empty(t, r.Problems)
}

func TestDoctorFailsWhenTheInterpreterIsMissing(t *testing.T) {
	t.Setenv(runtime.EnvDir, t.TempDir())
	code, stdout, _ := snakepit(t, "", "doctor")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stdout, "PROBLEM: $SNAKEPIT_PYTHON_DIR is ")
	require.Contains(t, stdout, "which holds no interpreter")
	require.Contains(t, stdout, "fix: rebuild it with `make python-wasm`")
	require.Contains(t, stdout, "`unset SNAKEPIT_PYTHON_DIR`")
}

func TestDoctorFailsWhenTheInterpreterIsCorrupted(t *testing.T) {
	// A local build whose python.wasm is not what its MANIFEST says, and
	// not wasm at all.
	dir := t.TempDir()
	for _, d := range []string{"lib/python3.13", "embed"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lib/python3.13/os.py"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "python.wasm"), []byte("\x00asm but not really"), 0o644))
	manifest, err := os.ReadFile("../../wasm/embedded/MANIFEST")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "embed/MANIFEST"), manifest, 0o644))
	t.Setenv(runtime.EnvDir, dir)
	// The failed start must leave nothing in the user's cache.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())

	code, stdout, _ := snakepit(t, "", "doctor")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stdout, "interpreter  local build in "+dir)
	require.Contains(t, stdout, "DIFFERS from its MANIFEST")
	require.Contains(t, stdout, "PROBLEM: python.wasm's sha256 is ")
	require.Contains(t, stdout, "PROBLEM: python.wasm cannot be loaded: ")
	require.Contains(t, stdout, "fix: rebuild it with `make python-wasm`")

	code, stdout, _ = snakepit(t, "", "doctor", "--json")
	require.Equal(t, exitFailure, code)
	var r doctorReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &r))
	require.False(t, r.Embedded)
	require.Equal(t, "differs", r.Manifest)
	require.Len(t, r.Problems, 2)
}
