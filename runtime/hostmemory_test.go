package runtime_test

import (
	goruntime "runtime"
	"testing"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func heapAlloc() uint64 {
	goruntime.GC()
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Each open handle on a stdlib file decompressed the file whole, for
// itself: 250 handles on pydoc_data/topics.pyc (529 KB) under a 32 MiB
// memory cap took the host from 136 MB to 280 MB RSS. The handles now
// share one copy, dropped with the last of them.
func TestStdlibHandlesShareOneCopyOfTheFile(t *testing.T) {
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxMemory: 32 << 20}})
	before := heapAlloc()
	_, err := i.Run(ctx, runtime.Exec(`
_keep = [open('`+runtime.StdlibPath+`/pydoc_data/topics.pyc', 'rb') for _ in range(250)]
for f in _keep:
    f.read(1)
`))

	require.NoError(t, err)
	grown := int64(heapAlloc()) - int64(before)
	t.Logf("250 handles held on topics.pyc: the host heap grew %.1f MiB", float64(grown)/(1<<20))
	require.Less(t, grown, int64(16<<20))

	_, err = i.Run(ctx, runtime.Exec("for f in _keep:\n    f.close()\ndel _keep"))
	require.NoError(t, err)
	released := int64(heapAlloc()) - int64(before)
	t.Logf("once closed: %.1f MiB above before", float64(released)/(1<<20))
	require.Less(t, released, grown-400<<10, "the shared copy went with the last handle")
}

// Scratch files were outside every count: PrivateBytes (hence a pool's
// MaxSessionMemory and its stats) saw none of them.
func TestScratchFilesCountInPrivateBytes(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	before, err := i.PrivateBytes()
	require.NoError(t, err)
	_, err = i.Run(ctx, runtime.Exec("with open('big', 'wb') as f:\n    for _ in range(20):\n        f.write(b'x' * (1 << 20))"))
	require.NoError(t, err)
	after, err := i.PrivateBytes()
	require.NoError(t, err)
	require.GreaterOrEqual(t, after-before, uint64(20<<20))
	_, err = i.Run(ctx, runtime.Exec("import os\nos.remove('big')"))
	require.NoError(t, err)
	removed, err := i.PrivateBytes()
	require.NoError(t, err)
	require.Less(t, removed, after-(20<<20)+(1<<20), "given back when removed")
}
