package runtime_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// A guest names its files: Result.Files had keys that, joined onto an
// output folder on a Windows host, wrote outside it or to a device.
func TestGuestFileNamesThatAreUnsafeOnAHostAreRefusedByHostPath(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	names := []string{`..\..\evil.txt`, `C:\Windows\x`, "a\nb", "d:x", "ok.txt", "sub/ok.txt"}
	list, _ := json.Marshal(names) // a Python list literal too
	res, err := i.Run(ctx, runtime.Exec("import os\nos.mkdir('sub')\nfor n in "+string(list)+":\n    open(n, 'w').write('x')"))
	require.NoError(t, err)
	dir := t.TempDir()
	for _, n := range names {
		require.Contains(t, res.Files, n, "the guest made it")
		p, err := runtime.HostPath(dir, n)
		if n == "ok.txt" || n == "sub/ok.txt" {
			require.NoError(t, err)
			require.Equal(t, filepath.Join(dir, filepath.FromSlash(n)), p)
			continue
		}
		require.ErrorIs(t, err, runtime.ErrUnsafeName, n)
	}
	for _, n := range []string{"", ".", "..", "../x", "/abs", "a//b", "a/./b", "x\x7f"} {
		_, err := runtime.HostPath(dir, n)
		require.ErrorIs(t, err, runtime.ErrUnsafeName, "%q", n)
	}
}
