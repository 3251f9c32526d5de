package artifact

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPruneCompiledKeepsRecentBuilds(t *testing.T) {
	base := t.TempDir()
	now := time.Now()
	mk := func(name string, age time.Duration) {
		p := filepath.Join(base, name)
		require.NoError(t, os.MkdirAll(filepath.Join(p, "wazero-v1.12.0-amd64-linux"), 0o755))
		require.NoError(t, os.Chtimes(p, now.Add(-age), now.Add(-age)))
	}
	mk("00000000000000a1", 5*time.Hour)
	mk("00000000000000a2", 4*time.Hour)
	mk("00000000000000a3", 3*time.Hour)
	mk("00000000000000a5", 10*time.Minute)
	mk("00000000000000a6", 20*time.Minute)
	mk("00000000000000a7", 30*time.Minute)
	mk("00000000000000a8", 40*time.Minute) // beyond the kept, but used within the hour
	mk("wazero-v1.12.0-amd64-linux", 0)    // the layout before builds had directories
	require.NoError(t, os.WriteFile(filepath.Join(base, "stray"), nil, 0o644))

	sum := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	dir := compiledCacheDir(base, sum)
	require.Equal(t, base, filepath.Dir(dir))
	// keepCompiled (4): the current build and the three most recent others;
	// the builds beyond them go unless used within the hour, and so does
	// anything that is not a build directory.
	require.Equal(t, []string{"00000000000000a5", "00000000000000a6", "00000000000000a7", "00000000000000a8", filepath.Base(dir)}, names(t, base))
	require.Equal(t, dir, compiledCacheDir(base, sum), "the same build gets the same directory")

	pruneCompiled(filepath.Join(base, "missing"), "", 1, now) // a missing base is no error
}

func names(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	slices.Sort(n)
	return n
}

func TestDefaultCompilationCacheDirIsWhereNewCompiles(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir()) // os.UserCacheDir on darwin
	sum := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	require.Equal(t, compiledCacheDir(compiledCacheBase(), sum), DefaultCompilationCacheDir(sum))
}

func TestEmbeddedWasmIsDecompressedOnceAndAWrongCopyReplaced(t *testing.T) {
	info, err := EmbeddedManifest()
	require.NoError(t, err)
	dir := t.TempDir()
	want, err := embeddedWasm(dir, info.SHA256, embeddedWasmSize(), EmbeddedWasm) // decompresses, leaves the copy
	require.NoError(t, err)
	copyPath := filepath.Join(dir, "python-"+info.SHA256[:16]+".wasm")
	got, err := os.ReadFile(copyPath)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.NoError(t, os.WriteFile(copyPath, got[:100], 0o644)) // a torn write
	again, err := embeddedWasm(dir, info.SHA256, embeddedWasmSize(), EmbeddedWasm)
	require.NoError(t, err)
	require.Equal(t, want, again)
	got, err = os.ReadFile(copyPath)
	require.NoError(t, err)
	require.Equal(t, want, got, "the torn copy is replaced")
}

// The compilation cache ignored $SNAKEPIT_CACHE_DIR, which DefaultDir
// honours.
func TestCompilationCacheHonoursSnakepitCacheDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SNAKEPIT_CACHE_DIR", dir)
	require.Equal(t, filepath.Join(dir, "wazero", "0123456789abcdef"), DefaultCompilationCacheDir("0123456789abcdef0123"))
	require.Equal(t, filepath.Join(dir, "python-wasm", "current"), DefaultDir())
}
