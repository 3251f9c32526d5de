package pool_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/storetest"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestDirStore(t *testing.T) {
	st, err := pool.NewDirStore(t.TempDir())
	require.NoError(t, err)
	storetest.Contract(t, st)
}

// Keys are the caller's: none may name a file outside the directory.
func TestDirStoreKeepsEveryKeyInItsDirectory(t *testing.T) {
	dir := t.TempDir()
	st, err := pool.NewDirStore(filepath.Join(dir, "store"))
	require.NoError(t, err)
	for _, key := range storetest.Keys {
		require.NoError(t, st.Put(ctx, key, []byte(key)))
	}
	require.NoError(t, st.Put(ctx, "a", []byte("replaced")))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "nothing beside the store's directory")
	ents, err = os.ReadDir(filepath.Join(dir, "store"))
	require.NoError(t, err)
	require.Len(t, ents, len(storetest.Keys), "one file a key, no temporary left")
}

func TestSessionSaveAndRestore(t *testing.T) {
	ss := newSessions(t, pool.Options{Size: 1, MaxSessions: 4})
	_, err := ss.Session("a").Run(ctx, exec("import fractions\nx = fractions.Fraction(1, 3)\nopen('f.txt', 'w').write('kept')"))
	require.NoError(t, err)
	img, err := ss.Session("a").Save(ctx)
	require.NoError(t, err)
	require.Less(t, len(img), 1<<20)

	require.ErrorIs(t, ss.Restore(ctx, "a", img), pool.ErrSessionExists)
	require.NoError(t, ss.Restore(ctx, "b", img))
	require.JSONEq(t, `["1/3", "kept"]`, evalSession(t, ss, "b", "(str(x), open('f.txt').read())"))
	require.JSONEq(t, `"1/3"`, evalSession(t, ss, "a", "str(x)"), "the saved session goes on")

	_, err = ss.Session("none").Save(ctx)
	require.ErrorIs(t, err, pool.ErrNoSession)
	err = ss.Restore(ctx, "c", img[:100])
	require.ErrorIs(t, err, runtime.ErrBadImage)
	require.ErrorIs(t, ss.Restore(ctx, "c", []byte("junk")), runtime.ErrBadImage)
}

// An idle session goes to the Store and comes back on its next call; a
// pool started later on the same Store and Seed resumes what Close saved.
func TestSessionsSpillToTheStoreAndResume(t *testing.T) {
	st, err := pool.NewDirStore(t.TempDir())
	require.NoError(t, err)
	storetest.Sessions(t, rt(t), st)
}

// With KeepStored the image stays in the Store once its session is
// restored from it (a caller writing sessions through keeps it current).
func TestKeepStoredLeavesTheImageInTheStore(t *testing.T) {
	st, err := pool.NewDirStore(t.TempDir())
	require.NoError(t, err)
	ss := newSessions(t, pool.Options{Size: 1, Store: st, SpillIdle: time.Hour, KeepStored: true})
	_, err = ss.Session("a").Run(ctx, exec("x = 1"))
	require.NoError(t, err)
	img, err := ss.Session("a").Save(ctx)
	require.NoError(t, err)
	require.True(t, ss.Session("a").End())
	require.NoError(t, st.Put(ctx, "a", img))
	require.JSONEq(t, "1", evalSession(t, ss, "a", "x"), "restored from the Store")
	got, err := st.Get(ctx, "a")
	require.NoError(t, err, "and left there")
	require.Equal(t, img, got)
}
