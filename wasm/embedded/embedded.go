// Package embedded carries the default interpreter inside the Go module, so
// that `go get` is the whole installation: python.wasm (gzipped) and its
// standard library (a zip of .pyc files, served to the guest read-only
// straight from the binary, never extracted), and the IANA time-zone
// database for zoneinfo (a zip of Debian's compiled tzdata, 0.35 MB).
//
// The files are the output of the recipe in wasm/python.wasm.build, copied
// here by `make embedded`; `make check-embedded` (run by `make test`)
// rebuilds them and fails if they differ from what the recipe produces.
// MANIFEST records their sha256.
package embedded

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

var (
	//go:embed python.wasm.gz
	wasmGz string
	//go:embed stdlib.zip
	stdlibZip string
	//go:embed zoneinfo.zip
	zoneinfoZip string
	//go:embed MANIFEST
	manifest string
)

// Info describes the embedded build, as its MANIFEST records it.
type Info struct {
	PythonVersion string // e.g. "3.13.5"
	ABIVersion    int    // the guest's abi.Version
	SHA256        string // of python.wasm, uncompressed (hex)
}

// Manifest returns what MANIFEST records of the embedded build.
func Manifest() (Info, error) { return ParseManifest(manifest) }

// ParseManifest reads a MANIFEST as the recipe writes it (embed/MANIFEST in
// a local build's directory).
func ParseManifest(text string) (Info, error) {
	var info Info
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "cpython":
			info.PythonVersion = f[1]
		case len(f) == 2 && f[0] == "abi":
			info.ABIVersion, _ = strconv.Atoi(f[1])
		case len(f) == 2 && f[1] == "python.wasm":
			info.SHA256 = f[0]
		}
	}
	if info.PythonVersion == "" || info.ABIVersion == 0 || len(info.SHA256) != 64 {
		return Info{}, errors.New("snakepit: MANIFEST is incomplete")
	}
	return info, nil
}

// WasmSize returns the size of python.wasm, decompressed, from the gzip
// trailer.
func WasmSize() int64 { return GzipSize(wasmGz) }

// Wasm returns python.wasm, decompressed (about 7 MB).
func Wasm() ([]byte, error) {
	b, err := Gunzip(wasmGz)
	if err != nil {
		return nil, fmt.Errorf("snakepit: embedded python.wasm: %w", err)
	}
	return b, nil
}

// GzipSize returns the decompressed size that a gzip stream of one member
// (what gzip -n writes) records in its last four bytes, -1 if gz is too
// short to have them. It serves this package's python.wasm.gz and an
// interpreter variant's.
func GzipSize[T string | []byte](gz T) int64 {
	n := len(gz)
	if n < 4 {
		return -1
	}
	return int64(binary.LittleEndian.Uint32([]byte(gz[n-4:])))
}

// Gunzip decompresses gz.
func Gunzip[T string | []byte](gz T) ([]byte, error) {
	var r io.Reader
	switch gz := any(gz).(type) { // no copy of a variant's megabytes
	case string:
		r = strings.NewReader(gz)
	case []byte:
		r = bytes.NewReader(gz)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// zipOnce opens an embedded zip archive once, on first use.
func zipOnce(name, data string) func() (*zip.Reader, error) {
	return sync.OnceValues(func() (*zip.Reader, error) {
		z, err := zip.NewReader(strings.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, fmt.Errorf("snakepit: embedded %s: %w", name, err)
		}
		return z, nil
	})
}

var (
	stdlib   = zipOnce("stdlib", stdlibZip)
	zoneinfo = zipOnce("zoneinfo", zoneinfoZip)
)

// Stdlib returns the standard library, the contents of lib/python3.13. It is
// read from the binary's own data, decompressing each file as it is opened,
// and is safe for concurrent use.
func Stdlib() (*zip.Reader, error) { return stdlib() }

// Zoneinfo returns the time-zone database, laid out as /usr/share/zoneinfo
// (Europe/Paris, zone1970.tab, tzdata.zi, ...), read like Stdlib.
func Zoneinfo() (*zip.Reader, error) { return zoneinfo() }
