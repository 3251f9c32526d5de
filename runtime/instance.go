package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snakepit-wasm/snakepit/abi"
	"github.com/snakepit-wasm/snakepit/internal/cowmem"
	"github.com/snakepit-wasm/snakepit/internal/mountfs"
	"github.com/snakepit-wasm/snakepit/internal/scratchfs"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// StdlibPath is where the guest sees the (read-only) standard library.
const StdlibPath = "/usr/lib/python3.13"

// ZoneinfoPath is where the guest finds the time-zone database (read-only),
// the first directory of zoneinfo's default TZPATH.
const ZoneinfoPath = "/usr/share/zoneinfo"

// Options are an instance's limits and grants. The zero value means the
// defaults below: nothing of the host is visible but the stdlib.
type Options struct {
	// MemoryLimit caps the guest's linear memory, in bytes (rounded down to
	// 64 KiB pages). Default 256 MiB; below what python.wasm starts with
	// (a few MiB) NewInstance fails with ErrBadOptions. Past it Python
	// raises MemoryError, the call fails with ErrMemoryLimit and the
	// instance is unusable. A
	// MemoryError without the cap reached (`raise MemoryError`) is an
	// ordinary *PythonError.
	MemoryLimit uint64
	// StdoutLimit and StderrLimit cap the output kept per call, in bytes;
	// the rest is dropped and Result.*Truncated set. Default 1 MiB each.
	StdoutLimit, StderrLimit int
	// MaxResult caps a call's encoded result and each stream chunk. Default 16 MiB.
	MaxResult int
	// MaxStreamChunks and MaxStreamBytes cap the stream chunks (OpStream
	// items and snakepit.emit) of one call, in number and in total encoded
	// bytes, the way MaxHostCalls caps host calls. Past either the host
	// stops the stream and the call fails with ErrStreamLimit. Default
	// 100,000 chunks and 64 MiB.
	MaxStreamChunks, MaxStreamBytes int
	// MaxHostCalls caps host tool calls per call. Default 10,000.
	MaxHostCalls int
	// MaxHostPayload caps each host call's argument and answer. Default 4 MiB.
	MaxHostPayload int
	// MaxOpenFiles caps the files and directories the guest holds open at
	// once, mounts' roots included; past it Python gets OSError EMFILE.
	// Default 256.
	MaxOpenFiles int
	// Mounts grant read-only directories.
	Mounts []Mount
	// Scratch is the writable in-memory file system, on by default at /tmp.
	Scratch ScratchOptions
	// Env is the guest's environment; empty by default.
	Env map[string]string
	// Host holds host tools available to every call (Request.Host adds to
	// it). Names starting with "snakepit." are reserved (NewInstance
	// refuses them).
	Host map[string]HostFunc
	// MaxAsyncHostCalls caps the host tools that one call's
	// snakepit.acall keeps on the host at once (running, or finished and
	// not yet awaited); past it, acall waits for a slot. Each runs on a
	// goroutine of its own, so a cap above 1 makes one call's tools run
	// concurrently: they must then be safe for it. Default 1.
	MaxAsyncHostCalls int
	// Packages are Python code mounted read-only and put on sys.path
	// (after the standard library); see Package.
	Packages []Package
}

// ScratchOptions configure an instance's scratch file system: a writable
// directory held in the host's memory, the guest's working directory. The
// zero value means the defaults below. See the package documentation
// ("Files") for what persists in which mode.
type ScratchOptions struct {
	// Disabled removes the scratch file system: nothing is writable and the
	// working directory is "/", where nothing can be opened.
	Disabled bool
	// Path is where the guest sees it; absolute. Default "/tmp".
	Path string
	// MaxBytes caps the content of its files, in bytes; past it writes
	// fail with OSError ENOSPC in Python. Default 64 MiB. The host holds at
	// most about twice this (room kept for files to grow) per instance.
	MaxBytes int64
	// MaxFiles caps its files and directories together; past it creating
	// one fails with OSError ENOSPC. Default 10,000.
	MaxFiles int
	// MaxOutput caps Result.Files, the files a call created or changed,
	// in bytes of names and contents; the files that do not fit are named
	// in Result.FilesOmitted. Default 16 MiB; negative turns the collection
	// off (Result.Files is then always nil).
	MaxOutput int64
}

// Mount grants the guest read-only access to a host directory or an fs.FS.
// A HostDir is served through os.Root: nothing in it, symbolic links
// included, reaches outside it (a link that points out reads as an error).
type Mount struct {
	GuestPath string // absolute, e.g. "/data"
	HostDir   string // a host directory, or
	FS        fs.FS  // a file system (used when HostDir is "")
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.MemoryLimit == 0 {
		o.MemoryLimit = 256 << 20
	}
	o.MemoryLimit &^= cowmem.PageSize - 1
	def(&o.StdoutLimit, 1<<20)
	def(&o.StderrLimit, 1<<20)
	def(&o.MaxResult, 16<<20)
	def(&o.MaxStreamChunks, 100000)
	def(&o.MaxStreamBytes, 64<<20)
	def(&o.MaxHostCalls, 10000)
	def(&o.MaxHostPayload, 4<<20)
	def(&o.MaxOpenFiles, 256)
	def(&o.MaxAsyncHostCalls, 1)
	if o.Scratch.Path == "" {
		o.Scratch.Path = "/tmp"
	}
	o.Scratch.Path = path.Clean(o.Scratch.Path)
	if o.Scratch.MaxBytes <= 0 {
		o.Scratch.MaxBytes = 64 << 20
	}
	def(&o.Scratch.MaxFiles, 10000)
	if o.Scratch.MaxOutput == 0 {
		o.Scratch.MaxOutput = 16 << 20
	}
	return o
}

// Op is what a Request asks of the guest.
type Op int32

const (
	// OpExec runs Code as a module body in the instance's __main__, like a
	// notebook cell: when its last statement is an expression, that
	// expression's value is the result (None otherwise). A value JSON cannot
	// hold (NaN, an object, ...) comes back as its repr(), a JSON string.
	OpExec = Op(abi.KindExec)
	// OpEval evaluates the expression Code; the value is the result. A
	// value JSON cannot hold raises TypeError or ValueError in Python.
	OpEval = Op(abi.KindEval)
	// OpCall calls the function Code with Args, a JSON list (positional) or
	// object (keyword arguments); no Args means no arguments. Code is "name"
	// (looked up in __main__, then among the builtins) or "module.name" (the
	// module is imported). A missing name raises NameError or
	// AttributeError in Python.
	OpCall = Op(abi.KindCallJSON)
	// OpCallBytes calls the function Code with Data as one bytes argument.
	OpCallBytes = Op(abi.KindCallBytes)
	// OpStream calls like OpCall and sends each item of the returned
	// iterable to OnChunk as it is produced.
	OpStream = Op(abi.KindCallStream)
)

// Stream names an output stream.
type Stream int

const (
	Stdout Stream = 1
	Stderr Stream = 2
)

// Request is one call into the guest.
type Request struct {
	Op   Op
	Code string          // source, expression or function name
	Args json.RawMessage // OpCall, OpStream
	Data []byte          // OpCallBytes
	// Host adds host tools for this call only.
	Host map[string]HostFunc
	// OnOutput, if set, sees stdout/stderr as the guest writes it (within the caps).
	OnOutput func(s Stream, p []byte)
	// Files are written into the scratch file system before the call runs,
	// each replacing any file of that name: the name is relative to the
	// scratch root ("data.csv", "in/a.txt") or absolute under it
	// ("/tmp/data.csv"); missing directories are created. They count
	// against the scratch caps (ErrScratchFull past them; files before the
	// one that failed may have been written). Nothing runs if one fails.
	Files map[string][]byte
	// OnChunk receives stream chunks (OpStream items and snakepit.emit);
	// OpStream requires it. An error stops the stream: OnChunk is not
	// called again, every later emit raises RuntimeError in Python, and
	// Run returns that error, wrapped, whatever the guest did next.
	OnChunk func(chunk json.RawMessage) error
}

// Result is the outcome of a call that returned, normally or with a Python
// exception.
type Result struct {
	Value json.RawMessage // the returned value as JSON; nil for None or bytes
	Bytes []byte          // the returned value when it was bytes
	// Output captured during the call, and whether the caps cut it.
	Stdout, Stderr                   []byte
	StdoutTruncated, StderrTruncated bool
	// Files holds the scratch files the call created, wrote, truncated or
	// renamed (or that sit under a directory it renamed), by name relative
	// to the scratch root, with their content at the call's end; nil when
	// there are none or the collection is off (Options.Scratch.MaxOutput).
	// Files the call deleted are not in it. The names are the guest's
	// choice, untrusted: check each with HostPath before using it as a
	// path on the host.
	Files map[string][]byte
	// FilesOmitted names the changed files that did not fit in MaxOutput,
	// in path order (the first 1,000); Instance.Scratch can still read them.
	FilesOmitted []string
}

// Decode unmarshals the returned JSON value into v. A None result decodes
// as JSON null: v is left as it is, or set to nil if it points to a
// pointer, map, slice or interface. A bytes result (see Bytes) is an error.
func (r *Result) Decode(v any) error {
	if r.Bytes != nil {
		return errors.New("snakepit: the result is bytes (Result.Bytes), not JSON")
	}
	if r.Value == nil {
		return json.Unmarshal([]byte("null"), v)
	}
	return json.Unmarshal(r.Value, v)
}

// Instance is one Python interpreter. It runs one call at a time (concurrent
// calls wait); an instance that a call left broken fails every later call
// with ErrBroken and should be closed.
type Instance struct {
	rt   *Runtime
	opts Options
	mod  api.Module
	mem  *cowmem.Memory

	run, buffer, release api.Function
	fdsIntact            api.Function
	bufPtr, bufCap       uint32
	snap                 *Snapshot // a clone's, for Reset

	budgetMu sync.Mutex // host-side writes of the budget global
	budget   api.MutableGlobal

	out, errOut capWriter

	// cur is the call in progress, read by sleep on the calling goroutine.
	cur *callState
	// stopping is set, and stopCh closed, when Close begins: a running call
	// stops at its next yield, a sleeping one wakes.
	stopping atomic.Bool
	stopCh   chan struct{}
	stopOnce sync.Once

	open    mountfs.OpenFiles
	paths   []string          // Packages' guest paths, for sys.path
	roots   []*os.Root        // HostDir mounts, closed with the instance
	scratch *scratchFS        // nil when Options.Scratch.Disabled
	errno   api.MutableGlobal // see refuse

	mu     sync.Mutex
	broken error
	closed bool
	calls  int
}

// NewInstance creates and initialises a fresh interpreter. ctx bounds the
// initialisation.
func (r *Runtime) NewInstance(ctx context.Context, opts Options) (*Instance, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	i, err := r.instantiate(ctx, opts, r.compiled, nil, nil)
	if err != nil {
		return nil, err
	}
	_, err = i.call(ctx, nil, i.mod.ExportedFunction(abi.ExportInitialize))
	if err == nil {
		err = i.writeRequest(ctx, abi.GuestPython, nil)
	}
	if err == nil {
		var res []uint64
		if res, err = i.call(ctx, nil, i.mod.ExportedFunction(abi.ExportInit), uint64(len(abi.GuestPython))); err == nil && res[0] != 0 {
			err = fmt.Errorf("sp_init failed with code %d (is the stdlib complete?)", res[0])
		}
	}
	if err == nil && i.scratch != nil {
		// wasi-libc's working directory is "/" until chdir, and nothing is
		// mounted there: relative paths would all fail. Clones inherit it
		// with the snapshot's memory.
		arg, _ := json.Marshal([]string{i.opts.Scratch.Path})
		_, err = i.Run(ctx, Request{Op: OpCall, Code: "os.chdir", Args: arg})
	}
	if err == nil && len(i.paths) > 0 {
		_, err = i.Exec(ctx, extendPath(i.paths))
	}
	i.calls = 0
	if err != nil {
		i.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("snakepit: initialising python: %w", err)
	}
	return i, nil
}

// instantiate creates an instance of mod; a snapshot clone passes the
// snapshot's memory and scratch file system.
func (r *Runtime) instantiate(ctx context.Context, opts Options, mod wazero.CompiledModule, snap *cowmem.Snapshot, base *scratchFS) (*Instance, error) {
	if !r.enter() {
		return nil, ErrClosed
	}
	defer r.exit()
	opts = opts.withDefaults()
	opts, paths, err := resolvePackages(opts)
	if err != nil {
		return nil, err
	}
	if r.site != nil {
		paths = append([]string{SitePackagesPath}, paths...)
	}
	i := &Instance{rt: r, opts: opts, paths: paths, stopCh: make(chan struct{})}
	i.open.Max = int32(min(opts.MaxOpenFiles, 1<<30))
	i.open.Refuse = i.refuse
	if sc := opts.Scratch; !sc.Disabled {
		if base != nil {
			i.scratch = scratchfs.Clone(base, sc.MaxBytes, sc.MaxFiles)
		} else {
			i.scratch = scratchfs.New(sc.MaxBytes, sc.MaxFiles)
		}
	}
	fsc, err := i.fsConfig()
	if err != nil {
		i.closeRoots()
		return nil, err
	}
	mc := wazero.NewModuleConfig().WithName("").WithStartFunctions().
		WithArgs("python3.13").
		WithSysWalltime().WithSysNanotime().
		// wazero's own sleep ignores the call's context: time.sleep and
		// select() would outlast any deadline.
		WithNanosleep(func(ns int64) { i.sleep(time.Duration(ns)) }).
		WithRandSource(rand.Reader).
		WithStdin(bytes.NewReader(nil)).WithStdout(&i.out).WithStderr(&i.errOut).
		WithFSConfig(fsc)
	for k, v := range opts.Env {
		mc = mc.WithEnv(k, v)
	}
	// Below the module's own minimum the allocator has nothing to give, and
	// wazero dereferences the missing memory instead of failing.
	if opts.MemoryLimit < r.minMemory {
		i.closeRoots()
		return nil, fmt.Errorf("%w: MemoryLimit of %d bytes (whole 64 KiB pages) is below the %d MiB python.wasm starts with", ErrBadOptions, opts.MemoryLimit, r.minMemory>>20)
	}
	if i.mem, err = cowmem.NewMemory(opts.MemoryLimit, snap); err != nil {
		i.closeRoots()
		return nil, fmt.Errorf("snakepit: %w", err)
	}
	actx := experimental.WithMemoryAllocator(ctx, i.mem.Allocator())
	m, err := r.wr.InstantiateModule(actx, mod, mc)
	if err != nil {
		i.mem.Free()
		i.closeRoots()
		return nil, fmt.Errorf("snakepit: instantiating python.wasm: %w", err)
	}
	i.mod = m
	i.errno, _ = m.ExportedGlobal(errnoExport).(api.MutableGlobal)
	fns, err := exported(m, abi.ExportVersion, abi.ExportRun, abi.ExportBuffer, abi.ExportRelease, abi.ExportInitialize, abi.ExportInit)
	var more []api.Function
	if err == nil {
		var v []uint64
		// Not through i.call: this is the runtime's own entry (enter is held),
		// and the export is a constant.
		if v, err = fns[0].Call(ctx); err == nil && int32(v[0]) != abi.Version {
			err = fmt.Errorf("%w: python.wasm speaks ABI v%d, this package v%d; rebuild python.wasm with `make`", ErrABIVersion, int32(v[0]), abi.Version)
		}
	}
	if err == nil {
		// Asked for once the version is known to be ours: a python.wasm of
		// another ABI gets the version error, not a missing export's.
		more, err = exported(m, abi.ExportFdsIntact)
	}
	if err != nil {
		i.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	i.run, i.buffer, i.release, i.fdsIntact = fns[1], fns[2], fns[3], more[0]
	if g, ok := m.ExportedGlobal(budgetExport).(api.MutableGlobal); ok {
		i.budget = g
	}
	return i, nil
}

// fsConfig mounts the stdlib and opts.Mounts, each counted against
// MaxOpenFiles.
func (i *Instance) fsConfig() (wazero.FSConfig, error) {
	fsc := wazero.NewFSConfig()
	mount := func(f experimentalsys.FS, guestPath string) {
		ro := mountfs.ReadOnly(f) // changes fail with EROFS
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(i.open.Count(ro, false), guestPath)
	}
	mount(i.rt.stdlib, StdlibPath)
	mount(guestLib, abi.GuestLibPath)
	if i.rt.zoneinfo != nil {
		mount(i.rt.zoneinfo, ZoneinfoPath)
	}
	if i.rt.site != nil {
		mount(i.rt.site, SitePackagesPath)
	}
	if i.scratch != nil {
		if !path.IsAbs(i.opts.Scratch.Path) {
			return nil, fmt.Errorf("%w: scratch path %q is not absolute", ErrBadOptions, i.opts.Scratch.Path)
		}
		if i.opts.Scratch.Path == "/" || i.opts.Scratch.Path == StdlibPath || i.opts.Scratch.Path == ZoneinfoPath || reservedPath(i.opts.Scratch.Path) {
			return nil, fmt.Errorf("%w: scratch path %q is taken", ErrBadOptions, i.opts.Scratch.Path)
		}
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(i.open.Count(mountfs.Scratch(i.scratch, i.refuse), true), i.opts.Scratch.Path)
	}
	for _, m := range i.opts.Mounts {
		if !path.IsAbs(m.GuestPath) {
			return nil, fmt.Errorf("%w: mount path %q is not absolute", ErrBadOptions, m.GuestPath)
		}
		if i.scratch != nil && path.Clean(m.GuestPath) == i.opts.Scratch.Path {
			return nil, fmt.Errorf("%w: mount path %q is the scratch file system's (Options.Scratch.Path)", ErrBadOptions, m.GuestPath)
		}
		switch {
		case m.HostDir != "":
			f, root, err := mountfs.HostDir(m.HostDir)
			if err != nil {
				return nil, fmt.Errorf("snakepit: mount %q: %w", m.GuestPath, err)
			}
			i.roots = append(i.roots, root)
			mount(f, m.GuestPath)
		case m.FS != nil:
			mount(&sysfs.AdaptFS{FS: m.FS}, m.GuestPath)
		default:
			return nil, fmt.Errorf("%w: mount %q has neither HostDir nor FS", ErrBadOptions, m.GuestPath)
		}
	}
	return fsc, nil
}

func (i *Instance) closeRoots() {
	for _, r := range i.roots {
		r.Close()
	}
	i.roots = nil
}

func (i *Instance) resetBudget() {
	if i.budget != nil {
		i.budgetMu.Lock()
		i.budget.Set(uint64(uint32(i.rt.budget)))
		i.budgetMu.Unlock()
	}
}

func (i *Instance) interruptNow() {
	if i.budget != nil {
		i.budgetMu.Lock()
		i.budget.Set(0)
		i.budgetMu.Unlock()
	}
}

// Exec runs source in the instance's __main__ namespace.
func (i *Instance) Exec(ctx context.Context, source string) (*Result, error) {
	return i.Run(ctx, Request{Op: OpExec, Code: source})
}

// Eval evaluates a Python expression and returns its value.
func (i *Instance) Eval(ctx context.Context, expr string) (*Result, error) {
	return i.Run(ctx, Request{Op: OpEval, Code: expr})
}

// Call calls the Python function fn with positional arguments encoded as JSON.
func (i *Instance) Call(ctx context.Context, fn string, args ...any) (*Result, error) {
	if args == nil {
		args = []any{}
	}
	a, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("snakepit: encoding arguments: %w", err)
	}
	return i.Run(ctx, Request{Op: OpCall, Code: fn, Args: a})
}

// Run performs one request. A Python exception returns the Result (with the
// output so far) and a *PythonError; the instance stays usable. So do a
// request that cannot run (ErrBadRequest, before anything runs), a result
// over MaxResult, a stream stopped by its caps (ErrStreamLimit) or by
// OnChunk's error. A trap, the memory cap, a stop at the context's end or an
// ABI violation return an error and leave the instance broken (see Err). An
// error wrapping the context's error means ctx ended first.
func (i *Instance) Run(ctx context.Context, req Request) (*Result, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return nil, ErrClosed
	}
	if i.broken != nil {
		return nil, &brokenError{i.broken}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var gen uint64
	if i.scratch != nil {
		if err := i.putFiles(req.Files); err != nil {
			return nil, err
		}
		gen = i.scratch.Gen()
	} else if len(req.Files) > 0 {
		return nil, fmt.Errorf("%w: Files given, but the scratch file system is disabled", ErrBadRequest)
	}
	i.calls++
	a, b := []byte(req.Code), req.Args
	if req.Op == OpCallBytes {
		b = req.Data
	}
	if err := i.writeRequest(ctx, a, b); err != nil {
		return nil, i.breakWith(err)
	}
	st := &callState{ctx: ctx, inst: i, req: &req}
	i.out.reset(i.opts.StdoutLimit, Stdout, req.OnOutput)
	i.errOut.reset(i.opts.StderrLimit, Stderr, req.OnOutput)
	ret, err := i.call(ctx, st, i.run, uint64(req.Op), uint64(len(a)), uint64(len(b)))
	st.endAsync()
	res := &Result{Stdout: i.out.buf, Stderr: i.errOut.buf, StdoutTruncated: i.out.truncated, StderrTruncated: i.errOut.truncated}
	i.out.buf, i.errOut.buf = nil, nil
	if i.scratch != nil && i.opts.Scratch.MaxOutput >= 0 {
		res.Files, res.FilesOmitted = i.scratch.ChangedSince(gen, i.opts.Scratch.MaxOutput)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return res, i.breakWith(fmt.Errorf("snakepit: call stopped: %w", ctx.Err()))
	case errors.Is(err, ErrClosed):
		return res, i.breakWith(fmt.Errorf("snakepit: call stopped: %w", ErrClosed))
	case i.mem != nil && i.mem.HitLimit():
		return res, i.breakWith(fmt.Errorf("%w (%d MiB)", ErrMemoryLimit, i.opts.MemoryLimit>>20))
	case err != nil:
		return res, i.breakWith(fmt.Errorf("%w: %s", ErrTrap, firstLine(err.Error())))
	case st.fault != nil:
		return res, i.breakWith(st.fault)
	}
	ptr, n := abi.UnpackPtrLen(ret[0])
	if ptr == 0 {
		if n == 1 {
			return res, i.breakWith(fmt.Errorf("%w: MemoryError while dispatching", ErrMemoryLimit))
		}
		return res, i.breakWith(&abi.Error{Reason: "sp_run could not dispatch the request"})
	}
	if int64(n) > int64(i.opts.MaxResult) {
		i.releaseResult(ctx, st)
		return res, fmt.Errorf("%w: %d bytes, limit %d", ErrResultTooLarge, n, i.opts.MaxResult)
	}
	view, ok := i.mod.Memory().Read(ptr, n)
	if !ok {
		return res, i.breakWith(&abi.Error{Reason: fmt.Sprintf("result out of bounds (%d bytes at 0x%x)", n, ptr)})
	}
	frames, err := abi.Decode(append([]byte(nil), view...))
	if n > 1<<16 {
		i.releaseResult(ctx, st)
	}
	if err != nil {
		return res, i.breakWith(err)
	}
	if st.streamErr != nil {
		// The guest saw its emit fail and may have caught that; the caller
		// learns why the stream stopped either way.
		return res, st.streamErr
	}
	if frames.Raised() {
		// A MemoryError with the cap untouched (hitLimit is handled above)
		// is one the code raised itself, or an allocation refused before it
		// reached the cap: the interpreter is intact.
		pe := &PythonError{Type: string(frames.ExcType), Message: string(frames.ExcMessage), Traceback: string(frames.Traceback)}
		switch {
		case ctx.Err() != nil:
			// The deadline passed while Python waited on the host (a host
			// tool saw ctx end); the interpreter itself is fine.
			return res, fmt.Errorf("snakepit: call stopped: %w (%w)", ctx.Err(), pe)
		}
		return res, pe
	}
	if frames.JSON != nil {
		if !json.Valid(frames.JSON) {
			return res, i.breakWith(&abi.Error{Reason: "result value is not JSON"})
		}
		res.Value = frames.JSON
	}
	res.Bytes = frames.Bytes
	return res, nil
}

func (i *Instance) writeRequest(ctx context.Context, a, b []byte) error {
	n := uint64(len(a)) + uint64(len(b))
	if n > 1<<30 {
		return fmt.Errorf("snakepit: request of %d bytes is too large", n)
	}
	if uint32(n) > i.bufCap {
		ret, err := i.call(ctx, nil, i.buffer, n)
		if err != nil || uint32(ret[0]) == 0 {
			if i.mem != nil && i.mem.HitLimit() {
				return fmt.Errorf("%w: no room for a request of %d bytes", ErrMemoryLimit, n)
			}
			return fmt.Errorf("%w: sp_buffer(%d) failed: %v", ErrTrap, n, err)
		}
		i.bufPtr, i.bufCap = uint32(ret[0]), uint32(n)
	}
	mem := i.mod.Memory()
	if !mem.Write(i.bufPtr, a) || !mem.Write(i.bufPtr+uint32(len(a)), b) {
		return &abi.Error{Reason: fmt.Sprintf("request buffer out of bounds (0x%x)", i.bufPtr)}
	}
	return nil
}

// call runs fn in the guest under ctx's deadline and the stop mechanism.
// Every entry into the guest goes through here: guest code can run in any of
// them (a __del__ when sp_release frees an object, an allocation in
// sp_buffer), and a call outside the mechanism could neither be stopped nor
// preempted. st is nil outside a request.
func (i *Instance) call(ctx context.Context, st *callState, fn api.Function, params ...uint64) ([]uint64, error) {
	if !i.rt.enter() {
		return nil, ErrClosed
	}
	defer i.rt.exit()
	if st == nil {
		// No request: nothing would end tools started here.
		st = &callState{ctx: ctx, inst: i, req: &Request{}, asyncEnded: true}
	}
	i.cur = st
	defer func() { i.cur = nil }()
	i.resetBudget()
	stop := context.AfterFunc(ctx, i.interruptNow)
	defer stop()
	return fn.Call(context.WithValue(ctx, stateKey{}, st), params...)
}

// sleep serves the guest's sleeps (poll_oneoff's clock). When the call's
// context ends or the instance or runtime closes first, it stops the call
// there, as yield does: returning early would let the guest go on after a
// sleep that did not last, and finish with a result after its deadline.
func (i *Instance) sleep(d time.Duration) {
	ctx := context.Background()
	if st := i.cur; st != nil {
		ctx = st.ctx
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return
	case <-ctx.Done():
	case <-i.stopCh:
	case <-i.rt.closeCh:
	}
	if err := i.stopped(ctx); err != nil {
		panic(errStop{err})
	}
}

// stopped says why a running call must stop now, if it must.
func (i *Instance) stopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if i.stopping.Load() || i.rt.closing.Load() {
		return ErrClosed
	}
	return nil
}

func (i *Instance) releaseResult(ctx context.Context, st *callState) {
	if _, err := i.call(ctx, st, i.release); err != nil {
		i.breakWith(fmt.Errorf("%w: sp_release: %v", ErrTrap, err))
	}
}

func (i *Instance) breakWith(err error) error {
	if i.broken == nil {
		i.broken = err
	}
	return err
}

// Err returns why the instance is unusable, or nil while it is usable.
func (i *Instance) Err() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return ErrClosed
	}
	return i.broken
}

// Calls returns how many calls the instance has run.
func (i *Instance) Calls() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.calls
}

// MemoryBytes returns the size of the guest's linear memory, which never
// shrinks.
func (i *Instance) MemoryBytes() uint64 {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return 0
	}
	return uint64(i.mod.Memory().Size())
}

// PrivateBytes returns the memory the instance's linear memory holds for
// itself: the pages it has written, which a snapshot clone owns and does
// not share with its snapshot (copy-on-write copies, and growth), or all of
// it where clones copy their snapshot (other systems, and clones whose
// snapshot recycles memory). Host-side state (wazero's, the scratch files)
// is not counted. It reads the page table (tens of µs for a few hundred
// MiB); 0 once the instance is closed.
func (i *Instance) PrivateBytes() (uint64, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed || i.mem == nil {
		return 0, nil
	}
	n, err := i.mem.Private()
	if err != nil {
		return 0, fmt.Errorf("snakepit: reading the page table: %w", err)
	}
	return n, nil
}

// Reset returns a snapshot clone to the state it was cloned in, in place:
// its memory, its scratch file system, its seed for `random`, as a new
// clone of the same snapshot would have them, without instantiating one.
// The clone keeps the pages it owns in memory, and only those it wrote are
// copied back, so a reset costs a fraction of a new clone and the next call
// takes no page faults (RATIONALE.md has the figures).
//
// It fails with an error wrapping ErrNotReset, and the instance should then
// be closed, wherever the result could differ from a new clone: the
// instance is not a clone, a call broke it, its memory grew past the
// snapshot's (wazero cannot shrink a memory), it holds files open, or a
// call closed a descriptor of the snapshot's (stdio, a mount's directory).
// The last is found after the memory is restored, by the snapshot's own
// code, and leaves the instance broken. No call may run meanwhile.
func (i *Instance) Reset(ctx context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case i.closed:
		return ErrClosed
	case i.snap == nil:
		return fmt.Errorf("%w: not a snapshot clone", ErrNotReset)
	case i.broken != nil:
		return fmt.Errorf("%w: %w", ErrNotReset, &brokenError{i.broken})
	}
	if n := i.open.GuestOpen(); n != 0 {
		// wazero's table of descriptors is out of our reach: a file left
		// open there would outlive the reset, and the next call could read
		// the last one's data through it.
		return fmt.Errorf("%w: %d files left open", ErrNotReset, n)
	}
	ok, err := i.mem.Restore()
	switch {
	case err != nil:
		// The page table is read a chunk at a time: pages may be restored.
		return i.breakWith(fmt.Errorf("%w: reading the page table: %w", ErrNotReset, err))
	case !ok:
		return fmt.Errorf("%w: memory grew past the snapshot's", ErrNotReset)
	}
	ret, err := i.call(ctx, nil, i.fdsIntact)
	if err != nil || ret[0] != 1 {
		return i.breakWith(fmt.Errorf("%w: a descriptor of the snapshot's was closed (%v)", ErrNotReset, err))
	}
	if i.scratch != nil {
		i.scratch.ResetTo(i.snap.scratch)
		if errno := i.open.ReopenScratch(); errno != 0 {
			return i.breakWith(fmt.Errorf("%w: reopening the scratch root: %w", ErrNotReset, errno))
		}
	}
	if err := i.snap.reseed(i); err != nil {
		return i.breakWith(fmt.Errorf("%w: %w", ErrNotReset, err))
	}
	if i.errno != nil {
		i.errno.Set(0)
	}
	// wazero keeps the wasm call stack of an exported function in Go's
	// heap, grown as the guest recursed and never shrunk: a new one drops
	// what the last call grew it to (up to about 80 MiB, SECURITY.md).
	i.run = i.mod.ExportedFunction(abi.ExportRun)
	i.calls = 0
	return nil
}

// Close releases the instance. A call in progress on another goroutine is
// stopped (it fails with an error wrapping ErrClosed) and waited for. It is
// safe to call more than once and on a nil Instance.
func (i *Instance) Close(ctx context.Context) error {
	if i == nil {
		return nil
	}
	i.stopOnce.Do(func() {
		i.stopping.Store(true)
		close(i.stopCh)
	})
	i.interruptNow()
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return nil
	}
	i.closed = true
	err := i.mod.Close(ctx) // wazero frees the linear memory through the allocator
	i.closeRoots()
	if i.scratch != nil {
		// Views of it (Scratch, pool.SessionFiles) may outlive the
		// instance; its content must not.
		i.scratch.Release()
	}
	return err
}

// firstLine drops the wasm stack trace wazero appends to trap errors.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// capWriter keeps the first limit bytes written during one call.
type capWriter struct {
	buf       []byte
	limit     int
	truncated bool
	stream    Stream
	onOutput  func(Stream, []byte)
}

func (w *capWriter) reset(limit int, s Stream, on func(Stream, []byte)) {
	*w = capWriter{limit: limit, stream: s, onOutput: on}
}

// Write never fails: the guest must not learn about, or fight, the cap.
func (w *capWriter) Write(p []byte) (int, error) {
	n := len(p)
	if room := w.limit - len(w.buf); len(p) > room {
		p, w.truncated = p[:max(room, 0)], true
	}
	if len(p) > 0 {
		w.buf = append(w.buf, p...)
		if w.onOutput != nil {
			// p is guest memory, which the next call or a clone reusing it
			// overwrites, and which is unmapped when the instance closes.
			w.onOutput(w.stream, bytes.Clone(p))
		}
	}
	return n, nil
}
