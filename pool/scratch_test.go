package pool_test

import (
	"io/fs"
	"testing"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestFreshCallsNeverSeeAnEarlierCallsFiles(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, Setup: "open('/tmp/setup.txt', 'w').write('from setup')"})
	for round := range 3 {
		req := exec("import os\nprint(sorted(os.listdir('.')), open('setup.txt').read())\nopen('mine.txt', 'w').write('x')\nopen('setup.txt', 'w').write('changed')")
		req.Files = map[string][]byte{"in.csv": []byte("a,b\n")}
		res, err := p.Run(ctx, req)
		require.NoError(t, err, "round %d", round)
		require.Equal(t, "['in.csv', 'setup.txt'] from setup\n", string(res.Stdout), "round %d", round)
		require.Equal(t, map[string][]byte{"mine.txt": []byte("x"), "setup.txt": []byte("changed")}, res.Files)
	}
}

func TestSessionsKeepTheirFiles(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 2})
	req := exec("open('notes.txt', 'a').write('one;')")
	req.Files = map[string][]byte{"upload.bin": {0, 1, 2}}
	_, err := p.Session("a").Run(ctx, req)
	require.NoError(t, err)
	_, err = p.Session("b").Run(ctx, exec("open('notes.txt', 'a').write('other;')"))
	require.NoError(t, err)
	res, err := p.Session("a").Run(ctx, exec("open('notes.txt', 'a').write('two;')\nopen('upload.bin', 'rb').read()"))
	require.NoError(t, err)
	require.Equal(t, "one;two;", string(res.Files["notes.txt"]))

	files, err := p.Session("a").Files()
	require.NoError(t, err)
	got, err := fs.ReadFile(files, "upload.bin")
	require.NoError(t, err)
	require.Equal(t, []byte{0, 1, 2}, got)
	names, err := fs.Glob(files, "*")
	require.NoError(t, err)
	require.Equal(t, []string{"notes.txt", "upload.bin"}, names)

	// A session's files end with it.
	require.True(t, p.Session("a").End())
	_, err = p.Session("a").Files()
	require.ErrorIs(t, err, pool.ErrNoSession)
	_, err = fs.ReadFile(files, "notes.txt")
	require.ErrorIs(t, err, runtime.ErrClosed)
	res, err = p.Session("a").Run(ctx, exec("import os\nprint(os.listdir('.'))"))
	require.NoError(t, err)
	require.Equal(t, "[]\n", string(res.Stdout))
}
