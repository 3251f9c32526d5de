package runtime_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func newSnapshot(t testing.TB, so runtime.SnapshotOptions) *runtime.Snapshot {
	s, err := rt(t).NewSnapshot(context.Background(), so)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func clone(t testing.TB, s *runtime.Snapshot) *runtime.Instance {
	i, err := s.NewInstance(context.Background(), runtime.CloneOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { i.Close(context.Background()) })
	return i
}

func TestCloneStartsFromSnapshotStateAndIsIsolated(t *testing.T) {
	s := newSnapshot(t, runtime.SnapshotOptions{Preload: []string{"json"}, Setup: "counter = [0]\ndef bump():\n    counter[0] += 1\n    return counter[0]\n"})
	a, b := clone(t, s), clone(t, s)
	for range 3 {
		_, err := a.Run(ctx, runtime.Call("bump"))
		require.NoError(t, err)
	}
	r, err := b.Run(ctx, runtime.Call("bump"))
	require.NoError(t, err)
	require.JSONEq(t, "1", string(r.Value), "a clone must not see another clone's writes")
	r, err = a.Run(ctx, runtime.Eval("(counter[0], 'json' in __import__('sys').modules)"))
	require.NoError(t, err)
	require.JSONEq(t, "[3,true]", string(r.Value))
	// A clone made after the others still starts from the snapshot.
	r, err = clone(t, s).Run(ctx, runtime.Eval("counter[0]"))
	require.NoError(t, err)
	require.JSONEq(t, "0", string(r.Value))
}

// A recycled clone's memory must hold nothing of the clone before it: the
// snapshot part is copied over, the part it grew is zero again.
func TestRecycledCloneMemorySeesNothingOfThePreviousClone(t *testing.T) {
	for _, cow := range []bool{false, true} {
		s := newSnapshot(t, runtime.SnapshotOptions{CopyOnWrite: cow})
		for round := range 3 {
			c := clone(t, s)
			r, err := c.Run(ctx, runtime.Eval("(globals().get('secret'), bytearray(64 * 2**20).count(0))"))
			require.NoError(t, err)
			require.JSONEq(t, "[null, 67108864]", string(r.Value), "round %d, copy-on-write %v", round, cow)
			_, err = c.Run(ctx, runtime.Exec("secret = 'S' * 1000\nbig = bytearray(b'S' * (64 * 2**20))"))
			require.NoError(t, err)
			require.NoError(t, c.Close(ctx))
		}
	}
}

func TestClonesDoNotShareRandomness(t *testing.T) {
	s := newSnapshot(t, runtime.SnapshotOptions{Preload: []string{"random"}})
	seen := map[string]bool{}
	for range 4 {
		r, err := clone(t, s).Run(ctx, runtime.Eval("[__import__('random').random(), __import__('os').urandom(16).hex()]"))
		require.NoError(t, err)
		require.False(t, seen[string(r.Value)], "two clones produced %s", r.Value)
		seen[string(r.Value)] = true
	}
	var first, second []any
	r1, err := clone(t, s).Run(ctx, runtime.Eval("[__import__('random').random(), __import__('os').urandom(8).hex()]"))
	require.NoError(t, err)
	r2, err := clone(t, s).Run(ctx, runtime.Eval("[__import__('random').random(), __import__('os').urandom(8).hex()]"))
	require.NoError(t, err)
	require.NoError(t, r1.Decode(&first))
	require.NoError(t, r2.Decode(&second))
	require.NotEqual(t, first[0], second[0], "random.random()")
	require.NotEqual(t, first[1], second[1], "os.urandom")
}

func TestCloneLimitsApplyToTheCloneOnly(t *testing.T) {
	s := newSnapshot(t, runtime.SnapshotOptions{})
	c, err := s.NewInstance(ctx, runtime.CloneOptions{Limits: runtime.Limits{MaxMemory: 48 << 20}})
	require.NoError(t, err)
	defer c.Close(ctx)
	_, err = c.Run(ctx, runtime.Exec("x = bytearray(100 * 2**20)"))
	require.ErrorIs(t, err, runtime.ErrMemoryLimit)
	require.NoError(t, c.Err(), "a MemoryError the clone survives")
	r, err := clone(t, s).Run(ctx, runtime.Eval("len(bytearray(100 * 2**20))"))
	require.NoError(t, err)
	require.JSONEq(t, "104857600", string(r.Value))
}

// A clone takes only what may differ from its snapshot: a zero
// CloneOptions keeps the snapshot's limits and grants, a limit given
// replaces that one limit only, and the mounts stay the snapshot's.
func TestCloneOptionsChangeOnlyWhatTheyName(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f.txt"), []byte("data"), 0o644))
	s := newSnapshot(t, runtime.SnapshotOptions{Options: runtime.Options{
		Limits: runtime.Limits{MaxStdout: 5, MaxStderr: 3},
		Mounts: []runtime.Mount{{GuestPath: "/data", HostDir: dir}},
		Env:    map[string]string{"A": "b"},
	}})
	const src = "import os, sys\nprint('0123456789')\nprint('abcdef', file=sys.stderr)\n[open('/data/f.txt').read(), os.environ['A']]"
	for _, tc := range []struct {
		co             runtime.CloneOptions
		stdout, stderr string
	}{
		{runtime.CloneOptions{}, "01234", "abc"},
		{runtime.CloneOptions{Limits: runtime.Limits{MaxStdout: 8}}, "01234567", "abc"},
		{runtime.CloneOptions{Limits: runtime.Limits{MaxStdout: runtime.NoLimit}}, "0123456789\n", "abc"},
	} {
		c, err := s.NewInstance(ctx, tc.co)
		require.NoError(t, err)
		r, err := c.Run(ctx, runtime.Exec(src))
		require.NoError(t, err)
		require.JSONEq(t, `["data","b"]`, string(r.Value))
		require.Equal(t, tc.stdout, string(r.Stdout), "%+v", tc.co)
		require.Equal(t, tc.stderr, string(r.Stderr), "%+v", tc.co)
		require.NoError(t, c.Close(ctx))
	}
	for _, co := range []runtime.CloneOptions{
		{Limits: runtime.Limits{MaxMemory: 1 << 20}}, // below the snapshot's size
		{Limits: runtime.Limits{MaxResult: -2}},
		{Host: map[string]runtime.HostFunc{"snakepit.x": nil}},
	} {
		_, err := s.NewInstance(ctx, co)
		require.ErrorIs(t, err, runtime.ErrBadOptions, "%+v", co)
	}
}

// A clone must behave like a freshly initialised interpreter: the same
// CPython regression suites give the same counts in both.
func TestCloneMatchesFreshInterpreterOnRegressionSuites(t *testing.T) {
	if testing.Short() {
		t.Skip("CPython's regression suites take a minute; skipped with -short")
	}
	mounts := []runtime.Mount{{GuestPath: "/testlib", HostDir: testlib(t)}}
	s := newSnapshot(t, runtime.SnapshotOptions{Options: runtime.Options{Limits: runtime.Limits{MaxMemory: 1 << 30}, Mounts: mounts}, Preload: []string{"json", "re", "datetime", "collections"}})
	for _, m := range []string{"test_json", "test_re", "test_datetime", "test_collections"} {
		t.Run(m, func(t *testing.T) {
			fresh, _ := regrtest(t, func(o runtime.Options) *runtime.Instance { return newInstance(t, o) }, m)
			cloned, report := regrtest(t, func(o runtime.Options) *runtime.Instance {
				i, err := s.NewInstance(ctx, runtime.CloneOptions{Limits: o.Limits})
				require.NoError(t, err)
				t.Cleanup(func() { i.Close(ctx) })
				return i
			}, m)
			t.Logf("%s: fresh %v, clone %v (run, failures, errors, skipped)", m, fresh, cloned)
			require.Equal(t, fresh, cloned, report)
			// test_datetime's six test_today variants error alike in both
			// (OSError: Not supported, a WASI limit); failures must be none.
			require.Zero(t, cloned[1], report)
		})
	}
}

// A copy-on-write clone owns the pages it writes and no others; a clone
// whose memory was recycled (the snapshot copied into it) owns all of it.
func TestPrivateBytesCountsTheClonesOwnPages(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("copy-on-write clones need Linux")
	}
	s := newSnapshot(t, runtime.SnapshotOptions{CopyOnWrite: true})
	c := clone(t, s)
	_, err := c.Run(ctx, runtime.Exec("x = 1"))
	require.NoError(t, err)
	small, err := c.PrivateBytes()
	require.NoError(t, err)
	require.Positive(t, small)
	require.Less(t, small, s.Bytes()/2, "an idle clone owns a fraction of its snapshot")
	_, err = c.Run(ctx, runtime.Exec("big = bytearray(b'x' * (16 << 20))"))
	require.NoError(t, err)
	grown, err := c.PrivateBytes()
	require.NoError(t, err)
	require.GreaterOrEqual(t, grown, small+16<<20)

	recycling := newSnapshot(t, runtime.SnapshotOptions{})
	require.NoError(t, clone(t, recycling).Close(ctx))
	all, err := clone(t, recycling).PrivateBytes()
	require.NoError(t, err)
	require.GreaterOrEqual(t, all, recycling.Bytes()*9/10)

	require.NoError(t, c.Close(ctx))
	n, err := c.PrivateBytes()
	require.NoError(t, err)
	require.Zero(t, n)
}

// Close may run while clones are being made: each must come out a working
// clone of the snapshot or an error wrapping ErrClosed, never another error,
// and no clone may map the snapshot's descriptor after Close closed it (a
// data race, and its number may by then be another file's).
func TestSnapshotCloseRacingNewInstance(t *testing.T) {
	rounds := 8
	if testing.Short() {
		rounds = 2
	}
	for round := range rounds {
		for _, cow := range []bool{false, true} {
			s, err := rt(t).NewSnapshot(ctx, runtime.SnapshotOptions{CopyOnWrite: cow, Setup: "x = 42"})
			require.NoError(t, err)
			errs := make([][]error, 3)
			var wg sync.WaitGroup
			for k := range errs {
				wg.Go(func() {
					for {
						c, err := s.NewInstance(ctx, runtime.CloneOptions{})
						if err != nil {
							errs[k] = append(errs[k], err)
							return
						}
						r, err := c.Run(ctx, runtime.Eval("x"))
						if err == nil && string(r.Value) != "42" {
							err = fmt.Errorf("x is %s", r.Value)
						}
						errs[k] = append(errs[k], err, c.Close(ctx))
					}
				})
			}
			time.Sleep(time.Duration(round) * time.Millisecond)
			require.NoError(t, s.Close())
			wg.Wait()
			for _, es := range errs {
				last := len(es) - 1
				for _, err := range es[:last] {
					require.NoError(t, err, "round %d, copy-on-write %v: a clone made before Close", round, cow)
				}
				require.ErrorIs(t, es[last], runtime.ErrClosed, "round %d, copy-on-write %v", round, cow)
			}
		}
	}
}
