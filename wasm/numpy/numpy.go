// Package numpy carries the numpy variant of the interpreter: CPython
// 3.13 with numpy 2.2.4 built in (its C modules statically linked, under
// their dotted names, its Python files served read-only from the binary),
// selected with
//
//	rt, err := runtime.New(ctx, runtime.Config{Variant: numpy.Files()})
//
// The variant's files are embedded (blob/: the interpreter, numpy's
// compiled Python files and their MANIFEST, built by the recipe in
// wasm/python.wasm.build/numpy from numpy's pinned source), so a plain
// `go get` runs numpy. A program that does not import this package carries
// only the default interpreter.
// The variant shares the default interpreter's standard library and
// time-zone database (package wasm/embedded).
//
// What is in: numpy._core (with its test modules), numpy.linalg (with
// lapack_lite, numpy's own f2c LAPACK: no BLAS), numpy.fft (pocketfft),
// numpy.random. What is not: numpy._core._simd (a SIMD test aid), threads,
// floating-point exception flags (wasi-libc has none: np.errstate
// warnings do not fire), C++ exceptions (a C++ throw, only pocketfft's on
// a failed allocation, traps the instance). README.md has the details.
package numpy

import (
	"embed"
	"io/fs"
)

//go:embed blob
var blob embed.FS

// Files returns the numpy variant's files, for runtime.Config.Variant. The
// package imports nothing of the engine: it is data. runtime.New fails
// with runtime.ErrNotBuilt when this copy of the module does not carry
// them.
func Files() fs.FS {
	sub, _ := fs.Sub(blob, "blob") // a constant, valid name
	return sub
}
