package scratchfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// The host's side: files in before a call, the changed files out after it,
// and a read-only fs.FS view between calls.

// CheckPath reports why p, a slash-separated path relative to the root, is
// not a name the tree could hold (ENAMETOOLONG, EPERM for ".."), or 0.
func CheckPath(p string) experimentalsys.Errno {
	_, _, errno := splitPath(p)
	return errno
}

// Gen returns s's generation: ChangedSince(Gen()) reports what changes
// after this call.
func (s *FS) Gen() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// WriteFile creates or replaces the file at p (relative to the root) with
// data, creating the directories above it. Past a cap it fails with
// ErrNoSpace and leaves an existing file's content as it was.
func (s *FS) WriteFile(p string, data []byte) experimentalsys.Errno {
	parts, _, errno := splitPath(p)
	if errno != 0 {
		return errno
	}
	if len(parts) == 0 {
		return experimentalsys.EISDIR
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen {
		return experimentalsys.EROFS
	}
	s.root = s.own(s.root)
	d := s.root
	for _, p := range parts[:len(parts)-1] {
		c := d.child(p)
		switch {
		case c == nil:
			if !s.takeEntry() {
				return ErrNoSpace
			}
			c = s.newNode(true, 0o755)
			s.touch(d)
		case !c.dir:
			return experimentalsys.ENOTDIR
		default:
			c = s.own(c)
		}
		d.setChild(p, c)
		d = c
	}
	name := parts[len(parts)-1]
	n := d.child(name)
	switch {
	case n == nil:
		if !s.takeEntry() {
			return ErrNoSpace
		}
		n = s.newNode(false, 0o644)
		d.setChild(name, n)
		s.touch(d)
	case n.dir:
		return experimentalsys.EISDIR
	default:
		n = s.own(n)
		d.setChild(name, n)
	}
	// Checked first, so that a file too large leaves the old content.
	if size := int64(len(data)); size > s.maxBytes || size-int64(len(n.data)) > s.maxBytes-s.bytes {
		return ErrNoSpace
	}
	s.resize(n, 0)
	if errno := s.resize(n, int64(len(data))); errno != 0 {
		return errno
	}
	copy(n.data, data)
	s.touch(n)
	return 0
}

// maxOmitted bounds Result.FilesOmitted.
const maxOmitted = 1000

// ChangedSince collects the files whose content changed, or that were
// created or moved, after gen (from Gen): path (relative to the root) to a
// copy of the content, in path order, while their paths and contents fit in
// maxOut; the paths of the files left out are in omitted (the first
// maxOmitted). Paths longer than MaxPathLen are skipped: the guest cannot
// name them either.
func (s *FS) ChangedSince(gen uint64, maxOut int64) (files map[string][]byte, omitted []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == gen {
		return nil, nil
	}
	type item struct {
		n     *node
		path  string
		moved bool
	}
	// Depth first, children pushed in reverse, so files come in path order.
	stack := []item{{n: s.root}}
	var total int64
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		moved := it.moved || it.n.moved > gen
		if !it.n.dir {
			if it.n.gen <= gen && !moved {
				continue
			}
			// Names count too: 10,000 empty files with 4 KB paths are 40 MB.
			if size := int64(len(it.n.data) + len(it.path)); size <= maxOut-total {
				if files == nil {
					files = make(map[string][]byte)
				}
				files[it.path] = bytes.Clone(it.n.data)
				if files[it.path] == nil {
					files[it.path] = []byte{}
				}
				total += size
			} else if len(omitted) < maxOmitted {
				omitted = append(omitted, it.path)
			}
			continue
		}
		for k := len(it.n.ents) - 1; k >= 0; k-- {
			e := it.n.ents[k]
			p := e.name
			if it.path != "" {
				p = it.path + "/" + e.name
			}
			if len(p) <= MaxPathLen {
				stack = append(stack, item{n: e.n, path: p, moved: moved})
			}
		}
	}
	return files, omitted
}

// View returns a read-only fs.FS of a tree for the host, with names
// relative to its root. get, called at each use, returns the tree, or the
// error the use fails with (say, its owner has closed): the view may
// outlive the tree. A use sees the tree as it is then; an Open'ed file or
// directory holds its content as it was at Open.
func View(get func() (*FS, error)) fs.FS { return view{get} }

type view struct {
	get func() (*FS, error)
}

var (
	_ fs.ReadFileFS = view{}
	_ fs.ReadDirFS  = view{}
	_ fs.StatFS     = view{}
)

// node finds name (an fs.FS name) under the view's lock; the caller unlocks.
func (v view) node(op, name string) (*FS, *node, error) {
	if !fs.ValidPath(name) {
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	s, err := v.get()
	if err != nil {
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	parts, _, errno := splitPath(name)
	if errno != 0 {
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	s.mu.Lock()
	n, errno := s.lookup(parts)
	if errno != 0 {
		s.mu.Unlock()
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return s, n, nil
}

func (v view) ReadFile(name string) ([]byte, error) {
	s, n, err := v.node("read", name)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if n.dir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	return bytes.Clone(n.data), nil
}

func (v view) Stat(name string) (fs.FileInfo, error) {
	s, n, err := v.node("stat", name)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return infoOf(n, path.Base(name)), nil
}

func (v view) ReadDir(name string) ([]fs.DirEntry, error) {
	s, n, err := v.node("readdir", name)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if !n.dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	out := make([]fs.DirEntry, len(n.ents))
	for k, e := range n.ents {
		out[k] = fs.FileInfoToDirEntry(infoOf(e.n, e.name))
	}
	return out, nil
}

// Open returns the file's content or the directory's entries as they are
// now: later changes by the guest do not show through it.
func (v view) Open(name string) (fs.File, error) {
	s, n, err := v.node("open", name)
	if err != nil {
		return nil, err
	}
	info := infoOf(n, path.Base(name))
	if !n.dir {
		data := bytes.Clone(n.data)
		s.mu.Unlock()
		return &viewFile{info: info, r: bytes.NewReader(data)}, nil
	}
	s.mu.Unlock()
	ents, err := v.ReadDir(name)
	if err != nil {
		return nil, err
	}
	return &viewFile{info: info, ents: ents}, nil
}

type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime int64
}

func infoOf(n *node, name string) fileInfo {
	fi := fileInfo{name: name, size: int64(len(n.data)), mode: n.mode, mtime: n.mtime}
	if n.dir {
		fi.mode |= fs.ModeDir
		fi.size = 0
	}
	return fi
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi fileInfo) ModTime() time.Time { return time.Unix(0, fi.mtime) }
func (fi fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi fileInfo) Sys() any           { return nil }

type viewFile struct {
	info fs.FileInfo
	r    *bytes.Reader
	ents []fs.DirEntry
}

func (f *viewFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *viewFile) Read(p []byte) (int, error) {
	if f.r == nil {
		return 0, &fs.PathError{Op: "read", Path: f.info.Name(), Err: errors.New("is a directory")}
	}
	return f.r.Read(p)
}

func (f *viewFile) Close() error { return nil }

func (f *viewFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if f.r != nil {
		return nil, &fs.PathError{Op: "readdir", Path: f.info.Name(), Err: errors.New("not a directory")}
	}
	if n <= 0 {
		out := f.ents
		f.ents = nil
		return out, nil
	}
	if len(f.ents) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(f.ents))
	out := slices.Clone(f.ents[:k])
	f.ents = f.ents[k:]
	return out, nil
}

// HostName says why name, a scratch file's name as ChangedSince and View
// give it, is not safe as a path on this host, or returns "" when it is.
// The guest chooses these names: an ordinary file on Linux ("..\..\x",
// "C:\x", "con") is a path out of a folder or a device on Windows, and a
// control character ("a\nb") forges lines in logs and listings.
func HostName(name string) string {
	switch {
	case !fs.ValidPath(name) || name == ".":
		return "is not a relative slash-separated path"
	case strings.ContainsAny(name, `\:`):
		return `holds a \ or a :, which a Windows host reads as a separator or a drive`
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "holds a control character"
	case !filepath.IsLocal(filepath.FromSlash(name)):
		// On Windows this also refuses reserved names (NUL, COM1, ...).
		return "is not a local path on this host"
	}
	return ""
}
