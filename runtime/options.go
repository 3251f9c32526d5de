package runtime

import (
	"fmt"
	"io/fs"
	"math"
	"path"
	"strings"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/cowmem"
	"github.com/snakepit-wasm/snakepit/internal/pycache"
)

// NoLimit turns a cap off: every Max field of Limits (and of pool.Options)
// takes it. Zero always means the default, and nothing below NoLimit is
// valid (ErrBadOptions).
const NoLimit = -1

// Options are an instance's limits and grants. The zero value means
// DefaultLimits and no grants: nothing of the host is visible but the
// stdlib, with a scratch file system at /tmp.
type Options struct {
	// Limits cap what the guest may use; a zero field means its default.
	Limits Limits
	// Mounts grant read-only directories.
	Mounts []Mount
	// Scratch is the writable in-memory file system, on by default at /tmp.
	Scratch ScratchOptions
	// Env is the guest's environment; empty by default.
	Env map[string]string
	// Host holds host tools available to every call (Request.Host adds to
	// it). Names starting with "snakepit." are reserved.
	Host map[string]HostFunc
	// Packages are Python code mounted read-only and put on sys.path
	// (after the standard library); see Package.
	Packages []Package
}

// Limits cap what an instance and each of its calls may use. Each field is
// named MaxX; zero means the default that DefaultLimits returns, NoLimit
// means no cap (for MaxMemory: wasm32's 4 GiB), and below NoLimit is
// ErrBadOptions.
type Limits struct {
	// MaxMemory caps the guest's linear memory, in bytes (rounded down to
	// 64 KiB pages). Default 256 MiB; below what python.wasm starts with (a
	// few MiB) NewInstance fails with ErrBadOptions. Past it the guest's
	// allocation fails and Python raises MemoryError: the call fails with
	// an error wrapping ErrMemoryLimit and the *PythonError, and the
	// instance keeps its state, as CPython does, if the interpreter then
	// has 64 KiB to spare; if it has not (what filled the memory is still
	// held), or it trapped instead of raising, the instance is unusable. A
	// request too large for what is left does not run (ErrMemoryLimit) and
	// the instance stays. A MemoryError without the cap reached (`raise
	// MemoryError`, `[0] * 10**9`, larger than wasm32 addresses) is an
	// ordinary *PythonError.
	MaxMemory int64
	// MaxStdout and MaxStderr cap the output kept per call, in bytes; the
	// rest is dropped and Result.*Truncated set. Default 1 MiB each.
	MaxStdout, MaxStderr int
	// MaxResult caps a call's encoded result and each stream chunk, in
	// bytes (ErrResultTooLarge). Default 16 MiB.
	MaxResult int
	// MaxStreamChunks and MaxStreamBytes cap the stream chunks (OpStream
	// items and snakepit.emit) of one call, in number and in total encoded
	// bytes; past either the host stops the stream and the call fails with
	// ErrStreamLimit. Default 100,000 chunks and 64 MiB.
	MaxStreamChunks, MaxStreamBytes int
	// MaxHostCalls caps host tool calls per call (ErrHostCallLimit).
	// Default 10,000.
	MaxHostCalls int
	// MaxHostPayload caps each host call's argument and answer, in bytes.
	// Default 4 MiB.
	MaxHostPayload int
	// MaxAsyncHostCalls caps the host tools that one call's snakepit.acall
	// keeps on the host at once (running, or finished and not yet awaited);
	// past it, acall waits for a slot. Each runs on a goroutine of its own,
	// so above 1 one call's tools run concurrently: they must then be safe
	// for it. Default 1.
	MaxAsyncHostCalls int
	// MaxOpenFiles caps the files and directories the guest holds open at
	// once, mounts' roots included; past it Python gets OSError EMFILE.
	// Default 256.
	MaxOpenFiles int
	// MaxScratchBytes caps the content of the scratch file system's files,
	// in bytes; past it writes fail with OSError ENOSPC in Python (and the
	// host's writes with ErrScratchFull). Default 64 MiB. The host holds at
	// most about twice this (room kept for files to grow) per instance.
	MaxScratchBytes int64
	// MaxScratchFiles caps its files and directories together; past it
	// creating one fails with OSError ENOSPC. Default 10,000.
	MaxScratchFiles int
	// MaxResultFiles caps Result.Files, the scratch files a call created or
	// changed, in bytes of names and contents; the files that do not fit
	// are named in Result.FilesOmitted. Default 16 MiB. (ScratchOptions
	// turns the collection off.)
	MaxResultFiles int64
	// MaxInterruptGrace is how long a call whose context ended (its
	// deadline, a cancellation) may take to unwind: it is first interrupted
	// (KeyboardInterrupt raised in the guest at its next check point), and
	// if it returns within the grace the instance keeps its state and the
	// error wraps ErrInterrupted. A guest that does not unwind in time
	// (it catches the interrupt and goes on, or sits in C) is stopped hard
	// and the instance breaks, as is one whose runtime or instance is
	// closed. Default 100 ms; NoLimit stops hard at once.
	MaxInterruptGrace time.Duration
}

// DefaultLimits returns the limits a zero Limits field means.
func DefaultLimits() Limits {
	return Limits{
		MaxMemory: 256 << 20, MaxStdout: 1 << 20, MaxStderr: 1 << 20, MaxResult: 16 << 20,
		MaxStreamChunks: 100000, MaxStreamBytes: 64 << 20, MaxHostCalls: 10000, MaxHostPayload: 4 << 20,
		MaxAsyncHostCalls: 1, MaxOpenFiles: 256, MaxScratchBytes: 64 << 20, MaxScratchFiles: 10000,
		MaxResultFiles: 16 << 20, MaxInterruptGrace: 100 * time.Millisecond,
	}
}

// fields lists l's caps, for the loops that treat them all alike.
func (l *Limits) fields() (ints []*int, int64s []*int64) {
	return []*int{&l.MaxStdout, &l.MaxStderr, &l.MaxResult, &l.MaxStreamChunks, &l.MaxStreamBytes,
			&l.MaxHostCalls, &l.MaxHostPayload, &l.MaxAsyncHostCalls, &l.MaxOpenFiles, &l.MaxScratchFiles},
		[]*int64{&l.MaxMemory, &l.MaxScratchBytes, &l.MaxResultFiles, (*int64)(&l.MaxInterruptGrace)}
}

// or returns l with its zero fields taken from base.
func (l Limits) or(base Limits) Limits {
	li, l64 := l.fields()
	bi, b64 := base.fields()
	for k, p := range li {
		if *p == 0 {
			*p = *bi[k]
		}
	}
	for k, p := range l64 {
		if *p == 0 {
			*p = *b64[k]
		}
	}
	return l
}

// resolved returns l with defaults filled in and NoLimit turned into the
// largest value each cap can meet.
func (l Limits) resolved() Limits {
	hard := l.MaxInterruptGrace == NoLimit
	l = l.or(DefaultLimits())
	li, l64 := l.fields()
	for _, p := range li {
		if *p == NoLimit {
			*p = math.MaxInt32 // nothing the guest sends is longer: its memory is 32-bit
		}
	}
	for _, p := range l64 {
		if *p == NoLimit {
			*p = math.MaxInt32
		}
	}
	if l.MaxMemory == math.MaxInt32 {
		l.MaxMemory = 1 << 32
	}
	l.MaxMemory &^= cowmem.PageSize - 1
	if hard {
		// Stop hard at once; kept NoLimit, so that resolving again (a
		// clone's limits are resolved over its snapshot's) keeps it.
		l.MaxInterruptGrace = NoLimit
	}
	return l
}

func (l Limits) check() error {
	li, l64 := l.fields()
	for _, p := range li {
		if *p < NoLimit {
			return fmt.Errorf("%w: a limit of %d (0 is the default, NoLimit none)", ErrBadOptions, *p)
		}
	}
	for _, p := range l64 {
		if *p < NoLimit {
			return fmt.Errorf("%w: a limit of %d (0 is the default, NoLimit none)", ErrBadOptions, *p)
		}
	}
	return nil
}

// ScratchOptions place an instance's scratch file system: a writable
// directory held in the host's memory, the guest's working directory. Its
// caps are in Limits. The zero value means the defaults below. See the
// package documentation ("Files") for what persists in which mode.
type ScratchOptions struct {
	// Disabled removes the scratch file system: nothing is writable and the
	// working directory is "/", where nothing can be opened.
	Disabled bool
	// Path is where the guest sees it; absolute. Default "/tmp".
	Path string
	// NoResultFiles turns off Result.Files: a call's changed files are not
	// collected (Instance.Scratch still reads them).
	NoResultFiles bool
}

// Mount grants the guest read-only access to a host directory or an fs.FS.
// A HostDir is served through os.Root: nothing in it, symbolic links
// included, reaches outside it (a link that points out reads as an error).
type Mount struct {
	GuestPath string // absolute, e.g. "/data"
	HostDir   string // a host directory, or
	FS        fs.FS  // a file system (used when HostDir is "")

	pyc *pycache.Set // a package's bytecode, served over its files
}

// CloneOptions are what may differ between a snapshot's clone and the
// snapshot; everything else (mounts, packages, environment, the scratch
// file system's place) is fixed in the snapshot's memory. The zero value
// means as the snapshot.
type CloneOptions struct {
	// Limits: a zero field means the snapshot's. A MaxMemory below the
	// snapshot's size fails with ErrBadOptions.
	Limits Limits
	// Host replaces the snapshot's host tools when not nil.
	Host map[string]HostFunc
}

func (o Options) withDefaults() Options {
	o.Limits = o.Limits.resolved()
	if o.Scratch.Path == "" {
		o.Scratch.Path = "/tmp"
	}
	o.Scratch.Path = path.Clean(o.Scratch.Path)
	return o
}

// Validate reports why o cannot start an instance, as an error wrapping
// ErrBadOptions, or nil. NewInstance, NewSnapshot and pool.New call it
// before anything starts. (Whether MaxMemory holds python.wasm's initial
// memory and whether a host directory opens are known only when an
// instance starts; they fail with ErrBadOptions then.)
func (o Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadOptions, fmt.Sprintf(format, args...))
	}
	if err := o.Limits.check(); err != nil {
		return err
	}
	if err := checkHost(o.Host); err != nil {
		return err
	}
	scratch := ""
	if !o.Scratch.Disabled {
		scratch = o.Scratch.Path
		if scratch == "" {
			scratch = "/tmp"
		}
		if !path.IsAbs(scratch) {
			return bad("scratch path %q is not absolute", scratch)
		}
		if scratch = path.Clean(scratch); scratch == "/" || reservedPath(scratch) {
			return bad("scratch path %q is taken", scratch)
		}
	}
	for _, m := range o.Mounts {
		if !path.IsAbs(m.GuestPath) {
			return bad("mount path %q is not absolute", m.GuestPath)
		}
		if reservedPath(m.GuestPath) {
			return bad("mount path %q is taken (%s, %s, %s, %s, %s and %s are the runtime's)", m.GuestPath, StdlibPath, ZoneinfoPath, abi.GuestLibPath, PackagesPath, SitePackagesPath, DevPath)
		}
		if path.Clean(m.GuestPath) == scratch {
			return bad("mount path %q is the scratch file system's (Options.Scratch.Path)", m.GuestPath)
		}
		if m.HostDir == "" && m.FS == nil {
			return bad("mount %q has neither HostDir nor FS", m.GuestPath)
		}
	}
	for k := range o.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return bad("environment variable name %q is empty or holds '=' or NUL", k)
		}
	}
	for k, v := range o.Env {
		if strings.IndexByte(v, 0) >= 0 {
			return bad("environment variable %s holds NUL", k)
		}
	}
	for n, p := range o.Packages {
		if err := p.check(); err != nil {
			return bad("package %d: %v", n, err)
		}
	}
	return nil
}

func checkHost(host map[string]HostFunc) error {
	for name := range host {
		if strings.HasPrefix(name, abi.ReservedPrefix) {
			return fmt.Errorf("%w: host tool %q: names starting with %q are reserved", ErrBadOptions, name, abi.ReservedPrefix)
		}
	}
	return nil
}
