package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/runtime"
)

const doctorDoc = `Doctor checks that Python can run here: which interpreter is in use (the
one embedded in the Go module, or a local build selected by $SNAKEPIT_PYTHON_DIR),
whether its python.wasm matches its MANIFEST, the compilation cache, and a
call. Each problem is printed with the command that fixes it; the exit
status is 1 if there is one.
`

type doctorReport struct {
	Embedded      bool      `json:"embedded"`
	Dir           string    `json:"dir,omitempty"`
	PythonVersion string    `json:"python_version,omitempty"`
	ABIVersion    int       `json:"abi_version,omitempty"`
	SHA256        string    `json:"sha256,omitempty"`
	Manifest      string    `json:"manifest"` // "matches", "differs", "absent" or "unknown"
	Cache         string    `json:"cache_dir,omitempty"`
	CacheBytes    int64     `json:"cache_bytes"`
	CacheWarm     bool      `json:"cache_warm"` // compiled code was there before this run
	StartMS       float64   `json:"start_ms,omitempty"`
	CallMS        float64   `json:"call_ms,omitempty"`
	Problems      []problem `json:"problems"`
}

type problem struct {
	What string `json:"what"`
	Fix  string `json:"fix"`
}

func doctorCmd(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("doctor", "[--json]", doctorDoc, stderr)
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	if st := fs.parse(args, stdout); st >= 0 {
		return st
	}
	if fs.NArg() > 0 {
		return fs.usageError("takes no arguments")
	}
	r := doctor(ctx, stderr)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(r)
	} else {
		r.print(stdout)
	}
	if len(r.Problems) > 0 {
		return exitFailure
	}
	return exitOK
}

// Fixes, by where the interpreter comes from.
var (
	fixLocal = fmt.Sprintf("rebuild it with `make python-wasm` in the snakepit-wasm repository, or `unset %s` to use the embedded interpreter", runtime.EnvDir)
	// The embedded files come with the module: a clone restores them from
	// git, a module cache by downloading the module again.
	fixEmbedded = "in a clone: `git checkout -- wasm/embedded` (maintainers: `make embedded`); from the module cache: `go clean -modcache` and build again"
)

// doctor runs the checks in order; a failed step ends those that need it.
func doctor(ctx context.Context, stderr io.Writer) *doctorReport {
	r := &doctorReport{Manifest: "unknown", Problems: []problem{}}
	fail := func(fix, format string, args ...any) *doctorReport {
		r.Problems = append(r.Problems, problem{fmt.Sprintf(format, args...), fix})
		return r
	}
	dir, err := artifact.Locate("")
	if err != nil {
		// Locate's error names the fix too: say only what is wrong here.
		return fail(fixLocal, "$%s is %s, which holds no interpreter (python.wasm and lib/python3.13/os.py)", runtime.EnvDir, os.Getenv(runtime.EnvDir))
	}
	r.Dir, r.Embedded = dir, dir == ""
	fix := fixLocal
	if r.Embedded {
		fix = fixEmbedded
	}

	// What the MANIFEST says, against what the bytes are.
	var (
		wasm []byte
		info artifact.Info
	)
	if r.Embedded {
		if info, err = artifact.EmbeddedManifest(); err != nil {
			return fail(fix, "the embedded MANIFEST: %v", err)
		}
		if wasm, err = artifact.EmbeddedWasm(); err != nil {
			return fail(fix, "%s", err)
		}
	} else {
		if wasm, err = os.ReadFile(filepath.Join(dir, "python.wasm")); err != nil {
			return fail(fix, "%v", err)
		}
		m, err := os.ReadFile(filepath.Join(dir, "embed", "MANIFEST"))
		switch {
		case os.IsNotExist(err):
			r.Manifest = "absent"
		case err != nil:
			return fail(fix, "%v", err)
		default:
			if info, err = artifact.ParseManifest(string(m)); err != nil {
				return fail(fix, "%s: %s", filepath.Join(dir, "embed", "MANIFEST"), err)
			}
		}
	}
	sum := sha256.Sum256(wasm)
	r.SHA256 = hex.EncodeToString(sum[:])
	if info.SHA256 != "" {
		r.Manifest = "matches"
		r.PythonVersion, r.ABIVersion = info.PythonVersion, info.ABIVersion
		if info.SHA256 != r.SHA256 {
			r.Manifest = "differs"
			fail(fix, "python.wasm's sha256 is %s, its MANIFEST says %s: the file is damaged or from another build", short(r.SHA256), short(info.SHA256))
		}
		if info.ABIVersion != abi.Version {
			fail(fix, "python.wasm speaks ABI v%d, this snakepit v%d", info.ABIVersion, abi.Version)
		}
	}

	// The compilation cache, as it was before this run.
	r.Cache = artifact.DefaultCompilationCacheDir(r.SHA256)
	r.CacheBytes = dirSize(r.Cache)
	r.CacheWarm = r.CacheBytes > 0

	start := time.Now()
	rt, err := startRuntime(ctx, stderr, false)
	if err != nil {
		return fail(fix, "python.wasm cannot be loaded: %s", err)
	}
	defer rt.Close(context.WithoutCancel(ctx))
	r.StartMS = ms(time.Since(start))
	b := rt.Build()
	r.ABIVersion = b.ABIVersion
	if b.PythonVersion != "" {
		r.PythonVersion = b.PythonVersion
	}

	// A call, timed from a new interpreter to its result.
	start = time.Now()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	inst, err := rt.NewInstance(cctx, runtime.Options{})
	if err != nil {
		return fail(fix, "the interpreter does not start: %s", err)
	}
	defer inst.Close(context.WithoutCancel(ctx))
	res, err := inst.Run(cctx, runtime.Exec("import sys\nprint(6 * 7)\nsys.version.split()[0]"))
	r.CallMS = ms(time.Since(start))
	var version string
	if err == nil {
		err = res.Decode(&version)
	}
	switch {
	case err != nil:
		return fail(fix, "the smoke call print(6 * 7) failed: %s", err)
	case string(res.Stdout) != "42\n":
		return fail(fix, "the smoke call print(6 * 7) printed %q", res.Stdout)
	case r.PythonVersion != "" && version != r.PythonVersion:
		fail(fix, "the interpreter says CPython %s, its MANIFEST %s", version, r.PythonVersion)
	}
	r.PythonVersion = version
	if !r.CacheWarm {
		r.CacheBytes = dirSize(r.Cache)
	}
	return r
}

func (r *doctorReport) print(w io.Writer) {
	line := func(k, format string, args ...any) { fmt.Fprintf(w, "%-12s %s\n", k, fmt.Sprintf(format, args...)) }
	switch {
	case r.Embedded:
		line("interpreter", "embedded in the Go module (wasm/embedded)")
	case r.Dir != "":
		line("interpreter", "local build in %s (from $%s)", r.Dir, runtime.EnvDir)
	}
	if r.PythonVersion != "" || r.ABIVersion != 0 {
		line("python", "CPython %s, ABI v%d", cmp.Or(r.PythonVersion, "?"), r.ABIVersion)
	}
	if r.SHA256 != "" {
		m := map[string]string{"matches": "matches its MANIFEST", "differs": "DIFFERS from its MANIFEST", "absent": "no embed/MANIFEST to check it against"}[r.Manifest]
		line("python.wasm", "sha256 %s, %s", r.SHA256, cmp.Or(m, "not checked"))
	}
	if r.Cache != "" {
		state := "warm"
		switch {
		case !r.CacheWarm && r.StartMS > 0:
			state = "cold (compiled by this run)"
		case !r.CacheWarm:
			state = "cold"
		}
		line("cache", "%s, %.1f MB, %s", r.Cache, float64(r.CacheBytes)/1e6, state)
	}
	if r.StartMS > 0 {
		line("start", "%.0f ms (load and compile python.wasm)", r.StartMS)
	}
	if r.CallMS > 0 {
		line("smoke call", "print(6 * 7) printed 42 in %.0f ms (a new interpreter and the call)", r.CallMS)
	}
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "ok: no problem found")
		return
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM: %s\n  fix: %s\n", p.What, p.Fix)
	}
}

func short(sum string) string { return sum[:min(len(sum), 16)] + "..." }

// dirSize is the total size of the regular files under dir (0 if it is
// missing).
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
