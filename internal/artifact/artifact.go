// Package artifact finds and reads the interpreter a Runtime runs: the
// python.wasm embedded in the module (package wasm/embedded), an embedded
// variant (wasm/numpy), or a local build in a directory, with the standard
// library, time-zone database and site-packages that go with it. It also
// keeps the compilation cache's directories tidy and the decompressed
// python.wasm beside them.
//
// It knows nothing of instances or of Python's calls. What it promises:
// Load returns a python.wasm as the recipe built it (not yet instrumented)
// and read-only file systems for the guest, or an error wrapping
// ErrNotBuilt that names the command to run. Package runtime re-exports
// what users see (Locate, DefaultDir, EnvDir, Build, Variant,
// DefaultCompilationCacheDir) under the same names.
package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/snakepit-wasm/snakepit/internal/errkind"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/mountfs"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// ErrNotBuilt means python.wasm or its stdlib is missing (runtime.ErrNotBuilt
// is this value).
var ErrNotBuilt = errkind.New(errkind.NotBuilt, "python.wasm not built")

// EnvDir names the environment variable that selects a local build.
const EnvDir = "SNAKEPIT_PYTHON_DIR"

// DefaultDir is where `make python-wasm` leaves the current local build:
// $SNAKEPIT_CACHE_DIR, else $XDG_CACHE_HOME/snakepit-wasm, else
// ~/.cache/snakepit-wasm, then python-wasm/current.
func DefaultDir() string { return filepath.Join(cacheBase(), "python-wasm", "current") }

// CacheBase is the project's cache directory, the base of its caches.
func CacheBase() string { return cacheBase() }

// cacheBase is the project's cache directory: $SNAKEPIT_CACHE_DIR, else
// snakepit-wasm in the user's cache directory.
func cacheBase() string {
	if c := os.Getenv("SNAKEPIT_CACHE_DIR"); c != "" {
		return c
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "snakepit-wasm")
}

// Locate returns the local build selected by dir, else by $SNAKEPIT_PYTHON_DIR,
// or "" for the embedded interpreter; ErrNotBuilt when the selected
// directory lacks python.wasm or the stdlib.
func Locate(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv(EnvDir)
	}
	if dir == "" {
		return "", nil
	}
	for _, p := range []string{"python.wasm", "lib/python3.13/os.py"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return "", fmt.Errorf("%w: %s is missing; run `make python-wasm` in the snakepit-wasm repository, or unset %s to use the embedded interpreter", ErrNotBuilt, filepath.Join(dir, p), EnvDir)
		}
	}
	return dir, nil
}

// Build describes an interpreter. runtime.Build is its exported twin, with
// the same fields: runtime converts one into the other, so a field added to
// one alone fails to compile.
type Build struct {
	Embedded      bool   // carried in the Go module, not a local build in Dir
	Dir           string // the local build's; "" when Embedded
	PythonVersion string // CPython's ("3.13.5"); "" for a local build without embed/MANIFEST
	ABIVersion    int    // the host's (abi.Version)
	SHA256        string // python.wasm's, in hex
	Variant       string // the variant's name ("numpy"); "" for the default
}

// Interpreter is a loaded interpreter: what a Runtime compiles and mounts.
type Interpreter struct {
	Wasm   []byte             // python.wasm, uncompressed, not instrumented
	Stdlib experimentalsys.FS // lib/python3.13
	// Zoneinfo is the time-zone database, nil for a local build without
	// zoneinfo/; Site a variant's site-packages (a local build's
	// site-packages/), else nil.
	Zoneinfo, Site experimentalsys.FS
	Build          Build
	// CacheDir is the compilation cache's directory: the caller's, or this
	// build's default one.
	CacheDir string

	// When Wasm is nil (embedded), its decompressed size and decompression.
	wasmSize int64
	unpack   func() ([]byte, error)
}

// Load reads the interpreter a runtime.Config selects: the variant v when
// not nil (dir is then ignored), else the local build Locate(dir) finds,
// else the embedded one. cacheDir "" means this build's directory under
// the default compilation cache, created and pruned (see compiledCacheDir).
func Load(dir string, v fs.FS, cacheDir string) (*Interpreter, error) {
	var it *Interpreter
	var err error
	if v != nil {
		it, err = loadVariant(v)
	} else if dir, err = Locate(dir); err == nil {
		it, err = load(dir)
	}
	if err != nil {
		return nil, err
	}
	if it.CacheDir = cacheDir; cacheDir == "" {
		it.CacheDir = compiledCacheDir(compiledCacheBase(), it.Build.SHA256)
	}
	if it.Wasm == nil {
		if it.Wasm, err = embeddedWasm(it.CacheDir, it.Build.SHA256, it.wasmSize, it.unpack); err != nil {
			return nil, err
		}
	}
	return it, nil
}

// load reads the local build in dir, or the embedded interpreter but for
// its python.wasm (Load unpacks it into the cache directory). The embedded
// one's hash comes from its MANIFEST: hashing 7 MB at every start would
// cost more than decompressing it.
func load(dir string) (*Interpreter, error) {
	it := &Interpreter{Build: Build{Dir: dir, ABIVersion: abi.Version}}
	if dir != "" {
		wasm, err := os.ReadFile(filepath.Join(dir, "python.wasm"))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(wasm)
		it.Wasm, it.Build.SHA256 = wasm, hex.EncodeToString(sum[:])
		if m, err := os.ReadFile(filepath.Join(dir, "embed", "MANIFEST")); err == nil {
			if info, err := ParseManifest(string(m)); err == nil {
				it.Build.PythonVersion = info.PythonVersion
			}
			it.Build.Variant = manifestVariant(string(m))
		}
		it.Stdlib = sysfs.DirFS(filepath.Join(dir, "lib", "python3.13"))
		it.Zoneinfo = dirFS(filepath.Join(dir, "zoneinfo"))
		it.Site = dirFS(filepath.Join(dir, "site-packages"))
		return it, nil
	}
	info, err := embeddedManifest()
	if err != nil {
		return nil, err
	}
	zlib, err := embeddedStdlib()
	if err != nil {
		return nil, err
	}
	ztz, err := embeddedZoneinfo()
	if err != nil {
		return nil, err
	}
	it.Build.Embedded, it.Build.PythonVersion, it.Build.SHA256 = true, info.PythonVersion, info.SHA256
	it.Stdlib, it.Zoneinfo = mountfs.Zip(zlib), mountfs.Zip(ztz)
	it.wasmSize, it.unpack = embeddedWasmSize(), EmbeddedWasm
	return it, nil
}

// dirFS serves the directory p, or returns nil when there is none.
func dirFS(p string) experimentalsys.FS {
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		return nil
	}
	return sysfs.DirFS(p)
}

// embeddedWasm returns the embedded python.wasm. Decompressing it costs about
// 60 ms, a quarter of a start with a warm compilation cache, so the first
// start leaves a decompressed copy beside the compiled code (a directory
// named by this sha256) and later ones read that. The copy is trusted as
// the compiled code beside it is; one of the wrong size is replaced.
//
// size and unpack are the decompressed size and the decompression, of the
// default interpreter (package embedded) or of a Variant.
func embeddedWasm(cacheDir, sum string, size int64, unpack func() ([]byte, error)) ([]byte, error) {
	p := filepath.Join(cacheDir, "python-"+sum[:16]+".wasm")
	if b, err := os.ReadFile(p); err == nil && int64(len(b)) == size {
		return b, nil
	}
	wasm, err := unpack()
	if err != nil {
		return nil, err
	}
	// Best effort: without the copy, the next start decompresses again.
	if f, err := os.CreateTemp(cacheDir, "python-*.wasm.tmp"); err == nil {
		_, werr := f.Write(wasm)
		if cerr := f.Close(); werr == nil && cerr == nil {
			_ = os.Rename(f.Name(), p)
		}
		_ = os.Remove(f.Name())
	}
	return wasm, nil
}
