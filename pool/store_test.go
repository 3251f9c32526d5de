package pool_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/storetest"
	"github.com/snakepit-wasm/snakepit/internal/testrt"
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

// With a Store, a pool out of room spills its least recently used idle
// session instead of refusing a new one: five sessions live through a cap
// of two, each resumes with its variables and files, and so does each in a
// pool started later on the same Store.
func TestSessionsPastMaxSessionsSpillTheLeastRecentlyUsed(t *testing.T) {
	st, err := pool.NewDirStore(t.TempDir())
	require.NoError(t, err)
	var spilled atomic.Int32
	opts := pool.Options{Size: 1, MaxSessions: 2, Store: st, SpillIdle: time.Hour, Seed: []byte("room test"),
		OnEvent: func(e pool.Event) {
			if e.Type == pool.SessionSpilled {
				spilled.Add(1)
			}
		}}
	ss := newSessions(t, opts)
	for k := range 5 {
		_, err := ss.Session(fmt.Sprint(k)).Run(ctx, exec(fmt.Sprintf("me = %d\nopen('me.txt', 'w').write(str(me))", k)))
		require.NoError(t, err, "session %d", k)
	}
	stats := ss.Stats()
	require.Equal(t, 2, stats.Sessions)
	require.EqualValues(t, 3, stats.Spilled)
	for k := range 3 {
		_, err := st.Get(ctx, fmt.Sprint(k))
		require.NoError(t, err, "the least recently used, %d, went to the Store", k)
	}
	// Each resumes from the Store and spills the least recently used.
	for k := range 5 {
		require.JSONEq(t, fmt.Sprintf(`[%d, "%d"]`, k, k), evalSession(t, ss, fmt.Sprint(k), "(me, open('me.txt').read())"))
	}
	stats = ss.Stats()
	require.Equal(t, 2, stats.Sessions)
	require.EqualValues(t, 5, stats.Resumed, "the live 3 and 4 went before their turn")
	require.EqualValues(t, 8, stats.Spilled)
	require.EqualValues(t, 8, spilled.Load())
	require.Zero(t, stats.Errors[runtime.KindSessionLost]+stats.Errors[runtime.KindTooManySessions])

	require.NoError(t, ss.Close(ctx))
	ss2 := newSessions(t, opts)
	for k := range 5 {
		require.JSONEq(t, fmt.Sprint(k), evalSession(t, ss2, fmt.Sprint(k), "me"))
	}
	require.LessOrEqual(t, ss2.Stats().Sessions, 2)
}

// A Store that fails keeps the session it could not take live, and the new
// session is refused, saying why; once the Store works, room is made.
func TestSpillThatFailsKeepsTheSession(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	st, err := pool.NewDirStore(dir)
	require.NoError(t, err)
	ss := newSessions(t, pool.Options{Size: 1, MaxSessions: 1, Store: st, SpillIdle: time.Hour})
	_, err = ss.Session("a").Run(ctx, exec("x = 'kept'"))
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(dir)) // DirStore.Put now fails: no directory

	_, err = ss.Session("b").Run(ctx, exec("pass"))
	require.ErrorIs(t, err, pool.ErrTooManySessions)
	require.Equal(t, runtime.KindTooManySessions, runtime.KindOf(err))
	require.ErrorContains(t, err, "spilling an idle session to make room failed")
	require.JSONEq(t, `"kept"`, evalSession(t, ss, "a", "x"))
	require.Zero(t, ss.Stats().Spilled)

	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.JSONEq(t, `"new"`, evalSession(t, ss, "b", "'new'"))
	require.JSONEq(t, `"kept"`, evalSession(t, ss, "a", "x"), "a went to the Store and came back")
	require.EqualValues(t, 1, ss.Stats().Resumed)
}

// A session restored by Sessions.Restore makes room as a new one does;
// with nothing idle to spill, it is refused and nothing is left of it.
func TestRestoreMakesRoom(t *testing.T) {
	st, err := pool.NewDirStore(t.TempDir())
	require.NoError(t, err)
	ss := newSessions(t, pool.Options{Size: 1, MaxSessions: 1, Store: st, SpillIdle: time.Hour})
	_, err = ss.Session("a").Run(ctx, exec("x = 'a'"))
	require.NoError(t, err)
	img, err := ss.Session("a").Save(ctx)
	require.NoError(t, err)
	require.NoError(t, ss.Restore(ctx, "b", img))
	require.EqualValues(t, 1, ss.Stats().Spilled, "a made room for b")
	require.Equal(t, 1, ss.Stats().Sessions)

	g := testrt.NewGate()
	held := g.Hold(t, sessionRunner(ss, "b"), "")
	require.ErrorIs(t, ss.Restore(ctx, "c", img), pool.ErrTooManySessions, "b runs: nothing is idle")
	g.Open()
	require.NoError(t, <-held)
	_, err = st.Get(ctx, "c")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.JSONEq(t, `"a"`, evalSession(t, ss, "a", "x"))
}

// Many callers at once on more keys than MaxSessions: sessions go to the
// Store and come back under each other's feet, and none loses its state.
// A call finds no room only while every live session runs a call
// (ErrTooManySessions, before it ran): it is retried, for as long as only
// a bug would make it.
func TestSpillingUnderConcurrency(t *testing.T) {
	st, err := pool.NewDirStore(t.TempDir())
	require.NoError(t, err)
	ss := newSessions(t, pool.Options{Size: 2, MaxSessions: 2, Store: st, SpillIdle: time.Hour})
	const keys, rounds = 6, 6
	var wg sync.WaitGroup
	for k := range keys {
		wg.Go(func() {
			for range rounds {
				for start := time.Now(); ; time.Sleep(time.Millisecond) {
					_, err := ss.Session(fmt.Sprint(k)).Run(ctx, exec("n = globals().get('n', 0) + 1"))
					if !errors.Is(err, pool.ErrTooManySessions) || time.Since(start) > hang {
						require.NoError(t, err)
						break
					}
				}
			}
		})
	}
	wg.Wait()
	for k := range keys {
		require.JSONEq(t, fmt.Sprint(rounds), evalSession(t, ss, fmt.Sprint(k), "n"), "session %d", k)
	}
	stats := ss.Stats()
	require.LessOrEqual(t, stats.Sessions, 2)
	require.Zero(t, stats.Errors[runtime.KindSessionLost])
	require.GreaterOrEqual(t, stats.Spilled, uint64(keys-2))
}

// Close while sessions come and go through the Store loses none: every
// call that returned without error is in the Store after Close, and a call
// Close refused changed nothing, also when Close meets a session being
// restored (whose stored image the restore deletes once it is live).
func TestCloseDuringRestoresKeepsEveryFinishedCall(t *testing.T) {
	st, err := pool.NewDirStore(t.TempDir())
	require.NoError(t, err)
	opts := pool.Options{Size: 2, MaxSessions: 2, Store: st, SpillIdle: time.Hour, Seed: []byte("close during restores")}
	const keys = 8
	var want [keys]int
	ss := newSessions(t, opts)
	for k := range keys {
		_, err := ss.Session(fmt.Sprint(k)).Run(ctx, exec("n = 1"))
		require.NoError(t, err)
		want[k] = 1
	}
	require.NoError(t, ss.Close(ctx))
	for round := range 4 {
		ss := newSessions(t, opts)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for k := range keys {
			wg.Go(func() {
				for range 3 {
					_, err := ss.Session(fmt.Sprint(k)).Run(ctx, exec("n += 1"))
					for errors.Is(err, pool.ErrTooManySessions) { // every live one busy: it ran nowhere
						time.Sleep(time.Millisecond)
						_, err = ss.Session(fmt.Sprint(k)).Run(ctx, exec("n += 1"))
					}
					if err != nil {
						require.ErrorIs(t, err, runtime.ErrClosed, "session %d", k)
						return
					}
					mu.Lock()
					want[k]++
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(round) * 20 * time.Millisecond)
		require.NoError(t, ss.Close(ctx))
		wg.Wait()
	}
	ss = newSessions(t, opts)
	for k := range keys {
		require.Equal(t, fmt.Sprint(want[k]), evalSession(t, ss, fmt.Sprint(k), "n"), "session %d", k)
	}
}
