package scratchfs

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// FuzzFS runs sequences of operations, decoded from the input, on FSes and
// on a model of each: paths to contents, a set of directories, and the
// files unlinked while open. After every operation the FS must hold what
// the model holds, in content, modes and the counts against the caps;
// every operation must fail exactly when the model says, with its errno.
// Freezes and clones start models of their own, so a write that showed
// through from a clone to its base, or between clones, is caught.
func FuzzFS(f *testing.F) {
	for _, seed := range [][]byte{
		// caps: 1,020 bytes, 15 entries. Create a, write, read back.
		{255, 15, opOpen, 0, 6, opWrite, 0, 10, 1, opSeek, 0, 0, 0, opRead, 0, 20},
		// mkdir a, files in it, rename over one another and away.
		{255, 15, opMkdir, 0, opWriteFile, 3, 5, 2, opWriteFile, 4, 7, 3, opRename, 3, 4, opRename, 0, 1, opList, 1, opRename, 1, 7},
		// Caps: 8 bytes, 2 entries.
		{2, 2, opOpen, 0, 6, opWrite, 0, 8, 1, opWrite, 0, 1, 1, opMkdir, 1, opMkdir, 2, opTruncate, 0, 9},
		// Unlinked while open: still counted until the close.
		{4, 3, opOpen, 0, 6, opWrite, 0, 16, 1, opUnlink, 0, opWriteFile, 1, 16, 2, opClose, 0, opWriteFile, 1, 16, 2},
		// Changes since a mark, through a rename of a directory.
		{255, 15, opMkdir, 0, opWriteFile, 3, 5, 2, opChanged, 0, opRename, 0, 1, opWriteFile, 2, 3, 3, opChanged, 255},
		// Freeze with a file open, write in the clones, reset one.
		{255, 15, opWriteFile, 0, 5, 1, opOpen, 0, 2, opSnapshot, opOpen, 0, 2, opPwrite, 0, 9, 3, 4, opClose, 0,
			opSwitch, 1, opChmod, 12, 7, opUnlink, 0, opSwitch, 0, opReset, opStat, 0},
		// Bad names, the root, a write past the end.
		{255, 15, opOpen, 13, 6, opMkdir, 14, opRmdir, 12, opUnlink, 12, opOpen, 12, 2, opRename, 12, 0,
			opOpen, 0, 6, opSeek, 0, 0, 50, opWrite, 0, 3, 0, opStat, 0},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := &input{b: b}
		r := &run{t: t, maxBytes: int64(in.next()) * 4, maxFiles: int(in.next() % 16)}
		r.trees = []*tree{&tree{s: New(r.maxBytes, r.maxFiles), m: newModel()}}
		for k := 0; k < 300 && len(in.b) > 0; k++ {
			r.step(in, byte(k))
			r.check(r.trees[r.cur])
		}
		for _, tr := range r.trees {
			r.check(tr)
			r.checkImage(tr)
		}
		for _, base := range r.bases {
			r.checkTree(base.s, base.m)
		}
	})
}

const (
	opOpen = iota
	opClose
	opWrite
	opPwrite
	opRead
	opSeek
	opTruncate
	opMkdir
	opRmdir
	opUnlink
	opRename
	opChmod
	opStat
	opList
	opWriteFile
	opChanged
	opSnapshot
	opReset
	opSwitch
	numOps
)

// fuzzPaths are what the operations name: few, so that they meet.
var fuzzPaths = []string{
	"a", "b", "c", "a/a", "a/b", "b/a", "b/b", "c/a", "a/a/a", "a/a/b", "a/b/a", "b/a/a",
	".", "x/../a", strings.Repeat("n", maxNameLen+1),
}

type input struct{ b []byte }

// next returns the next byte of the input, 0 once it is used up.
func (in *input) next() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *input) path() string { return fuzzPaths[int(in.next())%len(fuzzPaths)] }

// mfile is a file or directory of the model.
type mfile struct {
	data   []byte
	mode   fs.FileMode
	opens  int
	linked bool // in the tree; else held open after an unlink
}

type model struct {
	files   map[string]*mfile
	dirs    map[string]*mfile // "" is the root
	orphans map[*mfile]bool   // removed, still open: still counted
}

func newModel() *model {
	return &model{files: map[string]*mfile{}, dirs: map[string]*mfile{"": {mode: 0o777, linked: true}}, orphans: map[*mfile]bool{}}
}

// frozen copies the tree, as Freeze leaves it for clones: what is held
// open after its removal is not in it.
func (m *model) frozen() *model {
	c := newModel()
	for p, d := range m.dirs {
		c.dirs[p] = &mfile{mode: d.mode, linked: true}
	}
	for p, f := range m.files {
		c.files[p] = &mfile{data: bytes.Clone(f.data), mode: f.mode, linked: true}
	}
	return c
}

func (m *model) bytes() int64 {
	var n int64
	for _, f := range m.files {
		n += int64(len(f.data))
	}
	for f := range m.orphans {
		n += int64(len(f.data))
	}
	return n
}

func (m *model) entries() int { return len(m.files) + len(m.dirs) - 1 + len(m.orphans) }

// split is splitPath for the model: the fuzz paths have no trailing slash.
func split(p string) ([]string, experimentalsys.Errno) {
	var parts []string
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "" || c == ".":
		case c == "..":
			return nil, experimentalsys.EPERM
		case len(c) > maxNameLen:
			return nil, experimentalsys.ENAMETOOLONG
		default:
			parts = append(parts, c)
		}
	}
	return parts, 0
}

// walk checks that the first n components of parts name directories.
func (m *model) walk(parts []string, n int) experimentalsys.Errno {
	for k := 1; k <= n; k++ {
		q := strings.Join(parts[:k], "/")
		if _, ok := m.files[q]; ok {
			return experimentalsys.ENOTDIR
		}
		if _, ok := m.dirs[q]; !ok {
			return experimentalsys.ENOENT
		}
	}
	return 0
}

func (m *model) parent(parts []string) experimentalsys.Errno { return m.walk(parts, len(parts)-1) }

func (m *model) children(dir string) []string {
	var out []string
	for _, p := range slices.Concat(slices.Collect(maps.Keys(m.files)), slices.Collect(maps.Keys(m.dirs))) {
		if p != "" && parentOf(p) == dir {
			out = append(out, p[strings.LastIndexByte(p, '/')+1:])
		}
	}
	slices.Sort(out)
	return out
}

func parentOf(p string) string {
	if k := strings.LastIndexByte(p, '/'); k >= 0 {
		return p[:k]
	}
	return ""
}

// remove takes the file or directory at p out of the tree.
func (m *model) remove(p string) {
	n := m.files[p]
	if n != nil {
		delete(m.files, p)
	} else {
		n = m.dirs[p]
		delete(m.dirs, p)
	}
	n.linked = false
	if n.opens > 0 {
		m.orphans[n] = true
	}
}

// tree is one FS and its model, with the files open on it.
type tree struct {
	s       *FS
	m       *model
	handles []*handle
	base    *frozenTree // what ResetTo returns to; nil for the first FS
	marked  bool        // changed and mark are valid
	mark    uint64
	changed map[*mfile]bool
}

type frozenTree struct {
	s *FS
	m *model
}

type handle struct {
	f                   experimentalsys.File
	file                *mfile // nil for a directory
	dir                 *mfile // nil for a file
	read, write, append bool
	off                 int64
}

type run struct {
	t        *testing.T
	maxBytes int64
	maxFiles int
	trees    []*tree
	cur      int
	bases    []*frozenTree
	log      []string
}

func (r *run) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s\nafter:\n%s", fmt.Sprintf(format, args...), strings.Join(r.log[max(0, len(r.log)-40):], "\n"))
}

// expect fails the run unless the FS's errno is the model's.
func (r *run) expect(op string, got, want experimentalsys.Errno) {
	r.t.Helper()
	r.log = append(r.log, fmt.Sprintf("%s = %v", op, got))
	if got != want {
		r.fail("%s: errno %v, the model says %v", op, got, want)
	}
}

// touched records a change of f's content, or of its path, for ChangedSince.
func (tr *tree) touched(files ...*mfile) {
	if tr.marked {
		for _, f := range files {
			tr.changed[f] = true
		}
	}
}

func (r *run) handle(tr *tree, in *input) (int, *handle) {
	k := int(in.next())
	if len(tr.handles) == 0 {
		return -1, nil
	}
	k %= len(tr.handles)
	return k, tr.handles[k]
}

// data returns n bytes that differ from one write to the next.
func data(n int, seed byte) []byte {
	b := make([]byte, n)
	for k := range b {
		b[k] = seed + byte(k)*7 + 1
	}
	return b
}

func (r *run) step(in *input, seed byte) {
	tr := r.trees[r.cur]
	m := tr.m
	switch op := in.next() % numOps; op {
	case opOpen:
		p, flags := in.path(), in.next()
		if len(tr.handles) >= 8 {
			r.closeHandle(tr, 0)
		}
		r.open(tr, p, flags)
	case opClose:
		if k, _ := r.handle(tr, in); k >= 0 {
			r.closeHandle(tr, k)
		}
	case opWrite, opPwrite:
		_, h := r.handle(tr, in)
		off := int64(-1)
		if op == opPwrite {
			off = int64(in.next()) * 2
		}
		b := data(int(in.next()), seed)
		if h == nil {
			return
		}
		var got experimentalsys.Errno
		var n int
		if off < 0 {
			n, got = h.f.Write(b)
		} else {
			n, got = h.f.Pwrite(b, off)
		}
		want, end := r.write(tr, h, b, off)
		r.expect(fmt.Sprintf("write(%d bytes at %d)", len(b), off), got, want)
		if want == 0 {
			if n != len(b) {
				r.fail("wrote %d of %d bytes", n, len(b))
			}
			if off < 0 {
				h.off = end
			}
		}
	case opRead:
		_, h := r.handle(tr, in)
		buf := make([]byte, in.next())
		if h == nil {
			return
		}
		n, got := h.f.Read(buf)
		var want experimentalsys.Errno
		var wantData []byte
		switch {
		case h.file == nil:
			want = experimentalsys.EISDIR
		case !h.read:
			want = experimentalsys.EBADF
		case h.off < int64(len(h.file.data)):
			wantData = h.file.data[h.off:]
			wantData = wantData[:min(len(wantData), len(buf))]
		}
		r.expect(fmt.Sprintf("read(%d at %d)", len(buf), h.off), got, want)
		if !bytes.Equal(buf[:n], wantData) {
			r.fail("read %q, the model holds %q", buf[:n], wantData)
		}
		h.off += int64(n)
	case opSeek:
		_, h := r.handle(tr, in)
		whence, off := int(in.next()%3), int64(int8(in.next()))
		if h == nil {
			return
		}
		got, errno := h.f.Seek(off, whence)
		want, wantErrno := off, experimentalsys.Errno(0)
		switch {
		case h.file == nil && (off != 0 || whence != io.SeekStart):
			wantErrno = experimentalsys.EINVAL
		case h.file == nil:
		case whence == io.SeekCurrent:
			want += h.off
		case whence == io.SeekEnd:
			want += int64(len(h.file.data))
		}
		if want < 0 {
			wantErrno = experimentalsys.EINVAL
		}
		r.expect(fmt.Sprintf("seek(%d, %d)", off, whence), errno, wantErrno)
		if wantErrno == 0 {
			if got != want {
				r.fail("seek to %d, the model says %d", got, want)
			}
			if h.file != nil {
				h.off = want
			}
		}
	case opTruncate:
		_, h := r.handle(tr, in)
		size := int64(in.next()) * 2
		if h == nil {
			return
		}
		got := h.f.Truncate(size)
		var want experimentalsys.Errno
		switch {
		case h.file == nil:
			want = experimentalsys.EISDIR
		case !h.write:
			want = experimentalsys.EBADF
		default:
			want = r.resize(tr, h.file, size)
		}
		if want == 0 {
			tr.touched(h.file)
		}
		r.expect(fmt.Sprintf("truncate(%d)", size), got, want)
	case opMkdir:
		p := in.path()
		parts, want := split(p)
		if want == 0 {
			q := strings.Join(parts, "/")
			switch _, isDir := m.dirs[q]; {
			case len(parts) == 0:
				want = experimentalsys.EEXIST
			case m.parent(parts) != 0:
				want = m.parent(parts)
			case m.files[q] != nil || isDir:
				want = experimentalsys.EEXIST
			case m.entries() >= r.maxFiles:
				want = ErrNoSpace
			default:
				m.dirs[q] = &mfile{mode: 0o750, linked: true}
			}
		}
		r.expect("mkdir "+p, tr.s.Mkdir(p, 0o750), want)
	case opRmdir, opUnlink:
		p := in.path()
		parts, want := split(p)
		if want == 0 {
			q := strings.Join(parts, "/")
			_, isDir := m.dirs[q]
			switch {
			case len(parts) == 0 && op == opRmdir:
				want = experimentalsys.EINVAL
			case len(parts) == 0:
				want = experimentalsys.EISDIR
			case m.parent(parts) != 0:
				want = m.parent(parts)
			case m.files[q] == nil && !isDir:
				want = experimentalsys.ENOENT
			case op == opRmdir && !isDir:
				want = experimentalsys.ENOTDIR
			case op == opRmdir && len(m.children(q)) > 0:
				want = experimentalsys.ENOTEMPTY
			case isDir && op != opRmdir:
				want = experimentalsys.EISDIR
			default:
				m.remove(q)
			}
		}
		var got experimentalsys.Errno
		if op == opRmdir {
			got = tr.s.Rmdir(p)
		} else {
			got = tr.s.Unlink(p)
		}
		r.expect(fmt.Sprintf("rmdir/unlink(%d) %s", op, p), got, want)
	case opRename:
		from, to := in.path(), in.path()
		r.expect("rename "+from+" "+to, tr.s.Rename(from, to), r.rename(tr, from, to))
	case opChmod:
		p, mode := in.path(), fs.FileMode(in.next())
		parts, want := split(p)
		q := strings.Join(parts, "/")
		switch _, isDir := m.dirs[q]; {
		case want != 0:
		case len(parts) > 0 && m.parent(parts) != 0:
			want = m.parent(parts)
		case isDir:
			m.dirs[q].mode = mode
		case m.files[q] != nil:
			m.files[q].mode = mode
		default:
			want = experimentalsys.ENOENT
		}
		r.expect(fmt.Sprintf("chmod %s %o", p, mode), tr.s.Chmod(p, mode), want)
	case opStat:
		p := in.path()
		st, got := tr.s.Stat(p)
		parts, want := split(p)
		q := strings.Join(parts, "/")
		if want == 0 && len(parts) > 0 {
			want = m.parent(parts)
			if _, isDir := m.dirs[q]; want == 0 && m.files[q] == nil && !isDir {
				want = experimentalsys.ENOENT
			}
		}
		r.expect("stat "+p, got, want)
		if f := m.files[q]; want == 0 && f != nil && (st.Size != int64(len(f.data)) || st.Mode != f.mode) {
			r.fail("stat %s: size %d mode %v, the model says %d %v", p, st.Size, st.Mode, len(f.data), f.mode)
		}
		if d := m.dirs[q]; want == 0 && d != nil && st.Mode != d.mode|fs.ModeDir {
			r.fail("stat %s: mode %v, the model says %v", p, st.Mode, d.mode|fs.ModeDir)
		}
	case opList:
		p := in.path()
		d, got := tr.s.OpenFile(p, experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0)
		parts, want := split(p)
		q := strings.Join(parts, "/")
		if want == 0 {
			want = m.walk(parts, len(parts)) // ENOTDIR for a file at the end too
		}
		r.expect("list "+p, got, want)
		if got != 0 {
			return
		}
		ents, errno := d.Readdir(-1)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name)
		}
		if errno != 0 || !slices.Equal(names, m.children(q)) {
			r.fail("list %s: %v %v, the model says %v", p, names, errno, m.children(q))
		}
		r.expect("close", d.Close(), 0)
	case opWriteFile:
		p, b := in.path(), data(int(in.next())*2, in.next())
		r.expect(fmt.Sprintf("WriteFile %s (%d bytes)", p, len(b)), tr.s.WriteFile(p, b), r.writeFile(tr, p, b))
	case opChanged:
		maxOut := int64(in.next()) * 8
		if maxOut == 255*8 {
			maxOut = 1 << 40
		}
		if !tr.marked {
			tr.marked, tr.mark, tr.changed = true, tr.s.Gen(), map[*mfile]bool{}
			r.log = append(r.log, "mark")
			return
		}
		r.checkChanged(tr, maxOut)
	case opSnapshot:
		r.snapshot(tr)
	case opReset:
		if tr.base == nil {
			return
		}
		for len(tr.handles) > 0 {
			r.closeHandle(tr, 0)
		}
		tr.s.ResetTo(tr.base.s)
		tr.m, tr.marked = tr.base.m.frozen(), false
		r.log = append(r.log, "reset")
	case opSwitch:
		r.cur = int(in.next()) % len(r.trees)
		r.log = append(r.log, fmt.Sprintf("switch to %d", r.cur))
	}
}

func (r *run) open(tr *tree, p string, flags byte) {
	acc := []experimentalsys.Oflag{experimentalsys.O_RDONLY, experimentalsys.O_WRONLY, experimentalsys.O_RDWR, experimentalsys.O_RDONLY}[flags&3]
	oflag := acc
	for bit, fl := range []experimentalsys.Oflag{experimentalsys.O_CREAT, experimentalsys.O_EXCL, experimentalsys.O_TRUNC, experimentalsys.O_APPEND, experimentalsys.O_DIRECTORY} {
		if flags&(4<<bit) != 0 {
			oflag |= fl
		}
	}
	creat, excl, trunc, dirOnly := oflag&experimentalsys.O_CREAT != 0, oflag&experimentalsys.O_EXCL != 0, oflag&experimentalsys.O_TRUNC != 0, oflag&experimentalsys.O_DIRECTORY != 0
	h := &handle{write: acc != experimentalsys.O_RDONLY, read: acc != experimentalsys.O_WRONLY, append: oflag&experimentalsys.O_APPEND != 0}
	f, got := tr.s.OpenFile(p, oflag, 0o640)

	m := tr.m
	parts, want := split(p)
	q := strings.Join(parts, "/")
	_, isDir := m.dirs[q]
	file := m.files[q]
	switch {
	case want != 0:
	case len(parts) == 0 && (h.write || trunc):
		want = experimentalsys.EISDIR
	case len(parts) == 0 && creat && excl:
		want = experimentalsys.EEXIST
	case len(parts) == 0:
	case m.parent(parts) != 0:
		want = m.parent(parts)
	case file == nil && !isDir && !creat:
		want = experimentalsys.ENOENT
	case file == nil && !isDir && dirOnly:
		want = experimentalsys.EISDIR
	case file == nil && !isDir && m.entries() >= r.maxFiles:
		want = ErrNoSpace
	case file == nil && !isDir:
		file = &mfile{mode: 0o640, linked: true}
		m.files[q] = file
		tr.touched(file)
	case creat && excl:
		want = experimentalsys.EEXIST
	case isDir && (h.write || trunc || creat):
		want = experimentalsys.EISDIR
	case !isDir && dirOnly:
		want = experimentalsys.ENOTDIR
	}
	r.expect(fmt.Sprintf("open %s %#x", p, oflag), got, want)
	if want != 0 {
		return
	}
	h.f = f
	if isDir {
		h.dir = m.dirs[q]
		h.dir.opens++
	} else {
		h.file = file
		file.opens++
		if trunc && h.write && len(file.data) > 0 {
			file.data = nil
			tr.touched(file)
		}
	}
	tr.handles = append(tr.handles, h)
}

func (r *run) closeHandle(tr *tree, k int) {
	h := tr.handles[k]
	tr.handles = slices.Delete(tr.handles, k, k+1)
	r.expect("close", h.f.Close(), 0)
	n := h.file
	if n == nil {
		n = h.dir
	}
	n.opens--
	if n.opens == 0 && !n.linked {
		delete(tr.m.orphans, n)
	}
}

// resize sets f's length in the model, or says why not.
func (r *run) resize(tr *tree, f *mfile, size int64) experimentalsys.Errno {
	old := int64(len(f.data))
	if size > old && (size > r.maxBytes || size-old > r.maxBytes-tr.m.bytes()) {
		return ErrNoSpace
	}
	if size <= old {
		f.data = f.data[:size]
	} else {
		f.data = append(f.data, make([]byte, size-old)...)
	}
	return 0
}

// write writes b at off (-1: the handle's offset, or the end if it
// appends) in the model, as POSIX says: all of b or, past a cap, nothing;
// a write of nothing changes nothing.
func (r *run) write(tr *tree, h *handle, b []byte, off int64) (experimentalsys.Errno, int64) {
	switch {
	case h.file == nil:
		return experimentalsys.EISDIR, 0
	case !h.write:
		return experimentalsys.EBADF, 0
	case off < 0 && h.append:
		off = int64(len(h.file.data))
	case off < 0:
		off = h.off
	}
	if len(b) == 0 {
		return 0, h.off
	}
	end := off + int64(len(b))
	if off > r.maxBytes || end > r.maxBytes {
		return ErrNoSpace, 0
	}
	if end > int64(len(h.file.data)) {
		if errno := r.resize(tr, h.file, end); errno != 0 {
			return errno, 0
		}
	}
	copy(h.file.data[off:], b)
	tr.touched(h.file)
	return 0, end
}

func (r *run) writeFile(tr *tree, p string, b []byte) experimentalsys.Errno {
	m := tr.m
	parts, errno := split(p)
	switch {
	case errno != 0:
		return errno
	case len(parts) == 0:
		return experimentalsys.EISDIR
	}
	// The directories above are made one by one, and stay if a later one
	// fails.
	for k := 1; k < len(parts); k++ {
		q := strings.Join(parts[:k], "/")
		_, isDir := m.dirs[q]
		switch {
		case m.files[q] != nil:
			return experimentalsys.ENOTDIR
		case isDir:
		case m.entries() >= r.maxFiles:
			return ErrNoSpace
		default:
			m.dirs[q] = &mfile{mode: 0o755, linked: true}
		}
	}
	q := strings.Join(parts, "/")
	f := m.files[q]
	if _, isDir := m.dirs[q]; isDir {
		return experimentalsys.EISDIR
	}
	if f == nil {
		if m.entries() >= r.maxFiles {
			return ErrNoSpace
		}
		// Created before the size is checked: it stays, empty, if b does
		// not fit.
		f = &mfile{mode: 0o644, linked: true}
		m.files[q] = f
		tr.touched(f)
	}
	if size := int64(len(b)); size > r.maxBytes || size-int64(len(f.data)) > r.maxBytes-m.bytes() {
		return ErrNoSpace
	}
	f.data = bytes.Clone(b)
	tr.touched(f)
	return 0
}

// rename applies POSIX's rules for rename(2) to the model.
func (r *run) rename(tr *tree, from, to string) experimentalsys.Errno {
	m := tr.m
	fp, errno := split(from)
	if errno != 0 {
		return errno
	}
	tp, errno := split(to)
	switch {
	case errno != 0:
		return errno
	case len(fp) == 0 || len(tp) == 0:
		return experimentalsys.EINVAL
	case len(tp) > len(fp) && slices.Equal(tp[:len(fp)], fp):
		return experimentalsys.EINVAL // a directory into itself
	case m.parent(fp) != 0:
		return m.parent(fp)
	}
	fq, tq := strings.Join(fp, "/"), strings.Join(tp, "/")
	_, fromDir := m.dirs[fq]
	if m.files[fq] == nil && !fromDir {
		return experimentalsys.ENOENT
	}
	if errno := m.parent(tp); errno != 0 {
		return errno
	}
	if fq == tq {
		return 0
	}
	_, toDir := m.dirs[tq]
	switch {
	case fromDir && m.files[tq] != nil:
		return experimentalsys.ENOTDIR
	case !fromDir && toDir:
		return experimentalsys.EISDIR
	case toDir && len(m.children(tq)) > 0:
		return experimentalsys.ENOTEMPTY
	case toDir || m.files[tq] != nil:
		m.remove(tq)
	}
	// Move fq and everything under it.
	for _, p := range slices.Collect(maps.Keys(m.dirs)) {
		if rest, ok := under(p, fq); ok {
			d := m.dirs[p]
			delete(m.dirs, p)
			m.dirs[tq+rest] = d
		}
	}
	for _, p := range slices.Collect(maps.Keys(m.files)) {
		if rest, ok := under(p, fq); ok {
			f := m.files[p]
			delete(m.files, p)
			m.files[tq+rest] = f
			tr.touched(f)
		}
	}
	return 0
}

// under reports whether p is dir or below it, and the rest of p.
func under(p, dir string) (string, bool) {
	if p == dir {
		return "", true
	}
	rest, ok := strings.CutPrefix(p, dir+"/")
	return "/" + rest, ok
}

// checkChanged compares ChangedSince with the files the model saw change:
// every one that fits in maxOut, in path order, and the others omitted.
func (r *run) checkChanged(tr *tree, maxOut int64) {
	files, omitted := tr.s.ChangedSince(tr.mark, maxOut)
	var paths []string
	for p, f := range tr.m.files {
		if tr.changed[f] {
			paths = append(paths, p)
		}
	}
	slices.SortFunc(paths, func(a, b string) int { return slices.Compare(strings.Split(a, "/"), strings.Split(b, "/")) })
	want := map[string][]byte{}
	var wantOmitted []string
	var total int64
	for _, p := range paths {
		data := tr.m.files[p].data
		if size := int64(len(data) + len(p)); size <= maxOut-total {
			want[p] = data
			total += size
		} else {
			wantOmitted = append(wantOmitted, p)
		}
	}
	r.log = append(r.log, fmt.Sprintf("changed since mark (%d bytes): %d files, %d omitted", maxOut, len(files), len(omitted)))
	if len(files) != len(want) || !slices.Equal(omitted, wantOmitted) {
		r.fail("changed: %v omitted %v, the model says %v omitted %v", slices.Sorted(maps.Keys(files)), omitted, slices.Sorted(maps.Keys(want)), wantOmitted)
	}
	for p, data := range want {
		if got, ok := files[p]; !ok || !bytes.Equal(got, data) {
			r.fail("changed %s: %q, the model holds %q", p, got, data)
		}
	}
}

// snapshot freezes tr's FS and replaces it with a clone of the frozen
// tree; a second clone starts beside it while there are few.
func (r *run) snapshot(tr *tree) {
	base := tr.s.Freeze()
	for len(tr.handles) > 0 {
		h := tr.handles[0]
		if h.file != nil && h.write {
			_, errno := h.f.Write([]byte("x"))
			r.expect("write after the freeze", errno, experimentalsys.EROFS)
		}
		tr.handles = tr.handles[1:]
		r.expect("close after the freeze", h.f.Close(), 0)
	}
	fz := &frozenTree{s: base, m: tr.m.frozen()}
	r.bases = append(r.bases, fz)
	r.log = append(r.log, "snapshot")
	r.checkTree(base, fz.m)
	r.trees[r.cur] = &tree{s: Clone(base, r.maxBytes, r.maxFiles), m: fz.m.frozen(), base: fz}
	if len(r.trees) < 4 {
		r.trees = append(r.trees, &tree{s: Clone(base, r.maxBytes, r.maxFiles), m: fz.m.frozen(), base: fz})
	}
}

// check compares tr's FS with its model, its open files included.
func (r *run) check(tr *tree) {
	r.t.Helper()
	r.checkTree(tr.s, tr.m)
	if b, e := tr.m.bytes(), tr.m.entries(); b > r.maxBytes || e > r.maxFiles {
		r.fail("%d bytes in %d entries, past the caps %d and %d", b, e, r.maxBytes, r.maxFiles)
	}
	for _, h := range tr.handles {
		st, errno := h.f.Stat()
		if errno != 0 || (h.file != nil && st.Size != int64(len(h.file.data))) {
			r.fail("an open file's stat: size %d (%v)", st.Size, errno)
		}
	}
}

// checkTree compares s with m, through View and in its counts.
func (r *run) checkTree(s *FS, m *model) {
	r.t.Helper()
	s.mu.Lock()
	b, e := s.bytes, s.entries
	s.mu.Unlock()
	if b != m.bytes() || e != m.entries() {
		r.fail("%d bytes in %d entries, the model says %d in %d", b, e, m.bytes(), m.entries())
	}
	v := View(func() (*FS, error) { return s, nil })
	for p, d := range m.dirs {
		name := p
		if name == "" {
			name = "."
		}
		ents, err := fs.ReadDir(v, name)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if err != nil || !slices.Equal(names, m.children(p)) {
			r.fail("readdir %s: %v %v, the model says %v", name, names, err, m.children(p))
		}
		if fi, err := fs.Stat(v, name); err != nil || fi.Mode() != d.mode|fs.ModeDir {
			r.fail("stat %s: %v, the model says %v", name, fi.Mode(), d.mode|fs.ModeDir)
		}
	}
	for p, f := range m.files {
		got, err := fs.ReadFile(v, p)
		if err != nil || !bytes.Equal(got, f.data) {
			r.fail("%s holds %q (%v), the model %q", p, got, err, f.data)
		}
		if fi, err := fs.Stat(v, p); err != nil || fi.Mode() != f.mode {
			r.fail("stat %s: %v, the model says %v", p, fi.Mode(), f.mode)
		}
	}
}
