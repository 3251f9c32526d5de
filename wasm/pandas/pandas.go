// Package pandas carries the pandas variant of the interpreter: CPython
// 3.13 with numpy 2.2.4 and pandas 2.2.3 built in (their C modules
// statically linked under their dotted names, their Python files and
// pandas' pure-Python dependencies, python-dateutil, pytz and six, served
// read-only from the binary), selected with
//
//	rt, err := runtime.New(ctx, runtime.Config{Variant: pandas.Files()})
//
// The variant is self-contained (numpy need not be imported beside it)
// and adds about 14 MB to a program that imports this package; one that
// does not carries none of it. It shares the default interpreter's
// standard library and time-zone database (package wasm/embedded). A
// copy of the module without the files (a checkout whose blob folder
// holds only its README) fails in runtime.New with runtime.ErrNotBuilt;
// a local build (the recipe's wasm/python.wasm.build/pandas) is selected
// with Config.Dir instead.
//
// A snapshot that preloads pandas gives clones in which pandas is already
// imported (pool.Options.Preload): a clone and a first DataFrame take a
// few milliseconds, against about half a second for a new instance that
// imports pandas.
//
// What is not in: threads, mmap (read_csv's memory_map reads the file),
// ctypes (the DataFrame interchange protocol's from_dataframe), C++
// exceptions (pandas' one C++ module, window/aggregations, is compiled
// with them ignored: a throw traps the instance), and pandas' optional
// dependencies (pyarrow, matplotlib, openpyxl, ...).
package pandas

import (
	"embed"
	"io/fs"
)

//go:embed blob
var blob embed.FS

// Files returns the pandas variant's files, for runtime.Config.Variant.
// runtime.New fails with runtime.ErrNotBuilt when this copy of the module
// does not carry them.
func Files() fs.FS {
	sub, _ := fs.Sub(blob, "blob") // a constant, valid name
	return sub
}
