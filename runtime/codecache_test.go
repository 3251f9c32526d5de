package runtime_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/knobs"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// fresh runs req on i as a fresh call: i reset to its snapshot first.
func fresh(t testing.TB, i *runtime.Instance, req runtime.Request) (*runtime.Result, error) {
	t.Helper()
	require.NoError(t, i.Reset(ctx))
	return i.Run(ctx, req)
}

func TestFreshCallsTakeTheirCodeFromTheCache(t *testing.T) {
	s := newSnapshot(t, runtime.SnapshotOptions{CopyOnWrite: true})
	i := clone(t, s)
	for _, req := range []runtime.Request{runtime.Exec("x = 6 * 7\nx"), runtime.Eval("6 * 7")} {
		before := s.CodeCache()
		for range 4 {
			r, err := fresh(t, i, req)
			require.NoError(t, err)
			require.JSONEq(t, "42", string(r.Value))
		}
		st := s.CodeCache()
		// The first call compiles, the second has the compiler instance
		// compile for the cache, the next ones load the cached code.
		require.Equal(t, before.Misses+2, st.Misses, "%+v", st)
		require.Equal(t, before.Compiled+1, st.Compiled, "%+v", st)
		require.Equal(t, before.Hits+2, st.Hits, "%+v", st)
		require.Equal(t, before.Entries+1, st.Entries, "%+v", st)
		require.Greater(t, st.Bytes, before.Bytes)
	}

	// Only a clone's first call since it was made or reset: a later one
	// compiles, and is not counted.
	before := s.CodeCache()
	_, err := fresh(t, i, runtime.Exec("pass"))
	require.NoError(t, err)
	r, err := i.Run(ctx, runtime.Eval("6 * 7"))
	require.NoError(t, err)
	require.JSONEq(t, "42", string(r.Value))
	st := s.CodeCache()
	require.Equal(t, before.Hits, st.Hits)
	require.Equal(t, before.Misses+1, st.Misses, "the pass")

	// A source over 8 KiB is never kept.
	big := "x = 1\n" + strings.Repeat("#", 8<<10)
	for range 3 {
		_, err := fresh(t, i, runtime.Exec(big))
		require.NoError(t, err)
	}
	require.Equal(t, st.Entries, s.CodeCache().Entries)
	require.Equal(t, st.Compiled, s.CodeCache().Compiled)
}

// A call served from the cache returns what it returned when it compiled
// its source: value, output, warnings, errors, tracebacks with their line
// numbers.
func TestCodeCacheChangesNoResult(t *testing.T) {
	cached := newSnapshot(t, runtime.SnapshotOptions{CopyOnWrite: true})
	plain, err := rt(t).NewSnapshot(knobs.With(ctx, knobs.Knobs{NoCodeCache: true}), runtime.SnapshotOptions{CopyOnWrite: true})
	require.NoError(t, err)
	t.Cleanup(func() { plain.Close() })
	ci, pi := clone(t, cached), clone(t, plain)
	for _, c := range []struct {
		req runtime.Request
		hit bool // served from the cache from the third call
	}{
		{runtime.Exec("x = 1"), true},
		{runtime.Exec("print('hi')\n1 + 1"), true},
		{runtime.Exec("def f():\n    return 1 / 0\n\nf()"), true},
		{runtime.Exec("import sys\nsys._getframe().f_code.co_filename"), true},
		{runtime.Exec("'a' in {'a', 'b'}, 'é' * 2"), true},
		{runtime.Exec("from __future__ import annotations\ndef g(a: int) -> int: return a\ng.__annotations__"), true},
		{runtime.Exec("# -*- coding: latin-1 -*-\ns = 'é'\nlen(s)"), true},
		{runtime.Exec("b'raw'"), true},
		{runtime.Eval("[1, 2][5]"), true},
		// Compiled by each call, as without the cache: the compiler
		// instance refuses a syntax error, and a warning, which the call
		// must print itself.
		{runtime.Exec("x = (1,"), false},
		{runtime.Exec("x = 1\ny = x +* 2"), false},
		{runtime.Exec("s = '\\d'\nlen(s)"), false},
		{runtime.Exec("x = 1 is 1"), false},
	} {
		name := fmt.Sprintf("%v %q", c.req.Op, c.req.Code)
		var want *runtime.Result
		var wantErr error
		for k := range 4 {
			r, err := fresh(t, pi, c.req)
			if k == 0 {
				want, wantErr = r, err
			}
			requireSameResult(t, want, wantErr, r, err, name+" without the cache")
		}
		before := cached.CodeCache()
		for range 4 {
			r, err := fresh(t, ci, c.req)
			requireSameResult(t, want, wantErr, r, err, name)
		}
		st := cached.CodeCache()
		if c.hit {
			require.Equal(t, before.Hits+2, st.Hits, name)
		} else {
			require.Equal(t, before.Hits, st.Hits, name)
			require.Equal(t, before.Refused+1, st.Refused, name)
		}
	}
	require.Zero(t, plain.CodeCache(), "no cache, no counts")
}

func requireSameResult(t *testing.T, want *runtime.Result, wantErr error, got *runtime.Result, err error, msg string) {
	t.Helper()
	if wantErr == nil {
		require.NoError(t, err, msg)
	} else {
		var wpe, pe *runtime.PythonError
		require.ErrorAs(t, wantErr, &wpe, msg)
		require.ErrorAs(t, err, &pe, msg)
		require.Equal(t, *wpe, *pe, msg)
		require.Regexp(t, `File "<(exec|eval)>", line \d`, pe.Traceback, msg)
	}
	require.Equal(t, string(want.Value), string(got.Value), msg)
	require.Equal(t, want.Bytes, got.Bytes, msg)
	require.Equal(t, string(want.Stdout), string(got.Stdout), msg)
	require.Equal(t, string(want.Stderr), string(got.Stderr), msg)
}

// The warning the compiler instance refuses is the call's to print.
func TestCodeCacheLeavesCompileWarningsToTheCall(t *testing.T) {
	i := clone(t, newSnapshot(t, runtime.SnapshotOptions{CopyOnWrite: true}))
	for range 3 {
		r, err := fresh(t, i, runtime.Exec("s = '\\d'\nlen(s)"))
		require.NoError(t, err)
		require.JSONEq(t, "2", string(r.Value))
		require.Contains(t, string(r.Stderr), "SyntaxWarning: invalid escape sequence")
	}
}

// A guest that rewrites its own dispatcher, compiler and marshal, in every
// way a code cache filled by guests could be poisoned through, changes
// nothing for another clone: only the host's compiler instance fills the
// cache.
func TestHostileGuestCannotPoisonTheCodeCache(t *testing.T) {
	s := newSnapshot(t, runtime.SnapshotOptions{CopyOnWrite: true})
	attacker, victim := clone(t, s), clone(t, s)
	const target = "x = 6 * 7\nx"
	const attack = `import builtins, marshal, snakepit_guest as g
forged = (compile("pwned = True", "<exec>", "exec"), compile("'pwned'", "<exec>", "eval"))
g._compiled.clear()
g._compile = lambda kind, src: forged
g._marshal = lambda b: marshal.dumps(forged)
_loads = marshal.loads
marshal.loads = lambda b: forged
marshal.dumps = lambda *a, **k: _loads(b"")
builtins.compile = lambda *a, **k: forged[0]
`
	// The attack works in the attacker's own interpreter, from its first
	// call after each reset (the one a cache serves) on.
	for range 3 {
		_, err := fresh(t, attacker, runtime.Exec(attack))
		require.NoError(t, err)
		for range 2 {
			r, err := attacker.Run(ctx, runtime.Exec(target))
			require.NoError(t, err)
			require.JSONEq(t, `"pwned"`, string(r.Value))
		}
	}
	// The target, fresh in the attacker's clone: compiled there, then by
	// the compiler instance, then served from the cache.
	for range 3 {
		r, err := fresh(t, attacker, runtime.Exec(target))
		require.NoError(t, err)
		require.JSONEq(t, "42", string(r.Value))
	}
	hits := s.CodeCache().Hits
	for range 3 {
		r, err := fresh(t, victim, runtime.Exec(target))
		require.NoError(t, err)
		require.JSONEq(t, "42", string(r.Value))
		r, err = victim.Run(ctx, runtime.Eval("'pwned' in globals()"))
		require.NoError(t, err)
		require.JSONEq(t, "false", string(r.Value))
	}
	require.Equal(t, hits+3, s.CodeCache().Hits, "the victim's calls were served from the cache")
}

// Clones of one snapshot share its cache from several goroutines: results
// stay right whether a call hits, compiles for the cache or finds the
// compiler busy and compiles itself.
func TestCodeCacheConcurrentClones(t *testing.T) {
	s := newSnapshot(t, runtime.SnapshotOptions{CopyOnWrite: true})
	const clones, calls = 4, 12
	var wg sync.WaitGroup
	errs := make(chan error, clones*calls)
	for c := range clones {
		i := clone(t, s)
		wg.Go(func() {
			for k := range calls {
				n := (c + k) % 3
				if err := i.Reset(ctx); err != nil {
					errs <- err
					return
				}
				r, err := i.Run(ctx, runtime.Exec(fmt.Sprintf("x = %d\nx * 2", n)))
				if err == nil && string(r.Value) != fmt.Sprint(2*n) {
					err = fmt.Errorf("x = %d gave %s", n, r.Value)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st := s.CodeCache()
	require.Equal(t, uint64(clones*calls), st.Hits+st.Misses, "%+v", st)
	require.Positive(t, st.Hits, "%+v", st)
	require.Equal(t, 3, st.Entries, "%+v", st)
}

// Clones outlive their snapshot: once it is closed, their calls compile
// their sources, and the cache holds nothing.
func TestCodeCacheAfterSnapshotClose(t *testing.T) {
	s, err := rt(t).NewSnapshot(ctx, runtime.SnapshotOptions{CopyOnWrite: true})
	require.NoError(t, err)
	i, unused := clone(t, s), clone(t, s)
	for range 3 {
		_, err := fresh(t, i, runtime.Exec("x = 1"))
		require.NoError(t, err)
	}
	require.Equal(t, uint64(1), s.CodeCache().Hits)
	require.NoError(t, s.Close())
	st := s.CodeCache()
	require.Zero(t, st.Entries)
	require.Zero(t, st.Bytes)
	r, err := unused.Run(ctx, runtime.Exec("x = 1\nx"))
	require.NoError(t, err)
	require.JSONEq(t, "1", string(r.Value))
	require.Equal(t, st.Hits, s.CodeCache().Hits)
	require.Equal(t, st.Misses+1, s.CodeCache().Misses)
}
