package native

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DebianDir is where bench/debian/fetch.sh unpacks Debian trixie's
// python3.13 and the real-code workloads' libraries: [CacheDir]/bench-debian.
func DebianDir() string { return filepath.Join(CacheDir(), "bench-debian") }

// Debian returns how to start Debian's own python3.13 (built by Debian with
// PGO and LTO: what users of the distribution run), as the fetch script
// wrote it into dir's argv file, and the directory of the pure-Python
// libraries unpacked beside it.
func Debian(dir string) (Python, string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "argv"))
	if err != nil {
		return nil, "", fmt.Errorf("Debian's python3.13 is not installed: run make bench-debian (%w)", err)
	}
	py := Python(strings.Fields(string(b)))
	if len(py) == 0 {
		return nil, "", fmt.Errorf("%s: empty; run make bench-debian", filepath.Join(dir, "argv"))
	}
	return py, filepath.Join(dir, "site"), nil
}
