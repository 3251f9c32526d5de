package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/cowmem"
	"github.com/snakepit-wasm/snakepit/internal/devfs"
	"github.com/snakepit-wasm/snakepit/internal/life"
	"github.com/snakepit-wasm/snakepit/internal/mountfs"
	"github.com/snakepit-wasm/snakepit/internal/pycache"
	"github.com/snakepit-wasm/snakepit/internal/scratchfs"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// StdlibPath is where the guest sees the (read-only) standard library.
const StdlibPath = "/usr/lib/python3.13"

// DevPath is where the guest finds its devices (null, zero, random,
// urandom) and its standard streams as files (stdin, stdout, stderr); see
// internal/devfs.
const DevPath = "/dev"

// ZoneinfoPath is where the guest finds the time-zone database (read-only),
// the first directory of zoneinfo's default TZPATH.
const ZoneinfoPath = "/usr/share/zoneinfo"

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
	interrupt            api.Function // sp_interrupt
	bufPtr, bufCap       uint32
	snap                 *Snapshot // a clone's, for Reset
	// pristine is set while a clone has run nothing since it was made or
	// reset: its calls may take their code from the snapshot's cache.
	pristine bool
	resets   int // since run's call stack was new
	// conv holds a call's arguments in marshal's format (abi.JSONToMarshal)
	// and a result's JSON (hostJSON), kept between calls.
	conv []byte

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
	if err := opts.Validate(); err != nil {
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
		_, err = i.Run(ctx, Call("os.chdir", i.opts.Scratch.Path))
	}
	if err == nil && len(i.paths) > 0 {
		_, err = i.Run(ctx, Exec(extendPath(i.paths)))
	}
	i.calls = 0
	if err != nil {
		i.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("initialising python: %w", err)
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
	opts, paths, err := r.resolvePackages(opts)
	if err != nil {
		return nil, err
	}
	if r.site != nil {
		paths = append([]string{SitePackagesPath}, paths...)
	}
	i := &Instance{rt: r, opts: opts, paths: paths, life: life.New(r.life.Context())}
	i.open.Max = int32(min(opts.Limits.MaxOpenFiles, 1<<30))
	i.open.Refuse = i.refuse
	i.open.Host = i.rt.hostFiles
	if l := opts.Limits; !opts.Scratch.Disabled {
		if base != nil {
			i.scratch = scratchfs.Clone(base, l.MaxScratchBytes, l.MaxScratchFiles)
		} else {
			i.scratch = scratchfs.New(l.MaxScratchBytes, l.MaxScratchFiles)
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
	mc = i.reproducible(ctx, mc) // a seeded snapshot's template (image.go)
	for k, v := range opts.Env {
		mc = mc.WithEnv(k, v)
	}
	// Below the module's own minimum the allocator has nothing to give, and
	// wazero dereferences the missing memory instead of failing.
	if uint64(opts.Limits.MaxMemory) < r.minMemory {
		i.closeRoots()
		return nil, fmt.Errorf("%w: MaxMemory of %d bytes (whole 64 KiB pages) is below the %d MiB python.wasm starts with", ErrBadOptions, opts.Limits.MaxMemory, r.minMemory>>20)
	}
	if i.mem, err = cowmem.NewMemory(uint64(opts.Limits.MaxMemory), snap); err != nil {
		i.closeRoots()
		return nil, fmt.Errorf("reserving memory: %w", err)
	}
	actx := experimental.WithMemoryAllocator(ctx, i.mem.Allocator())
	m, err := r.wr.InstantiateModule(actx, mod, mc)
	if err != nil {
		i.mem.Free()
		i.closeRoots()
		return nil, fmt.Errorf("instantiating python.wasm: %w", err)
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
		more, err = exported(m, abi.ExportFdsIntact, abi.ExportInterrupt)
	}
	if err != nil {
		i.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	i.run, i.buffer, i.release, i.fdsIntact, i.interrupt = fns[1], fns[2], fns[3], more[0], more[1]
	if g, ok := m.ExportedGlobal(budgetExport).(api.MutableGlobal); ok {
		i.budget = g
	}
	// A running guest stops at its next check once the instance's or the
	// runtime's life ends.
	context.AfterFunc(i.life.Context(), i.interruptNow)
	return i, nil
}

// fsConfig mounts the stdlib, /dev and opts.Mounts, each counted against
// Limits.MaxOpenFiles, and a host directory's files against Config.MaxHostFiles.
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
	// A scratch file's descriptor can be duplicated (os.dup) through /dev.
	dups := &devfs.Open{}
	fsc = fsc.(sysfs.FSConfig).WithSysFSMount(i.open.Count(devfs.New(&i.out, &i.errOut, dups), mountfs.MountMemory), DevPath)
	if i.scratch != nil {
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(i.open.Count(dups.Track(mountfs.Scratch(i.scratch, i.refuse)), mountfs.MountScratch), i.opts.Scratch.Path)
	}
	for _, m := range i.opts.Mounts {
		switch {
		case m.HostDir != "":
			f, root, err := mountfs.HostDir(m.HostDir)
			if err != nil {
				return nil, fmt.Errorf("%w: mount %q: %w", ErrBadOptions, m.GuestPath, err)
			}
			i.roots = append(i.roots, root)
			if m.pyc != nil {
				f = &sysfs.AdaptFS{FS: pycache.Overlay(root.FS(), m.pyc)}
			}
			mountAs(f, m.GuestPath, mountfs.MountHost)
		case m.FS != nil:
			mount(&sysfs.AdaptFS{FS: m.FS}, m.GuestPath)
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
		return 0, fmt.Errorf("reading the page table: %w", err)
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
// takes no page faults (RATIONALE.md has the figures). That call, when it
// is an OpExec or OpEval, may take its code from the snapshot's code cache
// instead of compiling (Snapshot.CodeCache).
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
	// heap, grown as the guest recursed and never shrunk. Regrowing it from
	// 10 KB cost each fresh call a third of its time (the allocations, and
	// the collections they bring on), so a reset keeps it; what a deep call
	// grew it to (up to about 100 MB, SECURITY.md) is dropped within
	// callStackResets resets.
	if i.resets++; i.resets >= callStackResets || i.snap.newCallStack {
		i.run = i.mod.ExportedFunction(abi.ExportRun)
		i.resets = 0
	}
	i.pristine = true
	i.mu.Lock()
	i.calls = 0
	i.mu.Unlock()
	return nil
}

// callStackResets is how many resets a call stack lasts.
const callStackResets = 64

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
		return fmt.Errorf("closing the instance: %w", err)
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
		// Views of it (Scratch, pool.Session.Files) may outlive the
		// instance; its content must not.
		i.scratch.Release()
	}
	return err
}
