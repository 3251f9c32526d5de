package mountfs

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"testing/fstest"
	"weak"

	"github.com/snakepit-wasm/snakepit/internal/scratchfs"
	"github.com/stretchr/testify/require"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// refused records what a wrapper asked the guest's call to fail with.
type refused []uint32

func (r *refused) refuse(errno uint32) experimentalsys.Errno {
	*r = append(*r, errno)
	return experimentalsys.EIO
}

func TestOpenFilesCountsAgainstMaxAndLeavesMountRootsOut(t *testing.T) {
	var r refused
	o := &OpenFiles{Max: 2, Refuse: r.refuse}
	m := o.Count(&sysfs.AdaptFS{FS: fstest.MapFS{"a": {Data: []byte("a")}}}, MountMemory)
	root, errno := m.OpenFile(".", experimentalsys.O_RDONLY, 0)
	require.Zero(t, errno)
	a, errno := m.OpenFile("a", experimentalsys.O_RDONLY, 0)
	require.Zero(t, errno)
	require.EqualValues(t, 1, o.GuestOpen(), "the mount's root is wazero's")
	_, errno = m.OpenFile("a", experimentalsys.O_RDONLY, 0)
	require.Equal(t, experimentalsys.EIO, errno)
	require.Equal(t, refused{wasiEMFILE}, r)
	_, errno = m.OpenFile("missing", experimentalsys.O_RDONLY, 0)
	require.Equal(t, experimentalsys.EIO, errno, "still full: a failed open gives its slot back")
	require.Zero(t, a.Close())
	_, errno = m.OpenFile("missing", experimentalsys.O_RDONLY, 0)
	require.Equal(t, experimentalsys.ENOENT, errno)
	require.Zero(t, a.Close()) // twice: counted once
	require.Zero(t, root.Close())
	require.EqualValues(t, 0, o.GuestOpen())
}

func TestReopenScratchPointsRootHandlesAtTheResetTree(t *testing.T) {
	var r refused
	base := scratchfs.New(100, 10).Freeze()
	s := scratchfs.Clone(base, 100, 10)
	o := &OpenFiles{Max: 10, Refuse: r.refuse}
	m := o.Count(Scratch(s, r.refuse), MountScratch)
	root, errno := m.OpenFile(".", experimentalsys.O_RDONLY, 0)
	require.Zero(t, errno)
	defer root.Close()
	require.Zero(t, s.WriteFile("x", []byte("x")))
	list := func() int {
		_, errno := root.Seek(0, io.SeekStart)
		require.Zero(t, errno)
		ents, errno := root.Readdir(-1)
		require.Zero(t, errno)
		return len(ents)
	}
	require.Equal(t, 1, list())
	s.ResetTo(base)
	require.Equal(t, 1, list(), "the handle keeps the old tree")
	require.Zero(t, o.ReopenScratch())
	require.Equal(t, 0, list())
	require.Len(t, o.ScratchRoots(), 1)
}

func TestScratchFullIsENOSPCForTheGuest(t *testing.T) {
	var r refused
	m := Scratch(scratchfs.New(4, 1), r.refuse)
	f, errno := m.OpenFile("a", experimentalsys.O_CREAT|experimentalsys.O_RDWR, 0o644)
	require.Zero(t, errno)
	defer f.Close()
	_, errno = f.Write([]byte("12345"))
	require.Equal(t, experimentalsys.EIO, errno)
	require.Equal(t, experimentalsys.EIO, m.Mkdir("d", 0o755))
	require.Equal(t, refused{wasiENOSPC, wasiENOSPC}, r)
}

// wazero compares the mounts of a rename's or a link's two paths: a mount
// that cannot be compared makes it panic.
func TestMountsCanBeCompared(t *testing.T) {
	var r refused
	o := &OpenFiles{Max: 10, Refuse: r.refuse}
	m := o.Count(Scratch(scratchfs.New(1, 1), r.refuse), MountScratch)
	ro := o.Count(ReadOnly(&sysfs.AdaptFS{FS: fstest.MapFS{}}), MountMemory)
	same := m
	require.NotPanics(t, func() { require.True(t, m == same) })
	require.NotPanics(t, func() { require.False(t, m == ro) })
}

func TestReadOnlyRemovingWhatIsNotThereIsENOENT(t *testing.T) {
	m := ReadOnly(&sysfs.AdaptFS{FS: fstest.MapFS{"a": {Data: []byte("a")}}})
	require.Equal(t, experimentalsys.ENOENT, m.Unlink("missing"))
	require.Equal(t, experimentalsys.ENOENT, m.Rename("missing", "b"))
	require.Equal(t, experimentalsys.EROFS, m.Unlink("a"))
	require.Equal(t, experimentalsys.EROFS, m.Rmdir("."))
}

func TestHostDirStaysInside(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "in"), []byte("in"), 0o644))
	require.NoError(t, os.Symlink(os.TempDir(), filepath.Join(dir, "out")))
	m, root, err := HostDir(dir)
	require.NoError(t, err)
	defer root.Close()
	f, errno := m.OpenFile("in", experimentalsys.O_RDONLY, 0)
	require.Zero(t, errno)
	require.Zero(t, f.Close())
	_, errno = m.OpenFile("out", experimentalsys.O_RDONLY, 0)
	require.NotZero(t, errno)
}

func TestZipFilesSeek(t *testing.T) {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	zw, err := w.Create("d/f.txt")
	require.NoError(t, err)
	_, err = zw.Write([]byte("0123456789"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)

	f, errno := Zip(zr).OpenFile("d/f.txt", experimentalsys.O_RDONLY, 0)
	require.Zero(t, errno)
	defer f.Close()
	off, errno := f.Seek(-3, io.SeekEnd)
	require.Zero(t, errno)
	require.EqualValues(t, 7, off)
	b := make([]byte, 10)
	n, errno := f.Read(b)
	require.Zero(t, errno)
	require.Equal(t, "789", string(b[:n]))
	n, errno = f.Pread(b[:2], 1)
	require.Zero(t, errno)
	require.Equal(t, "12", string(b[:n]))
}

// Each handle decompressed its entry for itself; they share one copy now,
// which goes with the last of them.
func TestZipHandlesShareTheirEntry(t *testing.T) {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	zw, err := w.Create("f.txt")
	require.NoError(t, err)
	_, err = zw.Write(bytes.Repeat([]byte("x"), 1<<20))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	z := seekableZip{zr, &contents{m: map[string]weak.Pointer[[]byte]{}}}
	var files []*zipFile
	for range 3 {
		f, err := z.Open("f.txt")
		require.NoError(t, err)
		zf := f.(*zipFile)
		_, err = zf.Read(make([]byte, 1))
		require.NoError(t, err)
		files = append(files, zf)
	}
	require.Same(t, files[0].data, files[1].data)
	require.Same(t, files[0].data, files[2].data)
	for _, f := range files {
		require.NoError(t, f.Close())
	}
	files = nil
	runtime.GC()
	require.Nil(t, z.cache.m["f.txt"].Value(), "dropped with the last handle")
}

func TestHostFilesCapsAcrossInstances(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644))
	host := NewHostFiles(3)
	var r refused
	mounts := make([]experimentalsys.FS, 2)
	for k := range mounts {
		f, root, err := HostDir(dir)
		require.NoError(t, err)
		defer root.Close()
		o := &OpenFiles{Max: 10, Refuse: r.refuse, Host: host}
		mounts[k] = o.Count(f, MountHost)
		pre, errno := mounts[k].OpenFile(".", experimentalsys.O_RDONLY, 0)
		require.Zero(t, errno)
		defer pre.Close()
	}
	require.Zero(t, host.Open(), "a mount's preopen is the instance's, not counted")
	var open []experimentalsys.File
	for k := range 3 {
		f, errno := mounts[k%2].OpenFile("f", experimentalsys.O_RDONLY, 0)
		require.Zero(t, errno)
		open = append(open, f)
	}
	_, errno := mounts[1].OpenFile("f", experimentalsys.O_RDONLY, 0)
	require.Equal(t, experimentalsys.EIO, errno)
	require.Equal(t, refused{wasiEMFILE}, r, "EMFILE for the guest")
	require.Zero(t, open[0].Close())
	f, errno := mounts[1].OpenFile("f", experimentalsys.O_RDONLY, 0)
	require.Zero(t, errno, "a slot given back")
	f.Close()
	for _, f := range open[1:] {
		f.Close()
	}
	require.Zero(t, host.Open())
}
