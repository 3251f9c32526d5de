package runtime

import "github.com/snakepit-wasm/snakepit/internal/artifact"

// EnvDir names the environment variable, SNAKEPIT_PYTHON_DIR, that selects
// a local build of the interpreter (a directory with python.wasm and
// lib/python3.13) instead of the embedded one.
const EnvDir = artifact.EnvDir

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

// SitePackagesPath is where the guest sees an interpreter variant's own
// Python packages (numpy's, for the numpy variant), read-only and on
// sys.path after the standard library.
const SitePackagesPath = "/usr/local/lib/python3.13/site-packages"
