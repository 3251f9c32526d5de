package scratchfs

import (
	"fmt"
	"io"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	rdwr   = experimentalsys.O_RDWR
	create = experimentalsys.O_CREAT
)

func writeAll(t *testing.T, s *FS, name, data string, flag experimentalsys.Oflag) {
	t.Helper()
	f, errno := s.OpenFile(name, flag|create|experimentalsys.O_WRONLY, 0o644)
	require.Zero(t, errno, name)
	_, errno = f.Write([]byte(data))
	require.Zero(t, errno)
	require.Zero(t, f.Close())
}

func readAll(t *testing.T, s *FS, name string) string {
	t.Helper()
	f, errno := s.OpenFile(name, experimentalsys.O_RDONLY, 0)
	require.Zero(t, errno, name)
	defer f.Close()
	buf := make([]byte, 1<<16)
	n, errno := f.Read(buf)
	require.Zero(t, errno)
	return string(buf[:n])
}

func TestScratchFSOpenFlags(t *testing.T) {
	s := New(1<<20, 100)
	writeAll(t, s, "a", "hello", 0)
	writeAll(t, s, "a", "HE", 0) // no O_TRUNC: overwrite in place
	require.Equal(t, "HEllo", readAll(t, s, "a"))
	writeAll(t, s, "a", "!", experimentalsys.O_APPEND)
	require.Equal(t, "HEllo!", readAll(t, s, "a"))
	writeAll(t, s, "a", "new", experimentalsys.O_TRUNC)
	require.Equal(t, "new", readAll(t, s, "a"))

	_, errno := s.OpenFile("a", create|experimentalsys.O_EXCL|rdwr, 0)
	require.Equal(t, experimentalsys.EEXIST, errno)
	_, errno = s.OpenFile("a", experimentalsys.O_DIRECTORY, 0)
	require.Equal(t, experimentalsys.ENOTDIR, errno)
	_, errno = s.OpenFile("a/", 0, 0)
	require.Equal(t, experimentalsys.ENOTDIR, errno)
	_, errno = s.OpenFile("missing", 0, 0)
	require.Equal(t, experimentalsys.ENOENT, errno)
	_, errno = s.OpenFile("a/b", create|rdwr, 0)
	require.Equal(t, experimentalsys.ENOTDIR, errno)
	_, errno = s.OpenFile("../a", 0, 0)
	require.Equal(t, experimentalsys.EPERM, errno)
	require.Zero(t, s.Mkdir("d", 0o755))
	_, errno = s.OpenFile("d", rdwr, 0)
	require.Equal(t, experimentalsys.EISDIR, errno)
	_, errno = s.OpenFile(".", rdwr, 0)
	require.Equal(t, experimentalsys.EISDIR, errno)

	// Read-only handles do not write, write-only ones do not read.
	f, _ := s.OpenFile("a", experimentalsys.O_RDONLY, 0)
	_, errno = f.Write([]byte("x"))
	require.Equal(t, experimentalsys.EBADF, errno)
	require.Equal(t, experimentalsys.EBADF, f.Truncate(0))
	f.Close()
	f, _ = s.OpenFile("a", experimentalsys.O_WRONLY, 0)
	_, errno = f.Read(make([]byte, 1))
	require.Equal(t, experimentalsys.EBADF, errno)
	// A write past the end fills the gap with zeros.
	_, errno = f.Pwrite([]byte("z"), 6)
	require.Zero(t, errno)
	f.Close()
	require.Equal(t, "new\x00\x00\x00z", readAll(t, s, "a"))
	st, errno := s.Stat("a")
	require.Zero(t, errno)
	require.EqualValues(t, 7, st.Size)
	require.NotZero(t, st.Ino)
}

func TestScratchFSReaddirSurvivesChanges(t *testing.T) {
	s := New(1<<20, 100)
	for _, n := range []string{"c", "a", "e"} {
		writeAll(t, s, n, n, 0)
	}
	require.Zero(t, s.Mkdir("b", 0o755))
	d, errno := s.OpenFile(".", experimentalsys.O_RDONLY, 0)
	require.Zero(t, errno)
	defer d.Close()
	ents, errno := d.Readdir(2)
	require.Zero(t, errno)
	require.Equal(t, []string{"a", "b"}, direntNames(ents))
	require.True(t, ents[1].IsDir())
	require.Zero(t, s.Unlink("c"))
	writeAll(t, s, "d", "d", 0)
	ents, errno = d.Readdir(0)
	require.Zero(t, errno)
	require.Equal(t, []string{"d", "e"}, direntNames(ents))
	_, errno = d.Seek(0, io.SeekStart)
	require.Zero(t, errno)
	ents, _ = d.Readdir(-1)
	require.Equal(t, []string{"a", "b", "d", "e"}, direntNames(ents))
}

func direntNames(ents []experimentalsys.Dirent) []string {
	var out []string
	for _, e := range ents {
		out = append(out, e.Name)
	}
	return out
}

func TestScratchFSRenameRules(t *testing.T) {
	s := New(1<<20, 100)
	require.Zero(t, s.Mkdir("d", 0o755))
	require.Zero(t, s.Mkdir("d/sub", 0o755))
	require.Zero(t, s.Mkdir("e", 0o755))
	writeAll(t, s, "f", "f", 0)
	writeAll(t, s, "g", "g", 0)
	writeAll(t, s, "e/x", "x", 0)
	require.Equal(t, experimentalsys.EINVAL, s.Rename("d", "d/sub/d"))
	require.Equal(t, experimentalsys.EISDIR, s.Rename("f", "d"))
	require.Equal(t, experimentalsys.ENOTDIR, s.Rename("d", "f"))
	require.Equal(t, experimentalsys.ENOTEMPTY, s.Rename("d", "e"))
	require.Equal(t, experimentalsys.ENOENT, s.Rename("nope", "x"))
	require.Zero(t, s.Rename("f", "g")) // replaces
	require.Equal(t, "f", readAll(t, s, "g"))
	require.Zero(t, s.Rename("g", "d/sub/g"))
	require.Zero(t, s.Rename("e/x", "e2"))
	require.Zero(t, s.Rename("d/sub", "e")) // an empty directory is replaced
	require.Equal(t, "f", readAll(t, s, "e/g"))
	require.Equal(t, experimentalsys.EPERM, s.Symlink("e2", "l"))
	require.Equal(t, experimentalsys.EPERM, s.Link("e2", "l"))
	require.Equal(t, experimentalsys.ENOTEMPTY, s.Rmdir("e"))
	require.Equal(t, experimentalsys.ENOTDIR, s.Rmdir("e2"))
	require.Equal(t, experimentalsys.EISDIR, s.Unlink("e"))
	require.Equal(t, 4, s.entries) // d, e, e/g, e2
	require.EqualValues(t, 2, s.bytes)
}

func TestScratchFSCapsCountOpenUnlinkedFiles(t *testing.T) {
	s := New(10, 3)
	f, errno := s.OpenFile("a", create|rdwr, 0)
	require.Zero(t, errno)
	_, errno = f.Write([]byte("0123456789"))
	require.Zero(t, errno)
	_, errno = f.Write([]byte("x"))
	require.Equal(t, ErrNoSpace, errno, "all or nothing")
	require.Zero(t, s.Unlink("a"))
	require.EqualValues(t, 10, s.bytes, "held open: still counted")
	_, errno = s.OpenFile("b", create|rdwr, 0)
	require.Zero(t, errno)
	require.Zero(t, f.Close())
	require.EqualValues(t, 0, s.bytes)
	require.Equal(t, 1, s.entries)
	require.Zero(t, s.Mkdir("c", 0))
	require.Zero(t, s.Mkdir("d", 0))
	require.Equal(t, ErrNoSpace, s.Mkdir("e", 0))
}

func TestScratchFSClonesShareUntilWritten(t *testing.T) {
	tmpl := New(1<<20, 100)
	require.Zero(t, tmpl.Mkdir("d", 0o755))
	writeAll(t, tmpl, "d/big", string(make([]byte, 100000)), 0)
	writeAll(t, tmpl, "small", "s", 0)
	held, _ := tmpl.OpenFile("small", rdwr, 0) // open in the template at the freeze
	base := tmpl.Freeze()
	require.Zero(t, held.Close())
	require.EqualValues(t, 100001, base.bytes)
	require.Equal(t, 3, base.entries)

	a := Clone(base, 1<<20, 100)
	b := Clone(base, 1<<20, 100)
	require.Same(t, base.root, a.root, "nothing copied before a change")
	orig := base.root.child("d").child("big")
	// Reading copies nothing; opening for writing copies the node, not the data.
	require.Equal(t, "s", readAll(t, a, "small"))
	f, errno := a.OpenFile("d/big", rdwr, 0)
	require.Zero(t, errno)
	mine := a.root.child("d").child("big")
	require.NotSame(t, orig, mine)
	require.Same(t, &orig.data[0], &mine.data[0], "content shared until the first write")
	_, errno = f.Write([]byte("A"))
	require.Zero(t, errno)
	require.NotSame(t, &orig.data[0], &mine.data[0])
	f.Close()
	require.Zero(t, a.Unlink("small"))
	require.Zero(t, a.Rename("d", "d2"))

	require.Equal(t, byte(0), orig.data[0], "the snapshot is untouched")
	require.Equal(t, "s", readAll(t, b, "small"))
	_, errno = b.Stat("d/big")
	require.Zero(t, errno)
	require.EqualValues(t, 100000, a.bytes)
	require.EqualValues(t, 100001, b.bytes)
	files, _ := a.ChangedSince(base.gen, 1<<20)
	require.Contains(t, files, "d2/big")
	// Changing the root's times or mode copies the root first.
	c := Clone(base, 1<<20, 100)
	mtime := base.root.mtime
	require.Zero(t, c.Utimens(".", 1, 2))
	require.Zero(t, c.Chmod(".", 0o700))
	require.Equal(t, mtime, base.root.mtime)
	require.NotEqual(t, fs.FileMode(0o700), base.root.mode)
}

func TestScratchFSShrinkingReleasesRoom(t *testing.T) {
	// The count is of lengths; a truncated file must not keep its old
	// capacity, or files truncated to 0 would hold MaxBytes each.
	s := New(64<<20, 100)
	f, _ := s.OpenFile("a", create|rdwr, 0)
	defer f.Close()
	for range 100 {
		_, errno := f.Write(make([]byte, 1<<16))
		require.Zero(t, errno)
	}
	n := s.root.child("a")
	require.LessOrEqual(t, cap(n.data), 2*len(n.data))
	require.Zero(t, f.Truncate(10))
	require.LessOrEqual(t, cap(n.data), 10+4096)
	require.Zero(t, f.Truncate(0))
	require.EqualValues(t, 0, s.bytes)
	require.LessOrEqual(t, cap(n.data), 4096)
}

func TestScratchFSEmptiedDirectoriesGiveTheirRoomBack(t *testing.T) {
	s := New(1<<20, 2000)
	require.Zero(t, s.Mkdir("d", 0o755))
	for k := range 1000 {
		f, errno := s.OpenFile(fmt.Sprintf("d/%04d", k), create|rdwr, 0)
		require.Zero(t, errno)
		f.Close()
	}
	for k := range 1000 {
		require.Zero(t, s.Unlink(fmt.Sprintf("d/%04d", k)))
	}
	require.LessOrEqual(t, cap(s.root.child("d").ents), 64)
	require.Equal(t, 1, s.entries)
}
