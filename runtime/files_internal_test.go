package runtime

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/snakepit-wasm/snakepit/internal/life"
	"github.com/snakepit-wasm/snakepit/internal/scratchfs"
	"github.com/stretchr/testify/require"
)

func TestScratchViewIsAnFS(t *testing.T) {
	i := &Instance{scratch: scratchfs.New(1<<20, 100), opts: Options{}.withDefaults(), life: life.New(context.Background())}
	require.NoError(t, i.WriteFile("a/b.txt", []byte("b")))
	require.NoError(t, i.WriteFile("/tmp/c.txt", []byte("cc")))
	require.NoError(t, fstest.TestFS(i.Scratch(), "a/b.txt", "c.txt"))
	got, err := fs.ReadFile(i.Scratch(), "c.txt")
	require.NoError(t, err)
	require.Equal(t, "cc", string(got))
	_, err = fs.ReadFile(i.Scratch(), "nope")
	require.ErrorIs(t, err, fs.ErrNotExist)
}
