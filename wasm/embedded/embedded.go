// Package embedded carries the default interpreter inside the Go module, so
// that `go get` is the whole installation: python.wasm (gzipped) and its
// standard library (a zip of .pyc files, served to the guest read-only
// straight from the binary, never extracted), and the IANA time-zone
// database for zoneinfo (a zip of Debian's compiled tzdata, 0.35 MB).
//
// The files are the output of the recipe in wasm/python.wasm.build, copied
// here by `make embedded`; `make check-embedded` (run by `make test`)
// rebuilds them and fails if they differ from what the recipe produces.
// MANIFEST records their sha256. The package is data: it imports nothing
// of the engine, and package runtime reads Files.
package embedded

import (
	"embed"
	"io/fs"
)

//go:embed MANIFEST python.wasm.gz stdlib.zip zoneinfo.zip
var files embed.FS

// Files returns the default interpreter's files, as the recipe's embed/
// directory holds them: MANIFEST, python.wasm.gz (gzip -9n), stdlib.zip
// (lib/python3.13 as .pyc files) and zoneinfo.zip. Their files implement
// io.ReaderAt, so the zips are read in place, never copied.
func Files() fs.FS { return files }
