// Package storetest checks a pool.Store, for the tests of every store
// (pool.DirStore, redisstore): the contract of its methods, and sessions
// moving between pools through it.
package storetest

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// Keys are keys a store must keep apart, none of them a file name: keys
// are the caller's (a client's session id, say).
var Keys = []string{"a", "../escape", "/etc/passwd", "a/b", strings.Repeat("k", 5000), "", "\x00nul", "*", "a:b"}

// Contract checks what pool.Store promises: each of Keys keeps its own
// image, Put replaces, an empty image is an image, every byte value
// survives, Get of a missing key wraps fs.ErrNotExist, Delete of one is no
// error, and concurrent calls on different keys do not mix.
func Contract(t *testing.T, st pool.Store) {
	ctx := context.Background()
	for k, key := range Keys {
		require.NoError(t, st.Put(ctx, key, []byte(fmt.Sprint(k))))
	}
	for k, key := range Keys {
		got, err := st.Get(ctx, key)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(k), string(got), "key %q", key)
	}
	require.NoError(t, st.Put(ctx, "a", []byte("replaced")))
	got, err := st.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "replaced", string(got))

	require.NoError(t, st.Put(ctx, "empty", nil))
	got, err = st.Get(ctx, "empty")
	require.NoError(t, err, "an empty image is not a missing one")
	require.Empty(t, got)

	bin := make([]byte, 1<<20)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	require.NoError(t, st.Put(ctx, "binary", bin))
	got, err = st.Get(ctx, "binary")
	require.NoError(t, err)
	require.Equal(t, bin, got)

	for _, key := range append(Keys, "empty", "binary") {
		require.NoError(t, st.Delete(ctx, key))
		_, err = st.Get(ctx, key)
		require.ErrorIs(t, err, fs.ErrNotExist, "key %q", key)
	}
	require.NoError(t, st.Delete(ctx, "a"), "deleting a missing key is no error")
	_, err = st.Get(ctx, "never put")
	require.ErrorIs(t, err, fs.ErrNotExist)

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			key := fmt.Sprint("concurrent-", g)
			for i := range 20 {
				want := fmt.Sprint(key, "/", i)
				if err := st.Put(ctx, key, []byte(want)); err != nil {
					errs <- err
					return
				}
				got, err := st.Get(ctx, key)
				if err == nil && string(got) != want {
					err = fmt.Errorf("key %s: got %q, want %q", key, got, want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- st.Delete(ctx, key)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// Sessions checks sessions moving through st: an idle session is spilled to
// it and comes back on its next call, with its variables and files; a pool
// started later on st and the same Seed resumes what the first one's Close
// saved. st must be empty of the keys "a", "b" and "c".
func Sessions(t *testing.T, rt *runtime.Runtime, st pool.Store) {
	ctx := context.Background()
	opts := pool.Options{Size: 1, MaxSessions: 2, Store: st, SpillIdle: 20 * time.Millisecond, Seed: []byte("store test")}
	ss := newSessions(t, rt, opts)
	for _, key := range []string{"a", "b", "c"} {
		_, err := ss.Session(key).Run(ctx, runtime.Exec(fmt.Sprintf("me = %q\nopen('me.txt', 'w').write(me)", key)))
		require.NoError(t, err, "key %s: spilled sessions leave room under MaxSessions", key)
		require.Eventually(t, func() bool { _, err := st.Get(ctx, key); return err == nil }, 10*time.Second, 5*time.Millisecond)
	}
	require.JSONEq(t, `["a", "a"]`, eval(t, ss, "a", "(me, open('me.txt').read())"))
	_, err := st.Get(ctx, "a")
	require.ErrorIs(t, err, fs.ErrNotExist, "a resumed session leaves the Store")
	require.Equal(t, uint64(0), ss.Stats().Errors[runtime.KindSessionLost])

	require.NoError(t, ss.Close(ctx), "one pool at a time holds a key")
	opts.SpillIdle = time.Hour
	ss2 := newSessions(t, rt, opts)
	_, err = ss2.Session("a").Run(ctx, runtime.Exec("me = 'a2'"))
	require.NoError(t, err)
	require.NoError(t, ss2.Close(ctx))
	ss3 := newSessions(t, rt, opts)
	require.JSONEq(t, `"a2"`, eval(t, ss3, "a", "me"), "Close saved it; a new pool resumes it")
	require.JSONEq(t, `["b", "b"]`, eval(t, ss3, "b", "(me, open('me.txt').read())"))
}

func newSessions(t *testing.T, rt *runtime.Runtime, opts pool.Options) *pool.Sessions {
	t.Helper()
	ss, err := pool.NewSessions(context.Background(), rt, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, ss.Close(ctx))
	})
	return ss
}

func eval(t *testing.T, ss *pool.Sessions, key, expr string) string {
	t.Helper()
	res, err := ss.Session(key).Run(context.Background(), runtime.Eval(expr))
	require.NoError(t, err)
	return string(res.Value)
}
