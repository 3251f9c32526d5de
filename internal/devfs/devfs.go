// Package devfs is the guest's /dev: the devices ordinary programs expect
// (null, zero, random and urandom, read and written as on Linux), the
// instance's standard streams as files (stdin, stdout, stderr), and the
// means for the guest's os.dup to duplicate a descriptor, which WASI
// preview1 cannot do (it has fd_renumber, no dup).
//
// A duplicate is a second descriptor on the same open file: its offset and
// flags are shared. The guest names the file by what fstat tells it: a
// device or stream by its name, a file of a tracked file system (see
// Open.Track) by its device and inode, opened again at .dup/DEV-INO, a name
// that is not listed. The host shares the one open file between the two
// handles and closes it with the last.
//
// It knows nothing of Python: the guest's shim (internal/abi/guest/
// snakepit_posix.py) holds the other half.
package devfs

import (
	"crypto/rand"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
)

// Dev is the device number of every file of /dev, as fstat reports it.
const Dev = 0x6465 // "de"

// DupDir is the directory, not listed, where a tracked file opens again.
const DupDir = ".dup"

type kind int

const (
	null kind = iota + 1
	zero
	random
	stdin
	stdout
	stderr
)

// names are the entries of /dev, sorted; a device's inode is its index+1.
var names = [...]string{"null", "random", "stderr", "stdin", "stdout", "urandom", "zero"}

var kinds = map[string]kind{"null": null, "zero": zero, "random": random, "urandom": random, "stdin": stdin, "stdout": stdout, "stderr": stderr}

// FS is one instance's /dev.
type FS struct {
	experimentalsys.UnimplementedFS
	out, err io.Writer
	open     *Open
}

// New returns a /dev whose stdout and stderr write to out and errOut (the
// writers the instance gives wazero for descriptors 1 and 2; stdin reads
// nothing, as the instance's does), and whose .dup serves the files open
// tracks (nil: none).
func New(out, errOut io.Writer, open *Open) *FS {
	return &FS{out: out, err: errOut, open: open}
}

func ino(name string) uint64 {
	for k, n := range names {
		if n == name {
			return uint64(k + 1)
		}
	}
	return 0
}

func devStat(name string) sys.Stat_t {
	return sys.Stat_t{Dev: Dev, Ino: ino(name), Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666, Nlink: 1}
}

var rootStat = sys.Stat_t{Dev: Dev, Ino: uint64(len(names) + 1), Mode: fs.ModeDir | 0o755, Nlink: 2}

func clean(path string) string {
	if path == "" || path == "." {
		return "."
	}
	return strings.TrimPrefix(path, "./")
}

// OpenFile opens the root, a device, or a tracked file (.dup/DEV-INO). The
// directory is read-only: new names fail with EROFS.
func (d *FS) OpenFile(path string, flag experimentalsys.Oflag, _ fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	path = clean(path)
	access := flag & (experimentalsys.O_RDONLY | experimentalsys.O_WRONLY | experimentalsys.O_RDWR)
	if path == "." {
		if access != experimentalsys.O_RDONLY {
			return nil, experimentalsys.EISDIR
		}
		f := &dir{}
		f.seek = f.rewind
		return f, 0
	}
	if rest, ok := strings.CutPrefix(path, DupDir+"/"); ok {
		return d.dup(rest)
	}
	k, ok := kinds[path]
	switch {
	case !ok && flag&experimentalsys.O_CREAT != 0:
		return nil, experimentalsys.EROFS
	case !ok:
		return nil, experimentalsys.ENOENT
	case flag&experimentalsys.O_CREAT != 0 && flag&experimentalsys.O_EXCL != 0:
		return nil, experimentalsys.EEXIST
	case flag&experimentalsys.O_DIRECTORY != 0:
		return nil, experimentalsys.ENOTDIR
	}
	f := &device{kind: k, stat: devStat(path), read: access != experimentalsys.O_WRONLY, write: access != experimentalsys.O_RDONLY}
	f.seek = f.seekTo
	switch k {
	case stdout:
		f.w = d.out
	case stderr:
		f.w = d.err
	}
	return f, 0
}

func (d *FS) dup(name string) (experimentalsys.File, experimentalsys.Errno) {
	dev, inode, ok := strings.Cut(name, "-")
	if !ok || d.open == nil {
		return nil, experimentalsys.ENOENT
	}
	dv, err1 := strconv.ParseUint(dev, 10, 64)
	in, err2 := strconv.ParseUint(inode, 10, 64)
	if err1 != nil || err2 != nil {
		return nil, experimentalsys.ENOENT
	}
	return d.open.dup(key{dv, in})
}

func (d *FS) Stat(path string) (sys.Stat_t, experimentalsys.Errno) {
	path = clean(path)
	if path == "." {
		return rootStat, 0
	}
	if _, ok := kinds[path]; ok {
		return devStat(path), 0
	}
	return sys.Stat_t{}, experimentalsys.ENOENT
}

func (d *FS) Lstat(path string) (sys.Stat_t, experimentalsys.Errno) { return d.Stat(path) }

// deny refuses a change to the read-only /dev: EROFS, or ENOENT for a
// missing name that must exist (as mountfs.ReadOnly does).
func (d *FS) deny(path string, mustExist bool) experimentalsys.Errno {
	if _, errno := d.Stat(path); errno != 0 && mustExist {
		return errno
	}
	return experimentalsys.EROFS
}

func (d *FS) Mkdir(path string, _ fs.FileMode) experimentalsys.Errno {
	if _, errno := d.Stat(path); errno == 0 {
		return experimentalsys.EEXIST
	}
	return experimentalsys.EROFS
}

func (d *FS) Chmod(path string, _ fs.FileMode) experimentalsys.Errno { return d.deny(path, true) }
func (d *FS) Rename(from, _ string) experimentalsys.Errno            { return d.deny(from, true) }
func (d *FS) Rmdir(path string) experimentalsys.Errno                { return d.deny(path, true) }
func (d *FS) Unlink(path string) experimentalsys.Errno               { return d.deny(path, true) }
func (d *FS) Link(from, _ string) experimentalsys.Errno              { return d.deny(from, true) }
func (d *FS) Symlink(_, to string) experimentalsys.Errno             { return d.deny(to, false) }
func (d *FS) Utimens(path string, _, _ int64) experimentalsys.Errno {
	return d.deny(path, true)
}

func (d *FS) Readlink(path string) (string, experimentalsys.Errno) {
	if _, errno := d.Stat(path); errno != 0 {
		return "", errno
	}
	return "", experimentalsys.EINVAL
}

// dir is the root directory, read by Readdir.
type dir struct {
	seeker[int64]
	next int
}

// seeker gives a file sys.File's Seek, which returns an Errno where
// io.Seeker returns an error: go vet's stdmethods check reports any method
// declared as Seek(int64, int) that is not io.Seeker's (scratchfs does the
// same).
type seeker[I ~int64] struct {
	experimentalsys.UnimplementedFile
	seek func(int64, int) (int64, experimentalsys.Errno)
}

func (s seeker[I]) Seek(off I, whence int) (I, experimentalsys.Errno) {
	n, errno := s.seek(int64(off), whence)
	return I(n), errno
}

func (f *dir) IsDir() (bool, experimentalsys.Errno)      { return true, 0 }
func (f *dir) Stat() (sys.Stat_t, experimentalsys.Errno) { return rootStat, 0 }

func (f *dir) rewind(off int64, whence int) (int64, experimentalsys.Errno) {
	if off != 0 || whence != io.SeekStart {
		return 0, experimentalsys.EINVAL
	}
	f.next = 0
	return 0, 0
}

func (f *dir) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	rest := names[f.next:]
	if n > 0 && len(rest) > n {
		rest = rest[:n]
	}
	out := make([]experimentalsys.Dirent, len(rest))
	for k, name := range rest {
		out[k] = experimentalsys.Dirent{Ino: ino(name), Name: name, Type: fs.ModeDevice | fs.ModeCharDevice}
	}
	f.next += len(rest)
	return out, 0
}

// device is an open device or stream. Access is checked here: wazero
// passes reads and writes to the file whatever mode it was opened in.
type device struct {
	seeker[int64]
	kind        kind
	stat        sys.Stat_t
	read, write bool
	w           io.Writer // stdout, stderr
	nonblock    bool
}

func (f *device) IsDir() (bool, experimentalsys.Errno)      { return false, 0 }
func (f *device) Stat() (sys.Stat_t, experimentalsys.Errno) { return f.stat, 0 }
func (f *device) IsAppend() bool                            { return false }
func (f *device) SetAppend(bool) experimentalsys.Errno      { return 0 }
func (f *device) IsNonblock() bool                          { return f.nonblock }

func (f *device) SetNonblock(on bool) experimentalsys.Errno {
	f.nonblock = on
	return 0
}

func (f *device) Poll(experimentalsys.Pflag, int32) (bool, experimentalsys.Errno) { return true, 0 }

func (f *device) Read(buf []byte) (int, experimentalsys.Errno) {
	if !f.read {
		return 0, experimentalsys.EBADF
	}
	switch f.kind {
	case zero:
		clear(buf)
		return len(buf), 0
	case random:
		if _, err := rand.Read(buf); err != nil {
			return 0, experimentalsys.EIO
		}
		return len(buf), 0
	case stdout, stderr:
		// A terminal's stream is readable; a pipe's write end is not.
		return 0, experimentalsys.EBADF
	}
	return 0, 0 // null and stdin: end of file
}

func (f *device) Pread(buf []byte, _ int64) (int, experimentalsys.Errno) {
	if f.kind == stdin || f.kind == stdout || f.kind == stderr {
		return 0, experimentalsys.ENOSYS
	}
	return f.Read(buf)
}

func (f *device) Write(buf []byte) (int, experimentalsys.Errno) {
	if !f.write {
		return 0, experimentalsys.EBADF
	}
	switch f.kind {
	case stdout, stderr:
		n, _ := f.w.Write(buf)
		return n, 0
	case stdin:
		return 0, experimentalsys.EBADF
	}
	// null swallows; Linux accepts writes to zero, and to urandom and
	// random (mixed into the pool, never credited): all discarded here.
	return len(buf), 0
}

func (f *device) Pwrite(buf []byte, _ int64) (int, experimentalsys.Errno) {
	if f.kind == stdin || f.kind == stdout || f.kind == stderr {
		return 0, experimentalsys.ENOSYS
	}
	return f.Write(buf)
}

// Seek succeeds at offset 0 on the devices, as on Linux. The streams are
// pipes to the host, which Linux answers with ESPIPE; wazero's Errno has
// none, and its own stdio answers ENOSYS: so do these, alike.
func (f *device) seekTo(int64, int) (int64, experimentalsys.Errno) {
	if f.kind == stdin || f.kind == stdout || f.kind == stderr {
		return 0, experimentalsys.ENOSYS
	}
	return 0, 0
}

func (f *device) Truncate(int64) experimentalsys.Errno { return 0 }
func (f *device) Sync() experimentalsys.Errno          { return 0 }
func (f *device) Datasync() experimentalsys.Errno      { return 0 }
func (f *device) Utimens(int64, int64) experimentalsys.Errno {
	return experimentalsys.EROFS
}

// Open tracks the regular files open on the file systems it wraps, by
// device and inode, so that /dev/.dup can open one again as the same file.
// Its size is the number of files open, which the instance caps.
type Open struct {
	mu sync.Mutex
	m  map[key][]*shared
}

type key struct{ dev, ino uint64 }

// Track wraps f so that its regular files can be duplicated.
func (o *Open) Track(f experimentalsys.FS) experimentalsys.FS {
	// A pointer: wazero compares file systems (a rename across mounts).
	return &tracked{FS: f, open: o}
}

type tracked struct {
	experimentalsys.FS
	open *Open
}

func (t *tracked) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	f, errno := t.FS.OpenFile(path, flag, perm)
	if errno != 0 {
		return nil, errno
	}
	st, errno := f.Stat()
	if errno != 0 || !st.Mode.IsRegular() || st.Ino == 0 {
		return f, 0 // directories and the rest are not duplicated
	}
	s := &shared{File: f, key: key{st.Dev, st.Ino}, open: t.open, refs: 1}
	t.open.mu.Lock()
	if t.open.m == nil {
		t.open.m = map[key][]*shared{}
	}
	t.open.m[s.key] = append(t.open.m[s.key], s)
	t.open.mu.Unlock()
	return &handle{shared: s}, 0
}

// dup returns a new handle on the one open file with k; ENOENT if none is
// open, ENOTSUP if several are (separate opens of one file: which is meant
// cannot be told).
func (o *Open) dup(k key) (experimentalsys.File, experimentalsys.Errno) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch l := o.m[k]; len(l) {
	case 0:
		return nil, experimentalsys.ENOENT
	case 1:
		l[0].refs++
		return &handle{shared: l[0]}, 0
	}
	return nil, experimentalsys.ENOTSUP
}

// shared is one open file, held by its handles.
type shared struct {
	experimentalsys.File
	key  key
	open *Open
	refs int // under open.mu
}

// handle is a descriptor's hold on a shared open file.
type handle struct {
	*shared
	closed bool // wazero closes a file once; this keeps the count right if not
}

func (h *handle) Close() experimentalsys.Errno {
	if h.closed {
		return 0
	}
	h.closed = true
	o := h.open
	o.mu.Lock()
	h.refs--
	last := h.refs == 0
	if last {
		l := o.m[h.key]
		for k, s := range l {
			if s == h.shared {
				l = append(l[:k], l[k+1:]...)
				break
			}
		}
		if len(l) == 0 {
			delete(o.m, h.key)
		} else {
			o.m[h.key] = l
		}
	}
	o.mu.Unlock()
	if last {
		return h.File.Close()
	}
	return 0
}
