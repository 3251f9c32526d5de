package runtime

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// The cache's bounds, filled past them: sources seen (each first sighting
// makes an entry), code kept, code too large to keep. The compiler's
// answers are given by hand; the tests of runtime_test run the real one.
func TestCodeCacheBounds(t *testing.T) {
	c := newCodeCache(nil)
	ctx := context.Background()
	src := func(k int) []byte { return fmt.Appendf(nil, "x = %d", k) }
	for k := range codeCacheEntries + 100 {
		require.Nil(t, c.code(ctx, OpExec, src(k)), "a first sighting compiles in the call")
	}
	st := c.statsNow()
	require.Equal(t, codeCacheEntries, st.Entries)
	require.Equal(t, uint64(codeCacheEntries+100), st.Misses)
	_, kept := c.index[codeKeyOf(OpExec, src(0))]
	require.False(t, kept, "the least recently used went first")

	// Code, up to its bound per entry and in all.
	c.mu.Lock()
	big := make([]byte, codeCacheEntryBytes)
	for k := range codeCacheEntries {
		require.NotNil(t, c.keepLocked(codeKeyOf(OpExec, src(k+100)), big, nil))
		require.LessOrEqual(t, c.stats.Bytes, codeCacheBytes)
	}
	require.Equal(t, codeCacheBytes/codeCacheEntryBytes, c.lru.Len(), "entries went to make room")
	newest := codeKeyOf(OpExec, src(codeCacheEntries+99)) // the last kept
	require.Nil(t, c.keepLocked(newest, make([]byte, codeCacheEntryBytes+1), nil), "too large")
	require.Nil(t, c.keepLocked(newest, nil, nil), "empty")
	require.Nil(t, c.keepLocked(codeKeyOf(OpExec, src(0)), big, nil), "not in the index any more")
	c.mu.Unlock()
	require.Equal(t, uint64(2), c.statsNow().Refused)

	// A source over the guest's own bound is not even seen.
	n := c.statsNow().Entries
	require.Nil(t, c.code(ctx, OpEval, make([]byte, codeCacheSource+1)))
	require.Equal(t, n, c.statsNow().Entries)

	c.close()
	require.Zero(t, c.statsNow().Entries)
	require.Nil(t, c.code(ctx, OpExec, src(1)))
	require.Zero(t, c.statsNow().Entries, "closed: nothing kept")
}
