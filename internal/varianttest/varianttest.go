// Package varianttest checks an interpreter variant's embedded files (a
// wasm/<variant>/blob folder) from the outside, for the variants' tests.
package varianttest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"github.com/snakepit-wasm/snakepit/wasm/embedded"
	"github.com/stretchr/testify/require"
)

// Manifest reads a MANIFEST's lines as the recipe writes them: "key
// value" lines and "sha256  file" lines, the latter keyed by file.
func Manifest(text string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(text) {
		if f := strings.Fields(line); len(f) == 2 {
			if len(f[0]) == 64 {
				m[f[1]] = f[0]
			} else {
				m[f[0]] = f[1]
			}
		}
	}
	return m
}

// CheckEmbedded checks the files `make embedded` copied into a variant's
// blob folder without rebuilding them (`make check-embedded` does that
// where the variant's source is at hand): each is what the variant's
// MANIFEST records, and the variant was built for the default interpreter
// this module embeds: the same CPython, guest ABI and stdlib (a variant
// runs with package embedded's stdlib.zip, and its frozen modules and
// .pyc magic come from the same stage 1), its two files within budget
// bytes. It skips the test when files hold no MANIFEST.
func CheckEmbedded(t *testing.T, files fs.FS, variant string, budget int) {
	t.Helper()
	text, err := fs.ReadFile(files, "MANIFEST")
	if err != nil {
		t.Skipf("this module does not carry the %s variant (%v)", variant, err)
	}
	m := Manifest(string(text))
	require.Equal(t, variant, m["variant"])

	wasmGz, err := fs.ReadFile(files, "python.wasm.gz")
	require.NoError(t, err)
	site, err := fs.ReadFile(files, "site-packages.zip")
	require.NoError(t, err)
	require.Equal(t, m["python.wasm.gz"], sha(wasmGz), "python.wasm.gz is not the MANIFEST's: copy all three files with `make embedded`")
	require.Equal(t, m["site-packages.zip"], sha(site), "site-packages.zip is not the MANIFEST's: copy all three files with `make embedded`")
	zr, err := gzip.NewReader(bytes.NewReader(wasmGz))
	require.NoError(t, err)
	wasm, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, m["python.wasm"], sha(wasm))

	def, err := artifact.EmbeddedManifest()
	require.NoError(t, err)
	rebuild := "the " + variant + " variant and the default interpreter come from different builds: `make embedded` after one `make python-wasm` copies both"
	require.Equal(t, def.PythonVersion, m["cpython"], rebuild)
	require.Equal(t, def.ABIVersion, atoi(t, m["abi"]), rebuild)
	require.Equal(t, abi.Version, atoi(t, m["abi"]), "the variant speaks another guest ABI than this host: rebuild it from internal/abi/guest/snakepit.c")
	stdlib, err := fs.ReadFile(embedded.Files(), "stdlib.zip")
	require.NoError(t, err)
	require.Equal(t, sha(stdlib), m["stdlib"], rebuild)

	n := len(wasmGz) + len(site)
	t.Logf("python.wasm.gz %d + site-packages.zip %d = %d bytes (python.wasm %d)", len(wasmGz), len(site), n, len(wasm))
	require.LessOrEqual(t, n, budget, "the variant's files outgrew their budget")
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err, "MANIFEST's abi line")
	return n
}

// PytestPrelude is Python for a suite runner that runs a package's own
// tests under pytest in the guest, after the package is imported. The
// sandbox has no ctypes or mmap, and some test files import them at the
// top (the package itself, imported before, saw them missing): stand-ins
// let the rest of such a file run, and a test that uses one fails with
// its ImportError. why(report) is a failed report's exception line ("E
// ..."), else its last line. It holds no % (runners are Sprintf formats).
const PytestPrelude = `
import sys, types
class Missing(types.ModuleType):
    def __getattr__(self, name):
        raise ImportError(f"{self.__name__} is not in the sandbox ({self.__name__}.{name})")
for m in ("ctypes", "mmap"):
    sys.modules.setdefault(m, Missing(m))

def why(report):
    lines = report.longreprtext.strip().splitlines() or [""]
    return ([l for l in lines if l.startswith("E ")] or lines)[-1][:300]
`
