package runtime

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// newClone returns a copy-on-write clone of a snapshot of the embedded
// interpreter, closed with its snapshot and Runtime when the test ends.
func newClone(t *testing.T) *Instance {
	ctx := context.Background()
	r, err := New(ctx, Config{})
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(ctx) })
	s, err := r.NewSnapshot(ctx, SnapshotOptions{CopyOnWrite: true})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	c, err := s.NewInstance(ctx, CloneOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(ctx) })
	return c
}

// wazero keeps each mount's root directory open across a reset (its
// preopen); the scratch one must then list the reset tree, not the last
// call's. Python has no way to list a directory by descriptor on WASI, so
// this looks at the handle itself.
func TestResetPointsTheScratchRootAtTheResetTree(t *testing.T) {
	ctx := context.Background()
	c := newClone(t)
	// The host's file changes the root before the guest's first path
	// opens wazero's handle on it.
	_, err := c.Run(ctx, Request{Op: OpExec, Code: "import os\nos.stat('in.txt')", Files: map[string][]byte{"in.txt": []byte("x")}})
	require.NoError(t, err)
	list := func() []string {
		require.Len(t, c.open.ScratchRoots(), 1)
		f := c.open.ScratchRoots()[0]
		_, errno := f.Seek(0, io.SeekStart) // as fd_readdir does for cookie 0
		require.Zero(t, errno)
		ents, errno := f.Readdir(-1)
		require.Zero(t, errno)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name)
		}
		return names
	}
	require.Contains(t, list(), "in.txt")
	require.NoError(t, c.Reset(ctx))
	require.NotContains(t, list(), "in.txt")
}

// A reset keeps the run function, and with it wazero's call stack as the
// calls before grew it, for callStackResets resets: a deep call's stack is
// then dropped, and resets after a deep call still give correct calls.
func TestResetRenewsTheCallStackWithinItsBound(t *testing.T) {
	ctx := context.Background()
	c := newClone(t)
	// Recursion through C (map calls h) grows wazero's stack.
	deep := "import sys\nsys.setrecursionlimit(5000)\ndef h(n): return n if n == 0 else list(map(h, [n - 1]))[0]\nh(900)"
	_, err := c.Run(ctx, Exec(deep))
	require.NoError(t, err)
	first := c.run
	renewed := 0
	for k := range 2 * callStackResets {
		require.NoError(t, c.Reset(ctx))
		if c.run != first {
			renewed = k + 1
			break
		}
		res, err := c.Run(ctx, Eval("[x for x in range(3)]"))
		require.NoError(t, err)
		require.JSONEq(t, "[0, 1, 2]", string(res.Value))
	}
	require.Equal(t, callStackResets, renewed, "the stack is kept, then renewed")
	res, err := c.Run(ctx, Exec(deep))
	require.NoError(t, err, "a deep call on the new stack")
	require.JSONEq(t, "0", string(res.Value))
}
