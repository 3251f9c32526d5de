// Package libs is the benchmark's real-code workloads: pure-Python
// libraries from Debian's .debs (networkx, sympy, mpmath, jinja2 with
// markupsafe, attrs, pyparsing), unpacked by bench/debian/fetch.sh into a
// directory that the guest mounts as a runtime.Package and the native sides
// put on sys.path.
//
// Each workload is one file that imports its library at the top and defines
// run(), which does the work and returns a small JSON-able checksum that
// depends on no time, randomness or hash seed; run() may be called again in
// the same interpreter. Load the files with programs.Setup (warm) or run one
// with Fresh (a new interpreter, import included).
package libs

import (
	"embed"
	"slices"
	"strings"

	"github.com/snakepit-wasm/snakepit/internal/bench/programs"
)

//go:embed *.py
var files embed.FS

// All returns the workloads, sorted by name.
func All() []programs.Program {
	entries, err := files.ReadDir(".")
	if err != nil {
		panic(err)
	}
	var all []programs.Program
	for _, e := range entries {
		src, err := files.ReadFile(e.Name())
		if err != nil {
			panic(err)
		}
		all = append(all, programs.Program{Name: strings.TrimSuffix(e.Name(), ".py"), Source: string(src)})
	}
	slices.SortFunc(all, func(a, b programs.Program) int { return strings.Compare(a.Name, b.Name) })
	return all
}

// Fresh is the source that runs p once in a new interpreter: its imports,
// then run().
func Fresh(p programs.Program) string { return p.Source + "\nrun()\n" }

// Library names the library each workload exercises, for the report.
var Library = map[string]string{
	"classes":   "attrs + dataclasses",
	"graphs":    "networkx",
	"parsing":   "pyparsing",
	"precision": "mpmath",
	"symbolic":  "sympy",
	"templates": "jinja2",
}
