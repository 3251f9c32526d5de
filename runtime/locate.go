package runtime

import (
	"fmt"
	"os"
	"path/filepath"
)

// EnvDir names the environment variable that overrides where the built
// artifacts are (a directory with python.wasm and lib/python3.13).
const EnvDir = "SNAKEPIT_PYTHON_DIR"

// DefaultDir is where `make` leaves the current build:
// $SNAKEPIT_CACHE_DIR, else $XDG_CACHE_HOME/snakepit-wasm, else
// ~/.cache/snakepit-wasm, then python-wasm/current.
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

// Locate returns the artifacts directory: dir if set, else $SNAKEPIT_PYTHON_DIR,
// else DefaultDir. It fails with ErrNotBuilt when python.wasm or the stdlib
// is missing there.
func Locate(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv(EnvDir)
	}
	if dir == "" {
		dir = DefaultDir()
	}
	for _, p := range []string{"python.wasm", "lib/python3.13/os.py"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return "", fmt.Errorf("%w: %s is missing; run `make` in the snakepit-wasm repository (or set %s)", ErrNotBuilt, filepath.Join(dir, p), EnvDir)
		}
	}
	return dir, nil
}
