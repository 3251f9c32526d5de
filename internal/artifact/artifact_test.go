package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLocateTakesDirThenTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvDir, dir)
	_, err := Locate("")
	require.ErrorIs(t, err, ErrNotBuilt)
	require.Contains(t, err.Error(), "run `make python-wasm`")

	write(t, dir, "python.wasm", "lib/python3.13/os.py")
	got, err := Locate("")
	require.NoError(t, err)
	require.Equal(t, dir, got)
	_, err = Locate(t.TempDir()) // dir wins over the environment
	require.ErrorIs(t, err, ErrNotBuilt)

	t.Setenv(EnvDir, "")
	got, err = Locate("")
	require.NoError(t, err)
	require.Empty(t, got, "the embedded interpreter")
}

func TestLocalBuildIsDescribedByItsManifest(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "python.wasm", "lib/python3.13/os.py", "site-packages/numpy/__init__.py")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "embed"), 0o755))
	manifest := "cpython 3.13.5\nabi 3\n" + sha + "  python.wasm\nvariant numpy\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "embed", "MANIFEST"), []byte(manifest), 0o644))

	it, err := Load(dir, nil, t.TempDir())
	require.NoError(t, err)
	sum := sha256.Sum256([]byte("python.wasm"))
	require.Equal(t, Build{Dir: dir, PythonVersion: "3.13.5", ABIVersion: abi.Version, SHA256: hex.EncodeToString(sum[:]), Variant: "numpy"}, it.Build)
	require.Equal(t, []byte("python.wasm"), it.Wasm)
	require.NotNil(t, it.Site)
	require.Nil(t, it.Zoneinfo, "no zoneinfo/ in this build")
}

func TestEmbeddedBuildHasTheHashItsManifestSays(t *testing.T) {
	t.Setenv(EnvDir, "")
	cache := t.TempDir()
	it, err := Load("", nil, cache)
	require.NoError(t, err)
	require.True(t, it.Build.Embedded)
	require.Equal(t, cache, it.CacheDir, "a given cache directory is used as is")
	sum := sha256.Sum256(it.Wasm)
	require.Equal(t, it.Build.SHA256, hex.EncodeToString(sum[:]))
	require.NotNil(t, it.Stdlib)
	require.NotNil(t, it.Zoneinfo)
	require.Nil(t, it.Site)
}

// write creates the files names under dir, each holding its own name.
func write(t *testing.T, dir string, names ...string) {
	for _, n := range names {
		p := filepath.Join(dir, n)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(n), 0o644))
	}
}
