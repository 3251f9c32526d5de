package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sync"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/cowmem"
	"github.com/snakepit-wasm/snakepit/internal/life"
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

// Instance is one Python interpreter. It runs one call at a time (concurrent
// calls wait; Err, Calls, MemoryBytes and PrivateBytes do not wait for a
// running call); an instance that a call left broken fails every later call
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
	// life ends when Close begins or the runtime's does: a running call
	// stops at its next yield, a sleeping one wakes. Close waits for what
	// entered it (a call, a state read) before it releases the memory.
	life *life.Life
	// callMu makes calls (Run, Reset) one at a time.
	callMu sync.Mutex

	open    mountfs.OpenFiles
	paths   []string          // Packages' guest paths, for sys.path
	roots   []*os.Root        // HostDir mounts, closed with the instance
	scratch *scratchFS        // nil when Options.Scratch.Disabled
	errno   api.MutableGlobal // see refuse

	mu     sync.Mutex // broken and calls, read by state reads during a call
	broken error
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
	if !r.life.Enter() {
		return nil, ErrClosed
	}
	defer r.life.Exit()
	opts = opts.withDefaults()
	opts, paths, err := resolvePackages(opts)
	if err != nil {
		return nil, err
	}
	if r.site != nil {
		paths = append([]string{SitePackagesPath}, paths...)
	}
	i := &Instance{rt: r, opts: opts, paths: paths, life: life.New(r.life.Context())}
	i.open.Max = int32(min(opts.MaxOpenFiles, 1<<30))
	i.open.Refuse = i.refuse
	i.open.Host = i.rt.hostFiles
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
	// A running guest stops at its next check once the instance's or the
	// runtime's life ends.
	context.AfterFunc(i.life.Context(), i.interruptNow)
	return i, nil
}

// fsConfig mounts the stdlib and opts.Mounts, each counted against
// MaxOpenFiles, and a host directory's files against Config.MaxHostFiles.
func (i *Instance) fsConfig() (wazero.FSConfig, error) {
	fsc := wazero.NewFSConfig()
	mountAs := func(f experimentalsys.FS, guestPath string, kind mountfs.Mount) {
		ro := mountfs.ReadOnly(f) // changes fail with EROFS
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(i.open.Count(ro, kind), guestPath)
	}
	mount := func(f experimentalsys.FS, guestPath string) { mountAs(f, guestPath, mountfs.MountMemory) }
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
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(i.open.Count(mountfs.Scratch(i.scratch, i.refuse), mountfs.MountScratch), i.opts.Scratch.Path)
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
			mountAs(f, m.GuestPath, mountfs.MountHost)
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

// Err returns why the instance is unusable, or nil while it is usable.
func (i *Instance) Err() error {
	if i.life.Closed() {
		return ErrClosed
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.broken
}

// Calls returns how many calls the instance has run.
func (i *Instance) Calls() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.calls
}

// MemoryBytes returns the size of the guest's linear memory, which never
// shrinks; 0 once the instance is closed.
func (i *Instance) MemoryBytes() uint64 {
	if !i.life.Enter() {
		return 0
	}
	defer i.life.Exit()
	return i.mem.Size()
}

// PrivateBytes returns the memory the instance holds for itself: the pages
// of its linear memory it has written, which a snapshot clone owns and does
// not share with its snapshot (copy-on-write copies, and growth), or all of
// it where clones copy their snapshot (other systems, and clones whose
// snapshot recycles memory); and the host memory of its scratch files that
// it does not share with its snapshot (their content and the room kept for
// them to grow). wazero's own state and the stdlib files a guest reads
// (shared by every instance of the Runtime, at most the stdlib's size) are
// not counted. It reads the page table (tens of µs for a few hundred MiB);
// 0 once the instance is closed.
func (i *Instance) PrivateBytes() (uint64, error) {
	if !i.life.Enter() {
		return 0, nil
	}
	defer i.life.Exit()
	n, err := i.mem.Private()
	if err != nil {
		return 0, fmt.Errorf("snakepit: reading the page table: %w", err)
	}
	if i.scratch != nil {
		n += uint64(i.scratch.HeldBytes())
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
	i.callMu.Lock()
	defer i.callMu.Unlock()
	if !i.life.Enter() {
		return ErrClosed
	}
	defer i.life.Exit()
	switch err := i.brokenErr(); {
	case i.snap == nil:
		return fmt.Errorf("%w: not a snapshot clone", ErrNotReset)
	case err != nil:
		return fmt.Errorf("%w: %w", ErrNotReset, err)
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
	i.mu.Lock()
	i.calls = 0
	i.mu.Unlock()
	return nil
}

// Close releases the instance. A call in progress on another goroutine is
// stopped (it fails with an error wrapping ErrClosed) and waited for. If
// ctx ends first (a host tool that ignores its context can hold the call),
// Close returns its error and the release happens when the call stops. It
// is safe to call more than once and on a nil Instance.
func (i *Instance) Close(ctx context.Context) error {
	if i == nil {
		return nil
	}
	if err := i.life.End(ctx, ErrClosed, i.free); err != nil {
		return fmt.Errorf("snakepit: closing the instance: %w", err)
	}
	return nil
}

// free frees what the instance holds, once nothing uses it.
func (i *Instance) free(ctx context.Context) error {
	var err error
	if i.mod != nil {
		err = i.mod.Close(ctx) // wazero frees the linear memory through the allocator
	} else if i.mem != nil {
		i.mem.Free()
	}
	i.closeRoots()
	if i.scratch != nil {
		// Views of it (Scratch, pool.SessionFiles) may outlive the
		// instance; its content must not.
		i.scratch.Release()
	}
	return err
}
