package scratchfs

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkImage requires an image of tr, loaded into a new clone of its base,
// to be the tree the model says, and every cut of it to be refused.
func (r *run) checkImage(tr *tree) {
	r.t.Helper()
	if len(tr.handles) > 0 {
		return // an image is of a tree with no file open
	}
	var base *FS
	if tr.base != nil {
		base = tr.base.s
	}
	fresh := func() *FS {
		if base != nil {
			return Clone(base, r.maxBytes, r.maxFiles)
		}
		return New(r.maxBytes, r.maxFiles)
	}
	img := tr.s.AppendImage([]byte{7}, base)[1:]
	s := fresh()
	rest, err := s.LoadImage(base, append(bytes.Clone(img), 9))
	if err != nil || !bytes.Equal(rest, []byte{9}) {
		r.fail("loading an image: %v (rest %v)", err, rest)
	}
	r.checkTree(s, tr.m)
	if again := s.AppendImage(nil, base); !bytes.Equal(again, img) {
		r.fail("an image of a loaded image differs")
	}
	for k := 0; k < len(img); k += 1 + len(img)/16 {
		if _, err := fresh().LoadImage(base, img[:k]); err == nil {
			r.fail("an image cut at %d of %d bytes loaded", k, len(img))
		}
	}
}

// A clone's image holds what it changed and names the rest: a large
// file of the base left alone costs a few bytes, a moved one too.
func TestImageOfACloneNamesWhatItDidNotChange(t *testing.T) {
	tmpl := New(1<<20, 100)
	require.Zero(t, tmpl.WriteFile("keep/big", bytes.Repeat([]byte("b"), 100_000)))
	require.Zero(t, tmpl.WriteFile("moved/big", bytes.Repeat([]byte("m"), 100_000)))
	base := tmpl.Freeze()
	c := Clone(base, 1<<20, 100)
	require.Zero(t, c.Rename("moved", "elsewhere"))
	require.Zero(t, c.WriteFile("new.txt", []byte("hello")))
	img := c.AppendImage(nil, base)
	require.Less(t, len(img), 200)

	d := Clone(base, 1<<20, 100)
	rest, err := d.LoadImage(base, img)
	require.NoError(t, err)
	require.Empty(t, rest)
	v := View(func() (*FS, error) { return d, nil })
	for name, want := range map[string]string{"keep/big": "b", "elsewhere/big": "m", "new.txt": "hello"} {
		got, err := v.(interface{ ReadFile(string) ([]byte, error) }).ReadFile(name)
		require.NoError(t, err, name)
		require.Equal(t, want, string(got[:len(want)]), name)
	}
	require.Equal(t, c.HeldBytes(), d.HeldBytes())
	require.Zero(t, d.WriteFile("keep/big", []byte("changed")), "a loaded clone writes the base's nodes as its own")
	require.Equal(t, "b", readAll(t, Clone(base, 1<<20, 100), "keep/big")[:1], "the base is untouched")

	// The caps are the loading clone's.
	_, err = Clone(base, 1<<20, 2).LoadImage(base, img)
	require.ErrorIs(t, err, ErrImage)
	_, err = Clone(base, 100_000, 100).LoadImage(base, img)
	require.ErrorIs(t, err, ErrImage)
	_, err = New(1<<20, 100).LoadImage(nil, img)
	require.ErrorIs(t, err, ErrImage, "an image of a clone needs its base")
}

// FuzzLoadImage feeds LoadImage whatever: it must refuse or load a tree
// within the caps, whose own image loads the same, and never panic.
func FuzzLoadImage(f *testing.F) {
	tmpl := New(1<<20, 100)
	tmpl.WriteFile("d/f", []byte("base"))
	base := tmpl.Freeze()
	c := Clone(base, 1<<20, 100)
	c.WriteFile("d/g", []byte("new"))
	c.Rename("d/f", "h")
	f.Add(c.AppendImage(nil, base))
	f.Add(New(100, 10).AppendImage(nil, nil))
	f.Fuzz(func(t *testing.T, img []byte) {
		s := Clone(base, 1000, 10)
		if _, err := s.LoadImage(base, img); err != nil {
			require.ErrorIs(t, err, ErrImage)
			return
		}
		require.LessOrEqual(t, s.bytes, int64(1000))
		require.LessOrEqual(t, s.entries, 10)
		again := s.AppendImage(nil, base)
		s2 := Clone(base, 1000, 10)
		_, err := s2.LoadImage(base, again)
		require.NoError(t, err)
		require.Equal(t, again, s2.AppendImage(nil, base))
	})
}
