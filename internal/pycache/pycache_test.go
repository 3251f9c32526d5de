package pycache

import (
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func record(name string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(name)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(append(b, name...), data...)
}

func TestParseBatchRefusesWhatIsNotBytecodeInPycache(t *testing.T) {
	got, err := parseBatch(append(record("a/__pycache__/m.cpython-313.pyc", []byte("x")), record("__pycache__/n.cpython-313.pyc", nil)...))
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"a/__pycache__/m.cpython-313.pyc": []byte("x"), "__pycache__/n.cpython-313.pyc": {}}, got)
	for name, b := range map[string][]byte{
		"not in __pycache__": record("a/m.cpython-313.pyc", nil),
		"a source":           record("a/__pycache__/m.py", nil),
		"leaving the root":   record("../__pycache__/m.pyc", nil),
		"absolute":           record("/a/__pycache__/m.pyc", nil),
		"truncated header":   {1, 0, 0},
		"truncated content":  record("a/__pycache__/m.pyc", []byte("xyz"))[:20],
		"a file too large":   binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 1), MaxFileBytes+1),
		"a name too long":    binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 1<<31), 0),
	} {
		_, err := parseBatch(b)
		require.Error(t, err, name)
	}
}

func TestOverlayServesTheSetBesideTheBase(t *testing.T) {
	base := fstest.MapFS{"p/__init__.py": {Data: []byte("x = 1")}, "p/own/__pycache__/o.pyc": {Data: []byte("own")}}
	s := newSet()
	require.False(t, s.add(map[string][]byte{"p/__pycache__/__init__.cpython-313.pyc": []byte("code"), "p/own/__pycache__/z.pyc": []byte("z")}))
	o := Overlay(base, s)
	b, err := fs.ReadFile(o, "p/__pycache__/__init__.cpython-313.pyc")
	require.NoError(t, err)
	require.Equal(t, "code", string(b))
	entries, err := fs.ReadDir(o, "p/__pycache__")
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "__init__.cpython-313.pyc", entries[0].Name())
	b, err = fs.ReadFile(o, "p/__init__.py")
	require.NoError(t, err)
	require.Equal(t, "x = 1", string(b))
	b, err = fs.ReadFile(o, "p/own/__pycache__/z.pyc")
	require.NoError(t, err, "served by name beside the base's own __pycache__")
	require.Equal(t, "z", string(b))
	_, err = fs.ReadFile(o, "p/__pycache__/nope.pyc")
	require.ErrorIs(t, err, fs.ErrNotExist)
	f, err := o.Open("p/__pycache__/__init__.cpython-313.pyc")
	require.NoError(t, err)
	_, err = f.(io.Seeker).Seek(2, io.SeekStart)
	require.NoError(t, err, "seekable, as Python's readers want")
	require.NoError(t, f.Close())
}

func TestSetStopsAtItsCaps(t *testing.T) {
	s := newSet()
	big := make([]byte, MaxFileBytes)
	batch := map[string][]byte{}
	for k := range MaxPackageBytes/MaxFileBytes + 1 {
		batch[filepath.Join("__pycache__", string(rune('a'+k%26))+string(rune('a'+k/26))+".pyc")] = big
	}
	require.True(t, s.add(batch))
	require.Equal(t, MaxPackageBytes/MaxFileBytes, s.Len())
}

func TestSourceKeyFollowsContentAndSkipsSmallPackages(t *testing.T) {
	src := make([]byte, MinSourceBytes)
	a := fstest.MapFS{"m.py": {Data: src, ModTime: time.Unix(1, 0)}}
	k1, err := SourceKey(a)
	require.NoError(t, err)
	require.NotEmpty(t, k1)
	src2 := append([]byte{}, src...)
	src2[10] = 'x'
	k2, err := SourceKey(fstest.MapFS{"m.py": {Data: src2, ModTime: time.Unix(1, 0)}})
	require.NoError(t, err)
	require.NotEqual(t, k1, k2)
	k3, err := SourceKey(fstest.MapFS{"m.py": {Data: src, ModTime: time.Unix(2, 0)}})
	require.NoError(t, err)
	require.NotEqual(t, k1, k3, "the pycs hold the mtime")
	small, err := SourceKey(fstest.MapFS{"m.py": {Data: src[:100]}, "data.bin": {Data: src}})
	require.NoError(t, err)
	require.Empty(t, small)
}

func TestPruneKeepsTheMostRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	for k, name := range []string{"a.zip", "b.zip", "c.zip"} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, nil, 0o644))
		when := time.Now().Add(time.Duration(k) * time.Minute)
		require.NoError(t, os.Chtimes(p, when, when))
	}
	prune(dir, 2)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, "b.zip", entries[0].Name())
	require.Equal(t, "c.zip", entries[1].Name())
}
