// Package mountfs holds the wrappers around the file systems an instance
// mounts in its guest: a count of the files open at once against a cap,
// read-only mounts that fail as POSIX says, host directories through
// os.Root, the scratch file system's ENOSPC, and seekable files from a zip
// archive (the stdlib). It knows nothing of Python: what it needs of the
// instance comes as a function (Refuse).
//
// Errnos wazero cannot express: wazero's sys.Errno has no EMFILE or
// ENOSPC. A wrapper that needs one calls Refuse with the WASI errno; the
// instance stores it in its guest's errno global (added by
// internal/wasmedit) and returns EIO, and the rewritten import returns the
// stored value instead of EIO.
package mountfs

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/snakepit-wasm/snakepit/internal/scratchfs"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// Refuse makes the guest's current WASI call fail with wasiErrno, which
// wazero's sys.Errno cannot express (see the package doc), and returns the
// errno the file system returns in its place.
type Refuse func(wasiErrno uint32) experimentalsys.Errno

// WASI errnos that wazero's sys.Errno cannot express.
const (
	wasiEMFILE = 33
	wasiENOSPC = 51
)

// OpenFiles counts the files and directories an instance holds open, across
// all its mounts. Each costs the host a file descriptor or memory (an open
// directory buffers its entries), so a guest must not open them without
// bound.
type OpenFiles struct {
	// Max bounds the files open at once; an open past it fails with
	// EMFILE through Refuse. Host, when set, bounds the host file
	// descriptors of host-backed mounts across instances (see HostFiles).
	// All are set before the first Count.
	Max    int32
	Refuse Refuse
	Host   *HostFiles

	n atomic.Int32

	// Directories open at a mount's root, by mount: wazero opens one for
	// each mount the guest reaches (its preopen) and keeps it. GuestOpen
	// leaves those out, and ReopenScratch points the scratch file system's
	// at its tree after a reset.
	roots        []int32
	scratchRoots []*countedFile
}

func (o *OpenFiles) take() bool {
	if o.n.Add(1) > o.Max {
		o.n.Add(-1)
		return false
	}
	return true
}

// A Mount says what a mount's files cost the host.
type Mount int

const (
	MountMemory  Mount = iota // the stdlib, an fs.FS: memory, within MaxOpenFiles
	MountScratch              // the scratch file system, whose root a reset replaces (see ReopenScratch)
	MountHost                 // a host directory: each open file is a host descriptor (see HostFiles)
)

// Count wraps a mount so that its open files count against o. Mounts are
// counted before the guest runs.
func (o *OpenFiles) Count(f experimentalsys.FS, kind Mount) experimentalsys.FS {
	o.roots = append(o.roots, 0)
	return countFS{FS: f, open: o, mount: len(o.roots) - 1, kind: kind}
}

type countFS struct {
	experimentalsys.FS
	open  *OpenFiles
	mount int // its index in open.roots
	kind  Mount
}

func (c countFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if !c.open.take() {
		return nil, c.open.Refuse(wasiEMFILE)
	}
	// A mount's first root handle is wazero's preopen, one per instance
	// and mount for its life: the number of instances bounds those.
	host := c.kind == MountHost && c.open.Host != nil && !(path == "." && c.open.roots[c.mount] == 0)
	if host && !c.open.Host.Take() {
		c.open.n.Add(-1)
		return nil, c.open.Refuse(wasiEMFILE)
	}
	f, errno := c.FS.OpenFile(path, flag, perm)
	if errno != 0 {
		c.open.n.Add(-1)
		if host {
			c.open.Host.Give()
		}
		return nil, errno
	}
	cf := &countedFile{File: f, open: c.open, mount: -1, host: host}
	if path == "." {
		// Guest calls run one at a time under the instance's lock, as do
		// its resets: roots and scratchRoots need none of their own.
		cf.mount = c.mount
		c.open.roots[c.mount]++
		if c.kind == MountScratch {
			cf.reopen = func() (experimentalsys.File, experimentalsys.Errno) { return c.FS.OpenFile(path, flag, perm) }
			c.open.scratchRoots = append(c.open.scratchRoots, cf)
		}
	}
	return cf, 0
}

// GuestOpen returns how many files the guest holds open beyond wazero's
// one root directory per mount.
func (o *OpenFiles) GuestOpen() int32 {
	n := o.n.Load()
	for _, r := range o.roots {
		n -= min(r, 1)
	}
	return n
}

// ReopenScratch points the open handles of the scratch root at the root of
// the tree as it is now (after a reset): a handle keeps the directory it
// was opened on, and the old one lists the last call's files.
func (o *OpenFiles) ReopenScratch() experimentalsys.Errno {
	for _, f := range o.scratchRoots {
		nf, errno := f.reopen()
		if errno != 0 {
			return errno
		}
		_ = f.File.Close()
		f.File = nf
	}
	return 0
}

// ScratchRoots returns the open handles of the scratch root, those that
// ReopenScratch replaces (a test looks at them).
func (o *OpenFiles) ScratchRoots() []experimentalsys.File {
	out := make([]experimentalsys.File, len(o.scratchRoots))
	for k, f := range o.scratchRoots {
		out[k] = f
	}
	return out
}

type countedFile struct {
	experimentalsys.File
	open     *OpenFiles
	mount    int                                                  // for a root directory, its mount; else -1
	reopen   func() (experimentalsys.File, experimentalsys.Errno) // for a scratch root
	closed   bool                                                 // wazero closes a file once; this keeps the count right if not
	host     bool                                                 // holds a slot of open.Host
	nonblock bool
}

// A file that is not pollable gets ENOSYS from wazero when the guest sets
// O_NONBLOCK (os.set_blocking), though POSIX allows it on any file. Our
// files and directories never block: the flag is kept for fdstat, and a
// poll finds them ready.
func (f *countedFile) IsNonblock() bool { return f.nonblock }

func (f *countedFile) SetNonblock(enable bool) experimentalsys.Errno {
	if pf, ok := f.File.(experimentalsys.PollableFile); ok {
		if errno := pf.SetNonblock(enable); errno != 0 {
			return errno
		}
	}
	f.nonblock = enable
	return 0
}

// SetAppend(false) comes with every change of O_NONBLOCK (fcntl F_SETFL
// sets all status flags). A read-only mount's files have no append mode to
// turn off: that is success, not ENOSYS.
func (f *countedFile) SetAppend(enable bool) experimentalsys.Errno {
	errno := f.File.SetAppend(enable)
	if errno == experimentalsys.ENOSYS && !enable && !f.File.IsAppend() {
		return 0
	}
	return errno
}

func (f *countedFile) Poll(flag experimentalsys.Pflag, timeoutMillis int32) (bool, experimentalsys.Errno) {
	if p, ok := f.File.(experimentalsys.Pollable); ok {
		return p.Poll(flag, timeoutMillis)
	}
	return true, 0
}

func (f *countedFile) Close() experimentalsys.Errno {
	if !f.closed {
		f.closed = true
		f.open.n.Add(-1)
		if f.host {
			f.open.Host.Give()
		}
		if f.mount >= 0 {
			f.open.roots[f.mount]--
		}
		if f.reopen != nil {
			f.open.scratchRoots = slices.DeleteFunc(f.open.scratchRoots, func(g *countedFile) bool { return g == f })
		}
	}
	return f.File.Close()
}

// HostFiles caps the host file descriptors that guests hold together,
// across the instances of a runtime. Each file a guest opens on a host
// directory is a real descriptor, and MaxOpenFiles bounds one instance
// only: a pool of parked sessions, each holding its share, took the process
// to its own limit, and then the host's own opens failed.
type HostFiles struct {
	max int64
	n   atomic.Int64
}

// NewHostFiles returns a cap of max descriptors.
func NewHostFiles(max int) *HostFiles { return &HostFiles{max: int64(max)} }

// Take takes a descriptor's slot; false when all are taken.
func (h *HostFiles) Take() bool {
	if h.n.Add(1) > h.max {
		h.n.Add(-1)
		return false
	}
	return true
}

// Give gives back a slot that Take took.
func (h *HostFiles) Give() { h.n.Add(-1) }

// Open returns the slots taken.
func (h *HostFiles) Open() int { return int(h.n.Load()) }

// HostDir serves a host directory read-only through os.Root, which refuses any
// path, symbolic links included, that leads outside it. wazero's own
// directory mount follows links wherever they point. The caller closes
// the Root after the instance.
func HostDir(dir string) (experimentalsys.FS, *os.Root, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	return &sysfs.AdaptFS{FS: root.FS()}, root, nil
}

// Scratch is the guest's view of the scratch file system: past a cap the
// guest gets ENOSPC, which wazero's Errno cannot carry, through refuse.
func Scratch(s *scratchfs.FS, refuse Refuse) experimentalsys.FS {
	// A pointer: wazero compares file systems (a rename across mounts), and
	// a struct holding a func is not comparable.
	return &guestScratch{FS: s, refuse: refuse}
}

type guestScratch struct {
	*scratchfs.FS
	refuse Refuse
}

func (g *guestScratch) tr(errno experimentalsys.Errno) experimentalsys.Errno {
	if errno == scratchfs.ErrNoSpace {
		return g.refuse(wasiENOSPC)
	}
	return errno
}

func (g *guestScratch) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	f, errno := g.FS.OpenFile(path, flag, perm)
	if errno != 0 {
		return nil, g.tr(errno)
	}
	return guestScratchFile{File: f, g: g}, 0
}

func (g *guestScratch) Mkdir(path string, perm fs.FileMode) experimentalsys.Errno {
	return g.tr(g.FS.Mkdir(path, perm))
}

func (g *guestScratch) Rename(from, to string) experimentalsys.Errno {
	return g.tr(g.FS.Rename(from, to))
}

type guestScratchFile struct {
	experimentalsys.File
	g *guestScratch
}

func (f guestScratchFile) Write(buf []byte) (int, experimentalsys.Errno) {
	n, errno := f.File.Write(buf)
	return n, f.g.tr(errno)
}

func (f guestScratchFile) Pwrite(buf []byte, off int64) (int, experimentalsys.Errno) {
	n, errno := f.File.Pwrite(buf, off)
	return n, f.g.tr(errno)
}

func (f guestScratchFile) Truncate(size int64) experimentalsys.Errno {
	return f.g.tr(f.File.Truncate(size))
}

// ReadOnly serves f read-only: it refuses every change with EROFS, as
// sysfs.ReadFS does, except
// that removing or renaming a path that does not exist fails as POSIX
// describes, with ENOENT (or ENOTDIR), as on macOS and the BSDs; Linux
// checks the mount first. Code that cleans up "wherever it may be" ignores
// only ENOENT: CPython's test.support.import_helper.forget unlinks a
// module's cache in every directory of sys.path, the read-only stdlib
// included, and failed dozens of the stdlib's tests with EROFS.
func ReadOnly(f experimentalsys.FS) experimentalsys.FS {
	return readOnlyFS{&sysfs.ReadFS{FS: f}}
}

type readOnlyFS struct{ *sysfs.ReadFS }

func (r readOnlyFS) refuse(path string) experimentalsys.Errno {
	if _, errno := r.Lstat(path); errno != 0 {
		return errno
	}
	return experimentalsys.EROFS
}

func (r readOnlyFS) Unlink(path string) experimentalsys.Errno { return r.refuse(path) }

func (r readOnlyFS) Rmdir(path string) experimentalsys.Errno { return r.refuse(path) }

func (r readOnlyFS) Rename(from, _ string) experimentalsys.Errno { return r.refuse(from) }

// Zip serves an embedded zip archive (the stdlib, the time zones) with
// seekable files: a zip entry decompresses as a stream, and Python's
// file objects need seek and tell (zoneinfo seeks in every TZif file). A
// file is decompressed whole at its first read or seek, not at open: wazero
// opens a file to stat it, and the import system stats far more files than
// it reads. The archive's files are the module's own, at most a few hundred
// KB each.
//
// An entry's bytes are shared by every handle open on it, in every instance
// that mounts the returned FS: decompressed per handle, 250 handles on one
// .pyc under a 32 MiB memory cap took 144 MB of the host's memory. They
// are dropped when the last handle closes, so what the host holds is at
// most the archive's content, once, whatever the guests open.
func Zip(r *zip.Reader) experimentalsys.FS { return &sysfs.AdaptFS{FS: SeekableZip(r)} }

// SeekableZip is the fs.FS that Zip serves, for callers that wrap it
// further: Python's tokenize (hence linecache, hence tracebacks) seeks in
// the sources it reads.
func SeekableZip(r *zip.Reader) fs.FS {
	return seekableZip{r, &contents{m: map[string]weak.Pointer[[]byte]{}}}
}

type seekableZip struct {
	*zip.Reader
	cache *contents
}

// contents holds the entries being read, each as long as a handle holds it.
type contents struct {
	mu sync.Mutex
	m  map[string]weak.Pointer[[]byte]
}

func (c *contents) load(name string, f fs.File) (*[]byte, error) {
	c.mu.Lock()
	p := c.m[name].Value()
	c.mu.Unlock()
	if p != nil {
		return p, nil
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if q := c.m[name].Value(); q != nil {
		return q, nil // another handle loaded it meanwhile
	}
	c.m[name] = weak.Make(&b)
	return &b, nil
}

func (z seekableZip) Open(name string) (fs.File, error) {
	f, err := z.Reader.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		return f, err
	}
	return &zipFile{f: f, name: name, cache: z.cache, info: fi}, nil
}

// zipFile is a regular file of a seekableZip.
type zipFile struct {
	f     fs.File // until loaded
	name  string
	cache *contents
	info  fs.FileInfo
	data  *[]byte // keeps the shared bytes alive while the handle is open
	r     *bytes.Reader
	err   error
}

func (z *zipFile) load() error {
	if z.r == nil && z.err == nil {
		z.data, z.err = z.cache.load(z.name, z.f)
		z.f.Close()
		if z.err == nil {
			z.r = bytes.NewReader(*z.data)
		}
	}
	return z.err
}

func (z *zipFile) Read(p []byte) (int, error) {
	if err := z.load(); err != nil {
		return 0, err
	}
	return z.r.Read(p)
}

func (z *zipFile) ReadAt(p []byte, off int64) (int, error) {
	if err := z.load(); err != nil {
		return 0, err
	}
	return z.r.ReadAt(p, off)
}

func (z *zipFile) Seek(off int64, whence int) (int64, error) {
	if err := z.load(); err != nil {
		return 0, err
	}
	return z.r.Seek(off, whence)
}

func (z *zipFile) Stat() (fs.FileInfo, error) { return z.info, nil }

func (z *zipFile) Close() error {
	if z.r == nil && z.err == nil {
		return z.f.Close()
	}
	z.data, z.r = nil, nil
	return nil
}
