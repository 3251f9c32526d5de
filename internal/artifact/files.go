package artifact

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync"

	"github.com/snakepit-wasm/snakepit/wasm/embedded"
)

// Info describes an interpreter build, as its MANIFEST records it.
type Info struct {
	PythonVersion string // e.g. "3.13.5"
	ABIVersion    int    // the guest's abi.Version
	SHA256        string // of python.wasm, uncompressed (hex)
}

// ParseManifest reads a MANIFEST as the recipe writes it (embed/MANIFEST in
// a build's directory, or an embedding package's).
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
		return Info{}, errors.New("MANIFEST is incomplete")
	}
	return info, nil
}

// gzipSize returns the decompressed size that a gzip stream of one member
// (what gzip -n writes) records in its last four bytes, -1 if gz is too
// short to have them.
func gzipSize(gz []byte) int64 {
	n := len(gz)
	if n < 4 {
		return -1
	}
	return int64(binary.LittleEndian.Uint32(gz[n-4:]))
}

func gunzip(gz []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// openZip reads the zip archive name of fsys in place when its file is an
// io.ReaderAt (embed.FS's are), else from a copy.
func openZip(fsys fs.FS, name string) (*zip.Reader, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		b, err := io.ReadAll(f)
		if err != nil {
			return nil, err
		}
		ra = bytes.NewReader(b)
	}
	z, err := zip.NewReader(ra, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return z, nil
}

// The embedded interpreter's files, read once.
var (
	embeddedManifest = sync.OnceValues(func() (Info, error) {
		m, err := fs.ReadFile(embedded.Files(), "MANIFEST")
		if err != nil {
			return Info{}, err
		}
		return ParseManifest(string(m))
	})
	embeddedStdlib   = sync.OnceValues(func() (*zip.Reader, error) { return openZip(embedded.Files(), "stdlib.zip") })
	embeddedZoneinfo = sync.OnceValues(func() (*zip.Reader, error) { return openZip(embedded.Files(), "zoneinfo.zip") })
	embeddedWasmGz   = sync.OnceValues(func() ([]byte, error) { return fs.ReadFile(embedded.Files(), "python.wasm.gz") })
)

// EmbeddedManifest returns what the embedded interpreter's MANIFEST records.
func EmbeddedManifest() (Info, error) { return embeddedManifest() }

// EmbeddedWasm returns the embedded python.wasm, decompressed.
func EmbeddedWasm() ([]byte, error) {
	gz, err := embeddedWasmGz()
	if err != nil {
		return nil, err
	}
	b, err := gunzip(gz)
	if err != nil {
		return nil, fmt.Errorf("embedded python.wasm: %w", err)
	}
	return b, nil
}

// embeddedWasmSize is the embedded python.wasm's size, decompressed.
func embeddedWasmSize() int64 {
	gz, err := embeddedWasmGz()
	if err != nil {
		return -1
	}
	return gzipSize(gz)
}
