package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/snakepit-wasm/snakepit/abi"
	"github.com/snakepit-wasm/snakepit/internal/mountfs"
	"github.com/snakepit-wasm/snakepit/wasm/embedded"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// EnvDir names the environment variable that selects a local build of the
// interpreter (a directory with python.wasm and lib/python3.13) instead of
// the embedded one.
const EnvDir = "SNAKEPIT_PYTHON_DIR"

// DefaultDir is where `make python-wasm` leaves the current local build:
// $SNAKEPIT_CACHE_DIR, else $XDG_CACHE_HOME/snakepit-wasm, else
// ~/.cache/snakepit-wasm, then python-wasm/current. It holds what the
// embedded interpreter does not carry: CPython's test suite (testlib/) and
// the native CPython of the same source (native/).
func DefaultDir() string {
	c := os.Getenv("SNAKEPIT_CACHE_DIR")
	if c == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		c = filepath.Join(base, "snakepit-wasm")
	}
	return filepath.Join(c, "python-wasm", "current")
}

// Locate returns the local build selected by dir, else by $SNAKEPIT_PYTHON_DIR,
// or "" when neither is set: the embedded interpreter is then used. It fails
// with ErrNotBuilt when python.wasm or the stdlib is missing in the selected
// directory.
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

// Build describes the interpreter a Runtime runs.
type Build struct {
	// Embedded is true for the interpreter carried in the Go module
	// (package wasm/embedded), false for a local build in Dir.
	Embedded bool
	Dir      string
	// PythonVersion is CPython's ("3.13.5"); "" for a local build without
	// the recipe's embed/MANIFEST.
	PythonVersion string
	// ABIVersion is the host's; NewInstance refuses a python.wasm that
	// speaks another.
	ABIVersion int
	// SHA256 is python.wasm's, in hex.
	SHA256 string
	// Variant names an interpreter variant ("numpy"): Config.Variant's, or
	// a local build's whose embed/MANIFEST says so; "" for the default.
	Variant string
}

// Build returns which interpreter the Runtime runs.
func (r *Runtime) Build() Build { return r.build }

// load reads the interpreter: the local build in dir, or the embedded one.
// The embedded one's hash comes from its MANIFEST: hashing 7 MB at every
// start would cost more than decompressing it.
//
// tz is the time-zone database, nil for a local build without zoneinfo/;
// site is a variant's site-packages (a local build's site-packages/), else
// nil.
func load(dir string) (wasm []byte, lib, tz, site experimentalsys.FS, b Build, err error) {
	b = Build{Dir: dir, ABIVersion: abi.Version}
	if dir != "" {
		wasm, err := os.ReadFile(filepath.Join(dir, "python.wasm"))
		if err != nil {
			return nil, nil, nil, nil, b, fmt.Errorf("snakepit: %w", err)
		}
		sum := sha256.Sum256(wasm)
		b.SHA256 = hex.EncodeToString(sum[:])
		if m, err := os.ReadFile(filepath.Join(dir, "embed", "MANIFEST")); err == nil {
			if info, err := embedded.ParseManifest(string(m)); err == nil {
				b.PythonVersion = info.PythonVersion
			}
			b.Variant = manifestVariant(string(m))
		}
		if fi, err := os.Stat(filepath.Join(dir, "zoneinfo")); err == nil && fi.IsDir() {
			tz = sysfs.DirFS(filepath.Join(dir, "zoneinfo"))
		}
		if fi, err := os.Stat(filepath.Join(dir, "site-packages")); err == nil && fi.IsDir() {
			site = sysfs.DirFS(filepath.Join(dir, "site-packages"))
		}
		return wasm, sysfs.DirFS(filepath.Join(dir, "lib", "python3.13")), tz, site, b, nil
	}
	info, err := embedded.Manifest()
	if err != nil {
		return nil, nil, nil, nil, b, err
	}
	zlib, err := embedded.Stdlib()
	if err != nil {
		return nil, nil, nil, nil, b, err
	}
	ztz, err := embedded.Zoneinfo()
	if err != nil {
		return nil, nil, nil, nil, b, err
	}
	b.Embedded, b.PythonVersion, b.SHA256 = true, info.PythonVersion, info.SHA256
	return nil, mountfs.Zip(zlib), mountfs.Zip(ztz), nil, b, nil // embeddedWasm reads the wasm
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
