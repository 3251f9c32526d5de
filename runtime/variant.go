package runtime

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/snakepit-wasm/snakepit/abi"
	"github.com/snakepit-wasm/snakepit/internal/mountfs"
	"github.com/snakepit-wasm/snakepit/wasm/embedded"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// SitePackagesPath is where the guest sees an interpreter variant's own
// Python packages (numpy's, for the numpy variant), read-only and on
// sys.path after the standard library.
const SitePackagesPath = "/usr/local/lib/python3.13/site-packages"

// Variant is an interpreter build other than the default one, carried in
// the Go binary by a package of its own (wasm/numpy's Variant), so that
// programs that do not import that package do not carry its size. It
// shares the default interpreter's standard library and time-zone
// database (package wasm/embedded): a variant is the same CPython with
// more modules built in.
//
// Files holds what the recipe's variant stage leaves in its embed/
// directory: python.wasm.gz (gzip -9n), site-packages.zip (the variant's
// Python packages as .pyc files) and MANIFEST.
type Variant struct {
	Name  string // e.g. "numpy"
	Files fs.FS
}

// variantFiles is what load needs of a Variant.
type variantFiles struct {
	wasmGz   []byte
	site     *zip.Reader
	info     embedded.Info
	manifest []byte
}

// open reads v's files; a variant package whose blobs were not copied in
// (`make embedded`) fails with ErrNotBuilt.
func (v *Variant) open() (variantFiles, error) {
	var f variantFiles
	if v.Files == nil {
		return f, fmt.Errorf("%w: variant %q has no Files", ErrNotBuilt, v.Name)
	}
	read := func(name string) ([]byte, error) {
		b, err := fs.ReadFile(v.Files, name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: the %s variant's %s is not in this module (`make embedded` copies it)", ErrNotBuilt, v.Name, name)
		}
		return b, err
	}
	var err error
	if f.manifest, err = read("MANIFEST"); err != nil {
		return f, err
	}
	if f.info, err = embedded.ParseManifest(string(f.manifest)); err != nil {
		return f, fmt.Errorf("snakepit: variant %s: %w", v.Name, err)
	}
	if f.wasmGz, err = read("python.wasm.gz"); err != nil {
		return f, err
	}
	z, err := read("site-packages.zip")
	if err != nil {
		return f, err
	}
	if f.site, err = zip.NewReader(bytes.NewReader(z), int64(len(z))); err != nil {
		return f, fmt.Errorf("snakepit: variant %s: site-packages.zip: %w", v.Name, err)
	}
	return f, nil
}

// loadVariant is load for an embedded variant: its python.wasm (read by
// embeddedWasm) and site-packages, the default interpreter's stdlib and
// zoneinfo.
func loadVariant(v *Variant) (lib, tz, site experimentalsys.FS, vf variantFiles, b Build, err error) {
	if vf, err = v.open(); err != nil {
		return nil, nil, nil, vf, b, err
	}
	_, lib, tz, _, def, err := load("")
	if err != nil {
		return nil, nil, nil, vf, b, err
	}
	if def.PythonVersion != vf.info.PythonVersion {
		return nil, nil, nil, vf, b, fmt.Errorf("snakepit: variant %s is CPython %s, the embedded stdlib %s", v.Name, vf.info.PythonVersion, def.PythonVersion)
	}
	b = Build{Embedded: true, Variant: manifestVariant(string(vf.manifest)), ABIVersion: abi.Version, PythonVersion: vf.info.PythonVersion, SHA256: vf.info.SHA256}
	return lib, tz, mountfs.Zip(vf.site), vf, b, nil
}

// manifestVariant reads the "variant NAME" line of a variant's MANIFEST.
func manifestVariant(manifest string) string {
	for line := range strings.Lines(manifest) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "variant" {
			return f[1]
		}
	}
	return ""
}
