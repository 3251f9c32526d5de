package pool_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// Keys are the caller's: none may name a file outside the directory.
func TestDirStoreKeepsEveryKeyInItsDirectory(t *testing.T) {
	dir := t.TempDir()
	st, err := pool.NewDirStore(filepath.Join(dir, "store"))
	require.NoError(t, err)
	keys := []string{"a", "../escape", "/etc/passwd", "a/b", strings.Repeat("k", 5000), "", "\x00nul"}
	for k, key := range keys {
		require.NoError(t, st.Put(ctx, key, []byte(fmt.Sprint(k))))
	}
	for k, key := range keys {
		got, err := st.Get(ctx, key)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(k), string(got))
	}
	require.NoError(t, st.Put(ctx, "a", []byte("replaced")))
	got, err := st.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "replaced", string(got))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "nothing beside the store's directory")
	ents, err = os.ReadDir(filepath.Join(dir, "store"))
	require.NoError(t, err)
	require.Len(t, ents, len(keys), "one file a key, no temporary left")

	require.NoError(t, st.Delete(ctx, "a"))
	require.NoError(t, st.Delete(ctx, "a"))
	_, err = st.Get(ctx, "a")
	require.ErrorIs(t, err, fs.ErrNotExist)
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
	opts := pool.Options{Size: 1, MaxSessions: 2, Store: st, SpillIdle: 20 * time.Millisecond, Seed: []byte("store test")}
	ss := newSessions(t, opts)
	for _, key := range []string{"a", "b", "c"} {
		_, err := ss.Session(key).Run(ctx, exec(fmt.Sprintf("me = %q\nopen('me.txt', 'w').write(me)", key)))
		require.NoError(t, err, "key %s: spilled sessions leave room under MaxSessions", key)
		require.Eventually(t, func() bool { _, err := st.Get(ctx, key); return err == nil }, 10*time.Second, 5*time.Millisecond)
	}
	require.JSONEq(t, `["a", "a"]`, evalSession(t, ss, "a", "(me, open('me.txt').read())"))
	_, err = st.Get(ctx, "a")
	require.ErrorIs(t, err, fs.ErrNotExist, "a resumed session leaves the Store")
	require.Equal(t, uint64(0), ss.Stats().Errors[runtime.KindSessionLost])

	require.NoError(t, ss.Close(ctx), "one pool at a time holds a key")
	opts.SpillIdle = time.Hour
	ss2 := newSessions(t, opts)
	_, err = ss2.Session("a").Run(ctx, exec("me = 'a2'"))
	require.NoError(t, err)
	require.NoError(t, ss2.Close(ctx))
	ss3 := newSessions(t, opts)
	require.JSONEq(t, `"a2"`, evalSession(t, ss3, "a", "me"), "Close saved it; a new pool resumes it")
	require.JSONEq(t, `["b", "b"]`, evalSession(t, ss3, "b", "(me, open('me.txt').read())"))
}
