package artifact

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/mountfs"
)

// variantFiles is what loadVariant needs of a Variant.
type variantFiles struct {
	wasmGz   []byte
	site     *zip.Reader
	info     Info
	manifest []byte
	name     string // from MANIFEST
}

// openVariant reads a variant's files: what the recipe's variant stage
// leaves in its embed/ directory, python.wasm.gz (gzip -9n),
// site-packages.zip (the variant's Python packages as .pyc files) and
// MANIFEST, which names the variant. A variant package whose blobs were not
// copied in (`make embedded`) fails with ErrNotBuilt.
func openVariant(v fs.FS) (variantFiles, error) {
	var f variantFiles
	read := func(name string) ([]byte, error) {
		b, err := fs.ReadFile(v, name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: the variant's %s is not in this module (`make embedded` copies it)", ErrNotBuilt, name)
		}
		return b, err
	}
	var err error
	if f.manifest, err = read("MANIFEST"); err != nil {
		return f, err
	}
	if f.info, err = ParseManifest(string(f.manifest)); err != nil {
		return f, fmt.Errorf("variant: %w", err)
	}
	f.name = manifestVariant(string(f.manifest))
	if f.wasmGz, err = read("python.wasm.gz"); err != nil {
		return f, err
	}
	z, err := read("site-packages.zip")
	if err != nil {
		return f, err
	}
	if f.site, err = zip.NewReader(bytes.NewReader(z), int64(len(z))); err != nil {
		return f, fmt.Errorf("variant %s: site-packages.zip: %w", f.name, err)
	}
	return f, nil
}

// loadVariant is load for an embedded variant: its python.wasm (which Load
// unpacks) and site-packages, the default interpreter's stdlib and
// zoneinfo.
func loadVariant(v fs.FS) (*Interpreter, error) {
	vf, err := openVariant(v)
	if err != nil {
		return nil, err
	}
	it, err := load("")
	if err != nil {
		return nil, err
	}
	if it.Build.PythonVersion != vf.info.PythonVersion {
		return nil, fmt.Errorf("variant %s is CPython %s, the embedded stdlib %s", vf.name, vf.info.PythonVersion, it.Build.PythonVersion)
	}
	it.Build = Build{Embedded: true, Variant: vf.name, ABIVersion: abi.Version, PythonVersion: vf.info.PythonVersion, SHA256: vf.info.SHA256}
	it.Site = mountfs.Zip(vf.site)
	it.wasmSize, it.unpack = gzipSize(vf.wasmGz), func() ([]byte, error) { return gunzip(vf.wasmGz) }
	return it, nil
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
