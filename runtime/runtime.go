// Package runtime runs CPython (python.wasm) inside the Go process with
// wazero: it compiles the module once per process and creates instances
// with hard limits, each running one call at a time.
//
// # Stopping and preempting guests
//
// Compiled wasm has no preemption point of its own: a guest spinning in a
// loop would hold its goroutine's thread forever, stall every garbage
// collection of the process, and ignore its deadline. The default mechanism,
// [InterruptLoops], counts down a budget and calls the host's yield import
// when it runs out. Yield refills the budget, stops the call with a trap when
// its context is done, and otherwise calls runtime.Gosched (at most once a
// millisecond), which lets the scheduler and a waiting stop-the-world
// proceed. No host goroutine drives the yields, which matters because a
// stop-the-world pauses all of them.
//
// The budget is counted where internal/wasmedit puts checks, rewriting
// python.wasm at load time:
//   - at CPython's own check points. The recipe patches the eval loop to call
//     the import snakepit.tick at every eval-breaker check (backward jumps,
//     RESUME, after calls) and at every Python frame entry; each call becomes
//     a check, and the eval loop's dispatch loop, which runs once per
//     bytecode, gets none.
//   - at every other loop header. A function with a loop that makes no call
//     keeps the budget in a local (a register once compiled) and hands it
//     back to the budget global around its calls (those that may reach a
//     check) and at its exits, and its loops yield from outside their body,
//     so that wazero keeps the values they carry in registers; the others
//     decrement the global in place.
//
// When a call's context ends, the host also sets the budget to zero, so the
// guest yields at its next check.
//
// Measured on a 2-core VM (RATIONALE.md has the method and tables):
//   - compute cost against no mechanism: 1.06x (geometric mean of the
//     11-program suite, CPU time; 1.056-1.065 in three runs side by side):
//     1.00-1.02 for fib, loops, nbody and wordcount, up to 1.09-1.14 for
//     regex, sort and interp, bigint 1.09 (C-heavy programs pay most). wazero's
//     WithCloseOnContextDone ([InterruptCloseOnDone]): 4.7-5.0x.
//   - a call returns 0.2-0.6 ms (p50) and under 5 ms (p99) after its
//     deadline, in each program of the suite and in Python loops, regex
//     backtracking, sorted(), big-integer power, an exponential tree of
//     recursive calls and a generator drained by sum().
//   - with a spinning guest per core, a 1 ms ticker was at most 1.6-3.3 ms
//     late in eight runs (p99 1.1-1.5 ms; two runs right after a long
//     benchmark saw one tick 10.2-10.7 ms late). With a full GC forced at
//     every tick, up to 62 ms: the collection itself, on the ticker's
//     goroutine. The runtime never waited more than about 1 ms for the
//     guests to stop for a stop-the-world.
//
// A stopped call traps: the instance is unusable afterwards and must be
// closed (the pool replaces it; a snapshot clone costs well under a
// millisecond).
//
// Every entry into the guest runs under the call's context and this
// mechanism, including the release of a result (where a destructor can run)
// and the request buffer's allocation. Bulk memory operations (memory.copy
// and memory.fill, which wasi-libc uses for large memcpy and memset) are
// split into chunks that charge the budget by their length, so a guest that
// copies hundreds of megabytes still yields about every millisecond. The
// guest's sleeps (time.sleep, select.select's timeout) end when the call's
// context ends. Instance.Close and Runtime.Close stop a running call at its
// next yield (it fails with an error wrapping ErrClosed) and wait for it
// before releasing anything.
//
// # The interpreter
//
// By default a Runtime runs the interpreter embedded in the Go module
// (package wasm/embedded): python.wasm, decompressed at its first start on a
// machine (a copy is kept beside the compiled code), and
// its standard library as sourceless .pyc files served read-only from the
// binary's own data. Config.Dir or $SNAKEPIT_PYTHON_DIR select a local build
// instead (`make python-wasm`). Runtime.Build says which one runs.
//
// Config.Variant selects an interpreter variant that its own package
// embeds: numpy.Variant() of package wasm/numpy is CPython with numpy built
// in, its Python files at SitePackagesPath. A program that does not import
// that package does not carry it. A local build of the variant is a Dir
// like any other (python-wasm/numpy/current).
//
// # Files
//
// The guest sees three kinds of file system, and nothing else of the host:
//
//   - the standard library at /usr/lib/python3.13, read-only, and the
//     IANA time-zone database at /usr/share/zoneinfo, where zoneinfo looks;
//   - Options.Mounts, read-only. A HostDir mount is served through os.Root,
//     so nothing in it, symbolic links included, leads outside it;
//   - the scratch file system (Options.Scratch), writable, at /tmp by
//     default, which is also the guest's working directory: open("out.txt",
//     "w") writes /tmp/out.txt. It lives in the host's memory, capped in
//     content bytes (default 64 MiB) and in files and directories together
//     (default 10,000); past a cap Python gets OSError ENOSPC, and the
//     instance serves on. Symbolic and hard links are refused (EPERM), so
//     no path leads out of it. tempfile, shutil, zipfile, csv, os.walk,
//     pathlib and open(..., "a+") work on it as on a tmpfs.
//
// What persists: an Instance keeps its scratch files for its life. A
// snapshot clone starts with the files its snapshot's Setup left there and
// nothing else; clones share them copy-on-write (a file is copied when a
// clone first writes it), so starting a clone copies nothing. In the pool,
// a ModeFresh call therefore never sees an earlier call's files, a session
// keeps its files for the session's life, and a warm worker keeps them
// until it is recycled.
//
// Files cross with the calls: Request.Files are written into scratch
// before the call runs, and Result.Files holds the files the call created
// or changed (up to Scratch.MaxOutput bytes). Between calls,
// Instance.Scratch reads the files as an fs.FS and Instance.WriteFile adds
// some; pool.Pool.SessionFiles does the same for a session. A code
// interpreter's loop:
//
//	res, err := inst.Run(ctx, runtime.Request{
//		Op:    runtime.OpExec,
//		Code:  "import csv, json\nrows = list(csv.DictReader(open('data.csv')))\njson.dump({'rows': len(rows)}, open('report.json', 'w'))",
//		Files: map[string][]byte{"data.csv": csv},
//	})
//	report := res.Files["report.json"] // {"rows": ...}
//
// The files and directories a guest holds open at once are capped
// (Options.MaxOpenFiles; Python gets EMFILE past it), and paths longer than
// 4,096 bytes are refused with ENAMETOOLONG before the host copies them.
//
// # Inside the guest: the snakepit module
//
// Python code in an instance imports the module snakepit to reach its host:
//
//   - snakepit.call(name, *args) or snakepit.call(name, **kwargs) calls the
//     host tool name (from Options.Host or Request.Host, see [HostFunc])
//     and returns its answer, decoded from JSON. Positional arguments reach
//     the tool as a JSON list, keyword arguments as a JSON object; giving
//     both raises TypeError. The tool's error, an unknown name, an argument
//     or answer over MaxHostPayload, and a call past MaxHostCalls raise
//     RuntimeError with the reason.
//   - snakepit.emit(value) sends value to Request.OnChunk as one JSON
//     stream chunk; OpStream sends each item of the iterable its function
//     returns the same way. Once the host has stopped the stream (OnChunk
//     returned an error, or a chunk passed MaxResult, MaxStreamChunks or
//     MaxStreamBytes), that emit and every later one in the call raise
//     RuntimeError, and Run returns the reason. Without OnChunk, emit
//     raises RuntimeError.
//   - snakepit.checkpoint() yields to the host, like the checks the guest
//     passes in its loops: the call stops there if its context has ended.
//   - await snakepit.acall(name, ...) calls a host tool like snakepit.call
//     from a coroutine, without blocking asyncio's loop: the tool runs on a
//     goroutine of its own, and tools awaited together (asyncio.gather) run
//     concurrently, up to Options.MaxAsyncHostCalls at once (default 1;
//     past it acall waits for a slot). They count against MaxHostCalls and
//     MaxHostPayload like snakepit.call, and get the call's context: when
//     the call returns, whatever the outcome, every tool it started has
//     been canceled and has returned. asyncio.run and new_event_loop work
//     (importing asyncio installs an event loop whose idle wait is the
//     host's: WASI has no socketpair for asyncio's own). Host tool names
//     starting with "snakepit." are reserved for this machinery.
//   - @snakepit.export registers a function that the host lists with JSON
//     Schemas of its arguments and result, and calls by name with checked
//     arguments: see package adapter.
//
// # Packages
//
// Options.Packages mounts Python code read-only under /packages and puts
// it on sys.path, after the standard library: a tree from an fs.FS (an
// embedded directory), a host directory, a zip archive (a pure-Python
// wheel) or source given as strings. SnapshotOptions.Preload (and
// pool.Options.Preload) import it before the snapshot, so that clones
// start with it loaded; an import that fails fails NewSnapshot with the
// *PythonError and its traceback.
//
// Values cross as JSON: None, booleans, numbers, strings, lists (and
// tuples) and dicts with string keys. OpEval and OpCall may also return
// bytes ([Result.Bytes]), and OpCallBytes passes [Request.Data] as one
// bytes argument. The guest writes strict JSON: NaN and the infinities
// raise ValueError in Python wherever it encodes (results, stream items,
// emit, host-call arguments), an ordinary [PythonError] that leaves the
// instance usable, as does a value JSON cannot hold (TypeError). Only
// OpExec's value, which the caller did not ask for by name, falls back to
// its repr(). Going in, Args must be a JSON list or object, and host tools'
// answers are encoded by encoding/json, which refuses NaN too.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/snakepit-wasm/snakepit/abi"
	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"github.com/snakepit-wasm/snakepit/internal/cowmem"
	"github.com/snakepit-wasm/snakepit/internal/scratchfs"
	"github.com/snakepit-wasm/snakepit/internal/wasmedit"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Interrupt selects how running guests are stopped and preempted.
type Interrupt int

const (
	// InterruptLoops (the default) counts down a budget at CPython's check
	// points and at loop headers, and yields to the host when it runs out or
	// the call's context ends.
	InterruptLoops Interrupt = iota
	// InterruptCloseOnDone uses wazero's WithCloseOnContextDone: a check at
	// every loop header and function entry. Slower; kept for comparison.
	InterruptCloseOnDone
	// InterruptNone compiles no stop mechanism. A spinning guest can then
	// neither be stopped nor preempted, and it stalls the Go garbage
	// collector. Only for measuring what the mechanisms cost.
	InterruptNone
)

func (i Interrupt) String() string {
	switch i {
	case InterruptLoops:
		return "loops"
	case InterruptCloseOnDone:
		return "close-on-done"
	case InterruptNone:
		return "none"
	}
	return fmt.Sprintf("Interrupt(%d)", int(i))
}

// DefaultYieldBudget is the number of checks a guest passes between two
// yields to the host (tens of µs in tight C loops, up to about a millisecond
// of Python code). Each yield is a call into Go, a safe point for a
// stop-the-world; it calls runtime.Gosched at most once a millisecond.
// Lower costs compute (5,000 cost 1.75x with a Gosched at every yield),
// higher lets a stop-the-world wait longer.
const DefaultYieldBudget = 20000

const budgetExport = "sp_budget"

// Config configures a Runtime. The zero value is ready to use.
type Config struct {
	// Dir selects a local build of the interpreter (a directory holding
	// python.wasm and lib/python3.13, as `make python-wasm` leaves it); ""
	// means $SNAKEPIT_PYTHON_DIR, and when that is unset too, the
	// interpreter embedded in the module.
	Dir string
	// Variant selects an interpreter variant embedded by its own package
	// (numpy.Variant() of package wasm/numpy: CPython with numpy built
	// in); nil means the default interpreter. A local build of a variant
	// is selected by Dir instead (the recipe's python-wasm/numpy/current),
	// so Dir and Variant are not both set; $SNAKEPIT_PYTHON_DIR is ignored
	// when Variant is set.
	Variant *Variant
	// CompilationCacheDir keeps compiled machine code between processes.
	// "" means a directory per python.wasm build under
	// <user cache dir>/snakepit-wasm/wazero, of which the keepCompiled most
	// recently used are kept; a directory given here is never pruned.
	CompilationCacheDir string
	// Interrupt selects the stop/preempt mechanism; default InterruptLoops.
	Interrupt Interrupt
	// YieldBudget is the countdown of InterruptLoops; 0 means
	// DefaultYieldBudget.
	YieldBudget int32

	allLoops bool // tests: check the dispatch loop too, as before the tick import
	inLoop   bool // tests: the yield calls inside the loops they check, as before
}

// Runtime compiles python.wasm once and creates instances from it. It is
// safe for concurrent use.
type Runtime struct {
	dir       string // a local build's; "" when embedded
	build     Build
	stdlib    experimentalsys.FS // shared by every instance, mounted read-only
	zoneinfo  experimentalsys.FS // likewise; nil if the build has none
	site      experimentalsys.FS // a variant's packages, at SitePackagesPath; nil for the default interpreter
	interrupt Interrupt
	budget    int32
	wr        wazero.Runtime
	cache     wazero.CompilationCache
	wasm      []byte // as compiled (instrumented)
	compiled  wazero.CompiledModule
	minMemory uint64 // the memory python.wasm starts with, in bytes

	cloneOnce sync.Once
	cloneMod  wazero.CompiledModule // data segments stripped, for snapshot clones
	cloneErr  error

	// closing is set, and closeCh closed, when Close begins: running guests
	// stop at their next yield and sleeping ones wake.
	closing atomic.Bool
	closeCh chan struct{}

	mu     sync.Mutex
	closed bool
	active int           // calls into the guest and instantiations under way
	idle   chan struct{} // closed when active drops to zero after Close began
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
	r := &Runtime{dir: it.Build.Dir, build: Build(it.Build), stdlib: it.Stdlib, zoneinfo: it.Zoneinfo, site: it.Site, interrupt: cfg.Interrupt, budget: cfg.YieldBudget, closeCh: make(chan struct{}), idle: make(chan struct{})}
	if r.budget <= 0 {
		r.budget = DefaultYieldBudget
	}
	wasm, err := r.edit(it.Wasm, cfg)
	if err != nil {
		return nil, fmt.Errorf("snakepit: instrumenting python.wasm: %w", err)
	}
	r.wasm = wasm
	if r.cache, err = wazero.NewCompilationCacheWithDir(it.CacheDir); err != nil {
		return nil, fmt.Errorf("snakepit: compilation cache: %w", err)
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(r.cache).
		WithDebugInfoEnabled(false). // with it, a trap's stack trace took seconds to build
		WithCloseOnContextDone(r.interrupt == InterruptCloseOnDone)
	r.wr = wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.wr); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("snakepit: wasi: %w", err)
	}
	if err := r.instantiateHost(ctx); err != nil {
		r.Close(ctx)
		return nil, err
	}
	if r.compiled, err = r.wr.CompileModule(ctx, wasm); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("snakepit: compiling python.wasm: %w", err)
	}
	for _, md := range r.compiled.ExportedMemories() {
		r.minMemory = uint64(md.Min()) * cowmem.PageSize
	}
	return r, nil
}

// edit applies the stop mechanism to python.wasm. Its eval loop calls the
// tick import at each of CPython's own preemption points: InterruptLoops turns
// those calls into budget checks and leaves the per-bytecode dispatch loop
// unchecked; the other mechanisms turn them into nops. A python.wasm without
// the import (ABI v1, refused by NewInstance) gets checks at every loop.
func (r *Runtime) edit(wasm []byte, cfg Config) ([]byte, error) {
	ticks, err := wasmedit.ImportsFunc(wasm, abi.ImportModule, abi.ImportTick)
	if err != nil {
		return nil, err
	}
	count := ticks && r.interrupt == InterruptLoops && !cfg.allLoops
	if ticks && !count {
		if wasm, err = wasmedit.NopCalls(wasm, abi.ImportModule, abi.ImportTick); err != nil {
			return nil, err
		}
	}
	// Every mechanism refuses over-long paths before wazero copies them and
	// passes the errnos wazero cannot express (see refuse).
	guards := wasmedit.GuardOptions{Guards: wasmedit.WASIPathGuards, MaxPathLen: scratchfs.MaxPathLen, ErrnoExport: errnoExport}
	if r.interrupt != InterruptLoops {
		return wasmedit.GuardImports(wasm, guards)
	}
	o := wasmedit.Options{YieldModule: abi.ImportModule, YieldName: abi.ImportYield, BudgetExport: budgetExport, Budget: r.budget, InLoopYield: cfg.inLoop, GuardOptions: guards}
	if count {
		o.TickName = abi.ImportTick
	}
	return wasmedit.Instrument(wasm, o)
}

// Dir returns the directory of the local build in use, or "" when the
// Runtime runs the embedded interpreter.
func (r *Runtime) Dir() string { return r.dir }

// Interrupt returns the stop/preempt mechanism in use.
func (r *Runtime) Interrupt() Interrupt { return r.interrupt }

// cloneModule compiles, once, the variant of the module that clones use:
// without data segments, so instantiating it leaves the snapshot's memory
// untouched.
func (r *Runtime) cloneModule(ctx context.Context) (wazero.CompiledModule, error) {
	r.cloneOnce.Do(func() {
		stripped, err := wasmedit.StripData(r.wasm)
		if err != nil {
			r.cloneErr = fmt.Errorf("snakepit: %w", err)
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
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.closing.Store(true)
	close(r.closeCh)
	busy := r.active > 0
	r.mu.Unlock()
	if busy {
		// Releasing wazero's runtime under a running guest frees the code
		// and memory it executes: the process faults.
		select {
		case <-r.idle:
		case <-ctx.Done():
			go func() {
				<-r.idle
				r.release(context.Background())
			}()
			return fmt.Errorf("snakepit: closing the runtime: %w (released once its calls stop)", ctx.Err())
		}
	}
	return r.release(ctx)
}

func (r *Runtime) release(ctx context.Context) error {
	var err error
	if r.wr != nil {
		err = r.wr.Close(ctx)
	}
	if r.cache != nil {
		err = errors.Join(err, r.cache.Close(ctx))
	}
	return err
}

// enter registers a use of wazero's runtime (a call into a guest, an
// instantiation) that Close must wait for; false once Close has begun.
func (r *Runtime) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.active++
	return true
}

func (r *Runtime) exit() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active--; r.active == 0 && r.closed {
		close(r.idle)
	}
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
