package devfs_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/devfs"
	"github.com/snakepit-wasm/snakepit/internal/scratchfs"
	"github.com/stretchr/testify/require"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDevicesAndStreams(t *testing.T) {
	var out, errOut bytes.Buffer
	d := devfs.New(&out, &errOut, nil)

	root, errno := d.OpenFile(".", experimentalsys.O_RDONLY, 0)
	require.Zero(t, errno)
	ents, errno := root.Readdir(3)
	require.Zero(t, errno)
	rest, errno := root.Readdir(-1)
	require.Zero(t, errno)
	var names []string
	for _, e := range append(ents, rest...) {
		names = append(names, e.Name)
	}
	require.Equal(t, []string{"null", "random", "stderr", "stdin", "stdout", "urandom", "zero"}, names)
	require.Zero(t, root.Close())

	open := func(name string, flag experimentalsys.Oflag) experimentalsys.File {
		f, errno := d.OpenFile(name, flag, 0)
		require.Zero(t, errno, name)
		t.Cleanup(func() { f.Close() })
		return f
	}
	buf := []byte("xxxx")
	n, errno := open("null", experimentalsys.O_RDWR).Read(buf)
	require.Equal(t, 0, n, "null reads end of file")
	require.Zero(t, errno)
	n, errno = open("null", experimentalsys.O_WRONLY).Write(buf)
	require.Equal(t, 4, n)
	require.Zero(t, errno)
	n, _ = open("zero", experimentalsys.O_RDONLY).Read(buf)
	require.Equal(t, []byte{0, 0, 0, 0}, buf[:n])
	_, errno = open("zero", experimentalsys.O_RDONLY).Write(buf)
	require.Equal(t, experimentalsys.EBADF, errno, "a write on a read-only descriptor")
	a, b := make([]byte, 32), make([]byte, 32)
	u := open("urandom", experimentalsys.O_RDWR)
	_, _ = u.Read(a)
	_, _ = u.Read(b)
	require.NotEqual(t, a, b)
	n, errno = u.Write([]byte("seed"))
	require.Equal(t, 4, n)
	require.Zero(t, errno)

	_, _ = open("stdout", experimentalsys.O_WRONLY).Write([]byte("o"))
	_, _ = open("stderr", experimentalsys.O_WRONLY).Write([]byte("e"))
	require.Equal(t, "o", out.String())
	require.Equal(t, "e", errOut.String())

	_, errno = d.OpenFile("new", experimentalsys.O_CREAT|experimentalsys.O_WRONLY, 0o644)
	require.Equal(t, experimentalsys.EROFS, errno)
	_, errno = d.OpenFile("missing", experimentalsys.O_RDONLY, 0)
	require.Equal(t, experimentalsys.ENOENT, errno)
	require.Equal(t, experimentalsys.EROFS, d.Unlink("null"))
	require.Equal(t, experimentalsys.ENOENT, d.Unlink("missing"))
}

// A duplicate is the same open file: its offset is shared, and the file
// stays open until the last handle closes.
func TestDupSharesTheOpenFile(t *testing.T) {
	open := &devfs.Open{}
	s := scratchfs.New(1<<20, 100)
	t.Cleanup(s.Release)
	tracked := open.Track(s)
	d := devfs.New(io.Discard, io.Discard, open)

	f, errno := tracked.OpenFile("f", experimentalsys.O_CREAT|experimentalsys.O_RDWR, 0o644)
	require.Zero(t, errno)
	st, errno := f.Stat()
	require.Zero(t, errno)
	name := fmt.Sprintf("%s/%d-%d", devfs.DupDir, st.Dev, st.Ino)

	g, errno := d.OpenFile(name, experimentalsys.O_RDWR, 0)
	require.Zero(t, errno)
	_, errno = g.Write([]byte("abc"))
	require.Zero(t, errno)
	off, errno := f.Seek(0, io.SeekCurrent)
	require.Zero(t, errno)
	require.EqualValues(t, 3, off, "one offset for both")

	require.Zero(t, s.Unlink("f"), "an unlinked file can still be duplicated while open")
	require.Zero(t, f.Close())
	h, errno := d.OpenFile(name, experimentalsys.O_RDWR, 0)
	require.Zero(t, errno)
	buf := make([]byte, 3)
	n, errno := h.Pread(buf, 0)
	require.Zero(t, errno)
	require.Equal(t, "abc", string(buf[:n]))
	require.Zero(t, g.Close())
	require.Zero(t, g.Close(), "a second close changes nothing")
	require.Zero(t, h.Close())
	_, errno = d.OpenFile(name, experimentalsys.O_RDWR, 0)
	require.Equal(t, experimentalsys.ENOENT, errno, "closed with its last handle")

	// Two opens of one file: which one a duplicate should share is unknown.
	f1, _ := tracked.OpenFile("g", experimentalsys.O_CREAT|experimentalsys.O_RDWR, 0o644)
	f2, _ := tracked.OpenFile("g", experimentalsys.O_RDWR, 0)
	st, _ = f1.Stat()
	_, errno = d.OpenFile(fmt.Sprintf("%s/%d-%d", devfs.DupDir, st.Dev, st.Ino), experimentalsys.O_RDWR, 0)
	require.Equal(t, experimentalsys.ENOTSUP, errno)
	f1.Close()
	f2.Close()
}
