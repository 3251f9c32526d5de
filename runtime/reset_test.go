package runtime_test

import (
	"context"
	"io/fs"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// After Reset a clone must be what a new clone of its snapshot is: no
// global, module, file or random state of the calls before, in either kind
// of clone memory.
func TestResetCloneIsANewClone(t *testing.T) {
	for _, cow := range []bool{false, true} {
		s := newSnapshot(t, runtime.SnapshotOptions{CopyOnWrite: cow, Preload: []string{"random"}, Setup: "kept = 'setup'\n"})
		c := clone(t, s)
		seen := map[string]bool{}
		for round := range 4 {
			r, err := c.Run(ctx, runtime.Eval(`(globals().get('secret'), 'csv' in __import__('sys').modules, __import__('os').listdir('.'), kept,
  __import__('random').random(), __import__('os').urandom(8).hex())`))

			require.NoError(t, err)
			var got []any
			require.NoError(t, r.Decode(&got))
			require.Equal(t, []any{nil, false, []any{}, "setup"}, got[:4], "round %d, copy-on-write %v", round, cow)
			require.False(t, seen[string(r.Value)], "round %d repeats the randomness of an earlier one: %s", round, r.Value)
			seen[string(r.Value)] = true
			_, err = c.Run(ctx, runtime.Exec("import csv\nsecret = 'S' * 1000\nkept = 'changed'\nopen('left.txt', 'w').write('last call')\n"))
			require.NoError(t, err)
			require.NoError(t, c.Reset(ctx))
			require.Zero(t, c.Calls())
			_, err = fs.Stat(c.Scratch(), "left.txt")
			require.ErrorIs(t, err, fs.ErrNotExist)
		}
	}
}

// What Reset cannot undo, it refuses; the caller closes the instance.
func TestResetRefusesWhatItCannotUndo(t *testing.T) {
	s := newSnapshot(t, runtime.SnapshotOptions{CopyOnWrite: true})
	for _, tc := range []struct {
		name, code string
		broken     bool // found only after the memory was restored
	}{
		{"a file left open", "f = open('x.txt', 'w')", false},
		{"a stdlib file left open", "import csv\nf = open(csv.__spec__.origin, 'rb')", false},
		{"a directory left open", "import os\nd = os.open('/usr/lib/python3.13', os.O_RDONLY)", false},
		{"memory grown", "big = bytearray(64 * 2**20)", false},
		{"stdout closed", "import os\nos.close(1)", true},
		{"a mount's descriptor closed", "import os\nos.close(3)", true},
	} {
		c := clone(t, s)
		_, err := c.Run(ctx, runtime.Exec(tc.code))
		require.NoError(t, err, tc.name)
		err = c.Reset(ctx)
		require.ErrorIs(t, err, runtime.ErrNotReset, tc.name)
		if tc.broken {
			require.ErrorIs(t, c.Err(), runtime.ErrNotReset, tc.name)
		} else {
			require.NoError(t, c.Err(), "%s: a refused reset changes nothing", tc.name)
			r, err := c.Run(ctx, runtime.Eval("1 + 1"))
			require.NoError(t, err, tc.name)
			require.JSONEq(t, "2", string(r.Value))
		}
	}

	// A broken clone (stopped hard), and an instance that is no clone.
	c, err := s.NewInstance(ctx, runtime.CloneOptions{Limits: runtime.Limits{MaxInterruptGrace: runtime.NoLimit}})
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = c.Run(short, runtime.Exec("while True: pass"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, c.Reset(ctx), runtime.ErrNotReset)
	require.ErrorIs(t, newInstance(t, runtime.Options{}).Reset(ctx), runtime.ErrNotReset)
	require.NoError(t, c.Close(ctx))
	require.ErrorIs(t, c.Reset(ctx), runtime.ErrClosed)
}

// A reset clone still works once its snapshot is closed (Close unmaps the
// snapshot's view that Reset copies from): Reset refuses instead.
func TestResetAfterSnapshotClose(t *testing.T) {
	s := newSnapshot(t, runtime.SnapshotOptions{CopyOnWrite: true})
	c := clone(t, s)
	_, err := c.Run(ctx, runtime.Exec("x = 1"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.ErrorIs(t, c.Reset(ctx), runtime.ErrNotReset)
	r, err := c.Run(ctx, runtime.Eval("x"))
	require.NoError(t, err)
	require.JSONEq(t, "1", string(r.Value))
}

// wazero grows a call's wasm stack in Go's heap and never shrinks it; a
// fresh worker must not keep what a deep recursion grew for long. A reset
// keeps the stack (regrowing it cost each fresh call a third of its time),
// for at most 64 resets.
func TestResetDropsTheGrownCallStack(t *testing.T) {
	s := newSnapshot(t, runtime.SnapshotOptions{CopyOnWrite: true})
	c := clone(t, s)
	heap := func() int64 {
		goruntime.GC()
		var m goruntime.MemStats
		goruntime.ReadMemStats(&m)
		return int64(m.HeapInuse)
	}
	before := heap()
	_, err := c.Run(ctx, runtime.Exec("import sys\nsys.setrecursionlimit(10 ** 7)\ndef h(n):\n    return list(map(h, [n + 1]))\nh(0)"))
	var pe *runtime.PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "RecursionError", pe.Type)
	grown := heap()
	require.Greater(t, grown-before, int64(16<<20), "the recursion should have grown the stack")
	for range 64 {
		require.NoError(t, c.Reset(ctx))
		_, err = c.Run(ctx, runtime.Exec("x = 1"))
		require.NoError(t, err)
	}
	require.Less(t, heap()-before, int64(8<<20), "the grown stack is still held after 64 resets (grown by %d MiB)", (grown-before)>>20)
}
