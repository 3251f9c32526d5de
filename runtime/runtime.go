// Package runtime runs CPython (python.wasm) inside the Go process with
// wazero. A [Runtime] compiles the interpreter once per process; an
// [Instance] is one interpreter, running one call at a time under hard
// limits ([Limits], in [Options] with the grants); a [Snapshot] is an
// initialised interpreter frozen between two calls, from which clones start
// without initialising ([CloneOptions] say what a clone changes). A call is
// a [Request], made by [Exec], [Eval], [Call], [CallJSON], [CallBytes] or
// [CallStream], and run by any [Runner]: an Instance, or package pool's
// Pool and Session, which share instances among concurrent callers.
//
// Errors wrap the package's sentinel values, for errors.Is; a Python
// exception is a *[PythonError]. [KindOf] classifies every error of the
// module (this package's, pool's, adapter's) in one place; messages carry no
// package prefix. [Instance.Run] says which outcomes break an instance.
// RATIONALE.md explains how it works and why, with the measurements.
//
// The package's name is the standard library's too; a file that needs
// both renames one of them:
//
//	import snakepit "github.com/snakepit-wasm/snakepit/runtime" // or goruntime "runtime"
//
// # Stopping guests
//
// A call stops when its context ends, wherever the guest is: python.wasm is
// rewritten at load time to count down a budget at CPython's check points
// and loop headers and to yield to the host when it runs out or the context
// ends. The host then stops the call, or lets the Go
// scheduler and garbage collector proceed. The guest's sleeps end with the
// context, and Instance.Close and Runtime.Close stop a running call the
// same way ([ErrClosed]). A call stops within a few milliseconds of its
// deadline; the checks cost about 6% of compute.
//
// # The interpreter
//
// By default the interpreter embedded in the module (wasm/embedded) runs;
// Config.Dir or $SNAKEPIT_PYTHON_DIR select a local build, Config.Variant
// a variant from its own package (wasm/numpy). Runtime.Build says which.
//
// # Files
//
// The guest sees the standard library ([StdlibPath]) and time-zone
// database ([ZoneinfoPath]), Options.Mounts and Options.Packages, all
// read-only, and a scratch file system ([ScratchOptions]): writable, held
// in the host's memory under caps (ENOSPC past them), at /tmp by default,
// also the working directory (open("out.txt", "w") writes /tmp/out.txt),
// where tempfile, shutil, zipfile and pathlib work as on a tmpfs. No path
// leads out: host directories are served through os.Root, and scratch
// refuses links (EPERM). Open files are capped (Limits.MaxOpenFiles, and
// host directories' across instances Config.MaxHostFiles) and paths over
// 4,096 bytes refused (ENAMETOOLONG). Result.Files names are the guest's:
// check them with [HostPath].
//
// An Instance keeps its scratch files for its life; a snapshot clone starts
// with those its snapshot's Setup left (shared copy-on-write), so in the
// pool a ModeFresh call never sees an earlier call's files, a session keeps
// them for its life and a warm worker until it is recycled. Request.Files
// are written before the call, Result.Files holds those it created or
// changed (see the example of Instance.Run), and Instance.Scratch and
// Instance.WriteFile reach them between calls.
//
// # Inside the guest: the snakepit module
//
//   - snakepit.call(name, *args) or (name, **kwargs) calls the host tool
//     name ([HostFunc]) and returns its answer; the tool's error, an
//     unknown name and a call past MaxHostCalls or MaxHostPayload raise
//     RuntimeError.
//   - await snakepit.acall(name, ...) does the same without blocking
//     asyncio's loop; tools awaited together run concurrently (up to
//     Limits.MaxAsyncHostCalls), and all have been canceled and have
//     returned when the call returns.
//   - snakepit.emit(value) sends a stream chunk to Request.OnChunk (without
//     one, it raises RuntimeError).
//   - snakepit.checkpoint() stops the call there if its context has ended.
//   - @snakepit.export makes a function callable by name: see package adapter.
//
// SnapshotOptions.Preload imports Options.Packages ([Package]) into the
// snapshot; a failed import fails NewSnapshot with the *PythonError.
//
// Values cross as JSON (None, booleans, numbers, strings, lists, dicts
// with string keys), and as bytes ([Result.Bytes], [Request.Data]). The
// guest writes strict JSON: NaN and the infinities raise ValueError, a
// value JSON cannot hold TypeError, both ordinary [PythonError]s; only
// OpExec's value falls back to its repr().
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"github.com/snakepit-wasm/snakepit/internal/cowmem"
	"github.com/snakepit-wasm/snakepit/internal/knobs"
	"github.com/snakepit-wasm/snakepit/internal/life"
	"github.com/snakepit-wasm/snakepit/internal/mountfs"
	"github.com/snakepit-wasm/snakepit/internal/pycache"
	"github.com/snakepit-wasm/snakepit/internal/scratchfs"
	"github.com/snakepit-wasm/snakepit/internal/wasmedit"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

const budgetExport = "sp_budget"

// Config configures a Runtime. The zero value is ready to use.
type Config struct {
	// Dir selects a local build of the interpreter (a directory holding
	// python.wasm and lib/python3.13, as `make python-wasm` leaves it); ""
	// means $SNAKEPIT_PYTHON_DIR, and when that is unset too, the
	// interpreter embedded in the module.
	Dir string
	// Variant selects an interpreter variant carried by a package of its
	// own, so that programs that do not import it do not carry its size:
	// numpy.Files() of package wasm/numpy (CPython with numpy built in).
	// The files are what the recipe's variant stage leaves in its embed/
	// directory; the variant shares the default interpreter's standard
	// library and time-zone database. nil means the default interpreter. A local build of a variant
	// is selected by Dir instead (the recipe's python-wasm/numpy/current),
	// so Dir and Variant are not both set; $SNAKEPIT_PYTHON_DIR is ignored
	// when Variant is set.
	Variant fs.FS
	// CompilationCacheDir keeps compiled machine code between processes.
	// "" means a directory per python.wasm build under
	// <user cache dir>/snakepit-wasm/wazero, of which the keepCompiled most
	// recently used are kept; a directory given here is never pruned.
	CompilationCacheDir string
	// MaxHostFiles caps the host file descriptors that the instances'
	// guests hold open together on HostDir mounts; past it a guest's open
	// fails with OSError EMFILE. Limits.MaxOpenFiles caps one instance
	// only, and a pool's parked sessions keep what they opened. Besides
	// these, each live instance holds two descriptors per HostDir mount
	// (its root), which the number of instances bounds. 0 means a quarter
	// of the process's limit on open files (RLIMIT_NOFILE), at least 64.
	MaxHostFiles int
}

// Runtime compiles python.wasm once and creates instances from it. It is
// safe for concurrent use.
type Runtime struct {
	build     Build
	stdlib    experimentalsys.FS // shared by every instance, mounted read-only
	zoneinfo  experimentalsys.FS // likewise; nil if the build has none
	site      experimentalsys.FS // a variant's packages, at SitePackagesPath; nil for the default interpreter
	knobs     knobs.Knobs        // the project's tools' settings (internal/knobs)
	wr        wazero.Runtime
	cache     wazero.CompilationCache
	wasm      []byte // as compiled (instrumented)
	compiled  wazero.CompiledModule
	minMemory uint64 // the memory python.wasm starts with, in bytes

	cloneOnce sync.Once
	cloneMod  wazero.CompiledModule // data segments stripped, for snapshot clones
	cloneErr  error

	// life ends when Close begins: running guests stop at their next yield
	// and sleeping ones wake (each instance's lifetime is a child of it),
	// and Close waits for the calls into wazero in flight.
	life *life.Life

	hostFiles *mountfs.HostFiles // Config.MaxHostFiles

	pyc *pycache.Cache // Options.Packages' bytecode
}

// New compiles python.wasm (from the compilation cache when possible) and
// returns a Runtime. The context bounds compilation only.
//
// # Errors
//
// ErrNotBuilt (wrapped, with the command to run) when the artifacts are
// missing; ErrABIVersion is reported later, by NewInstance.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Variant != nil && cfg.Dir != "" {
		return nil, fmt.Errorf("%w: Config.Dir and Config.Variant are both set", ErrBadOptions)
	}
	it, err := artifact.Load(cfg.Dir, cfg.Variant, cfg.CompilationCacheDir)
	if err != nil {
		return nil, err
	}
	r := &Runtime{build: Build(it.Build), stdlib: it.Stdlib, zoneinfo: it.Zoneinfo, site: it.Site, knobs: knobs.From(ctx),
		life: life.New(context.Background()), hostFiles: mountfs.NewHostFiles(mountfs.MaxHostFiles(cfg.MaxHostFiles))}
	wasm, err := r.edit(it.Wasm)
	if err != nil {
		return nil, fmt.Errorf("instrumenting python.wasm: %w", err)
	}
	r.wasm = wasm
	r.pyc = pycache.New(it.Build.SHA256, pycache.Dir(artifact.CacheBase()))
	if r.cache, err = wazero.NewCompilationCacheWithDir(it.CacheDir); err != nil {
		return nil, fmt.Errorf("compilation cache: %w", err)
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(r.cache).
		WithDebugInfoEnabled(false). // with it, a trap's stack trace took seconds to build
		WithCloseOnContextDone(r.knobs.Interrupt == knobs.CloseOnDone)
	r.wr = wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.wr); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("wasi: %w", err)
	}
	if err := r.instantiateHost(ctx); err != nil {
		r.Close(ctx)
		return nil, err
	}
	if r.compiled, err = r.wr.CompileModule(ctx, wasm); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("compiling python.wasm: %w", err)
	}
	for _, md := range r.compiled.ExportedMemories() {
		r.minMemory = uint64(md.Min()) * cowmem.PageSize
	}
	return r, nil
}

// edit applies the stop mechanism to python.wasm. Its eval loop calls the
// tick import at each of CPython's own preemption points: knobs.Loops turns
// those calls into budget checks and leaves the per-bytecode dispatch loop
// unchecked; the other mechanisms turn them into nops. A python.wasm without
// the import (ABI v1, refused by NewInstance) gets checks at every loop.
func (r *Runtime) edit(wasm []byte) ([]byte, error) {
	ticks, err := wasmedit.ImportsFunc(wasm, abi.ImportModule, abi.ImportTick)
	if err != nil {
		return nil, err
	}
	count := ticks && r.knobs.Interrupt == knobs.Loops && !r.knobs.AllLoops
	if ticks && !count {
		if wasm, err = wasmedit.NopCalls(wasm, abi.ImportModule, abi.ImportTick); err != nil {
			return nil, err
		}
	}
	// Every mechanism refuses over-long paths before wazero copies them and
	// passes the errnos wazero cannot express (see refuse).
	guards := wasmedit.GuardOptions{Guards: wasmedit.WASIPathGuards, MaxPathLen: scratchfs.MaxPathLen, ErrnoExport: errnoExport}
	if r.knobs.Interrupt != knobs.Loops {
		return wasmedit.GuardImports(wasm, guards)
	}
	o := wasmedit.Options{YieldModule: abi.ImportModule, YieldName: abi.ImportYield, BudgetExport: budgetExport, Budget: r.knobs.YieldBudget, InLoopYield: r.knobs.InLoopYield, GuardOptions: guards}
	if count {
		o.TickName = abi.ImportTick
	}
	return wasmedit.Instrument(wasm, o)
}

// cloneModule compiles, once, the variant of the module that clones use:
// without data segments, so instantiating it leaves the snapshot's memory
// untouched.
func (r *Runtime) cloneModule(ctx context.Context) (wazero.CompiledModule, error) {
	r.cloneOnce.Do(func() {
		stripped, err := wasmedit.StripData(r.wasm)
		if err != nil {
			r.cloneErr = fmt.Errorf("stripping data segments: %w", err)
			return
		}
		r.cloneMod, r.cloneErr = r.wr.CompileModule(ctx, stripped)
	})
	return r.cloneMod, r.cloneErr
}

// Close stops the calls running on the Runtime's instances (they fail with an
// error wrapping ErrClosed), waits for them to end, then closes every
// instance and releases the compiled code. If ctx ends first, Close returns
// its error and the release happens when the last call has stopped (within
// about a millisecond of guest work, or when a host tool in progress
// returns). It is safe to call more than once, concurrently, and on a nil
// Runtime (as `defer rt.Close(ctx)` does when New failed).
func (r *Runtime) Close(ctx context.Context) error {
	if r == nil {
		return nil
	}
	// Releasing wazero's runtime under a running guest frees the code and
	// memory it executes: the process faults.
	if err := r.life.End(ctx, ErrClosed, r.release); err != nil {
		return fmt.Errorf("closing the runtime: %w", err)
	}
	return nil
}

func (r *Runtime) release(ctx context.Context) error {
	if r.pyc != nil {
		r.pyc.Close() // its compilers' instances close before the code they run
	}
	var err error
	if r.wr != nil {
		err = r.wr.Close(ctx)
	}
	if r.cache != nil {
		err = errors.Join(err, r.cache.Close(ctx))
	}
	return err
}

// exported fetches the functions the host calls, failing on a module that
// does not export them.
func exported(m api.Module, names ...string) ([]api.Function, error) {
	fs := make([]api.Function, len(names))
	for i, n := range names {
		if fs[i] = m.ExportedFunction(n); fs[i] == nil {
			return nil, fmt.Errorf("%w: python.wasm does not export %s; rebuild it with `make`", ErrABIVersion, n)
		}
	}
	return fs, nil
}
