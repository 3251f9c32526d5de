package artifact

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// keepCompiled is how many python.wasm builds keep their compiled code in the
// default cache: each takes 30-60 MB per stop mechanism and module variant,
// and a rebuilt python.wasm never uses the old code again.
const keepCompiled = 4

// DefaultCompilationCacheDir is the directory Load picks, given no cache
// directory, for the python.wasm with the given sha256. It does not create
// it.
func DefaultCompilationCacheDir(sha256 string) string {
	return filepath.Join(compiledCacheBase(), sha256[:min(len(sha256), 16)])
}

// compiledCacheBase honours $SNAKEPIT_CACHE_DIR, as DefaultDir does.
func compiledCacheBase() string { return filepath.Join(cacheBase(), "wazero") }

// compiledCacheDir returns the default cache directory for this python.wasm,
// base/<16 hex digits of its sha256>, marks it as just used, and removes the builds
// beyond the keepCompiled most recently used that no process has used for an
// hour (wazero fails a compilation whose cache directory disappears under
// it). Pruning is best effort: a process still running an older build has
// its code in memory already, and one starting later compiles again.
func compiledCacheDir(base, sum string) string {
	name := sum[:16]
	dir := filepath.Join(base, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return dir // wazero reports the error
	}
	now := time.Now()
	_ = os.Chtimes(dir, now, now)
	pruneCompiled(base, name, keepCompiled, now.Add(-time.Hour))
	return dir
}

// pruneCompiled removes the entries of base other than the keep most
// recently modified build directories (named by 16 hex digits), current
// always among them, and the build directories modified after idle.
func pruneCompiled(base, current string, keep int, idle time.Time) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	type build struct {
		name string
		used time.Time
	}
	var builds []build
	for _, e := range entries {
		info, err := e.Info()
		if !isBuildName(e.Name()) || !e.IsDir() || err != nil {
			// Not ours to keep: an older layout of this cache.
			_ = os.RemoveAll(filepath.Join(base, e.Name()))
			continue
		}
		if e.Name() != current {
			builds = append(builds, build{e.Name(), info.ModTime()})
		}
	}
	slices.SortFunc(builds, func(a, b build) int { return b.used.Compare(a.used) })
	for i, b := range builds {
		if i >= keep-1 && b.used.Before(idle) {
			_ = os.RemoveAll(filepath.Join(base, b.name))
		}
	}
}

func isBuildName(s string) bool {
	if len(s) != 16 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
