// Package programs is the benchmark's CPU-bound Python suite.
//
// Each program is one file defining run(), which does the work and returns a
// small JSON-able checksum, so that two runtimes can be checked to compute
// the same thing. run() depends on no time, randomness or hash seed, and may
// be called again in the same interpreter. The programs use only standard
// library modules that a WASI CPython has.
package programs

import (
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

//go:embed *.py
var files embed.FS

// Program is one Python program of the suite.
type Program struct {
	Name   string // the file name without .py
	Source string
}

// importHeavy is not a CPU-bound program, so All leaves it out.
const importHeavy = "imports"

// All returns the CPU-bound programs, sorted by name.
func All() []Program {
	entries, err := files.ReadDir(".")
	if err != nil {
		panic(err)
	}
	var all []Program
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".py")
		if name != importHeavy {
			all = append(all, load(name))
		}
	}
	slices.SortFunc(all, func(a, b Program) int { return strings.Compare(a.Name, b.Name) })
	return all
}

// ImportHeavy returns a script that imports a realistic set of standard
// library modules, for timing interpreter start-up plus imports.
func ImportHeavy() Program { return load(importHeavy) }

func load(name string) Program {
	src, err := files.ReadFile(name + ".py")
	if err != nil {
		panic(err)
	}
	return Program{Name: name, Source: string(src)}
}

// JSONArg is a JSON argument list of about n bytes holding one list of
// records: a realistic payload rather than one long string. Both sides of
// the benchmark echo it.
func JSONArg(n int) []byte {
	var recs []map[string]any
	for i, size := 0, len("[[]]"); size < n; i++ {
		rec := map[string]any{"id": i, "name": fmt.Sprintf("item-%d", i), "tags": []string{"a", "b"}, "score": float64(i) / 4}
		r, _ := json.Marshal(rec)
		size += len(r) + 1
		recs = append(recs, rec)
	}
	arg, _ := json.Marshal([]any{recs})
	return arg
}

// ScratchRoundtrip is Python source defining roundtrip(), which writes 10 MB
// (ScratchBytes) in 64 KB chunks into a file of the working directory, reads
// it back in 64 KB reads and returns the bytes read: the scratch-files
// workload of the harness and runtime's BenchmarkScratch.
const ScratchRoundtrip = `
_chunk = b'x' * 65536
def roundtrip():
    with open('big.bin', 'wb') as f:
        for _ in range(160):
            f.write(_chunk)
    n = 0
    with open('big.bin', 'rb') as f:
        while b := f.read(65536):
            n += len(b)
    return n
`

// ScratchBytes is the size of the file ScratchRoundtrip writes.
const ScratchBytes = 160 * 65536

// Setup returns Python source that loads each program in a namespace of its
// own (their helpers' names may collide) and binds its run() to
// _run_<name> in __main__. The benchmark runs this same source on every
// side.
func Setup(progs []Program) string {
	var sb strings.Builder
	sb.WriteString("def _load(name, src):\n    g = {'__name__': name}\n    exec(compile(src, name + '.py', 'exec'), g)\n    globals()['_run_' + name] = g['run']\n\n")
	for _, p := range progs {
		q, _ := json.Marshal(p.Source) // a valid Python string literal
		fmt.Fprintf(&sb, "_load(%q, %s)\n", p.Name, q)
	}
	sb.WriteString("del _load\n")
	return sb.String()
}
