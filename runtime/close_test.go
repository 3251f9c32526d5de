package runtime_test

import (
	"testing"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestCloseOfANilRuntimeIsANoop(t *testing.T) {
	r, err := runtime.New(ctx, runtime.Config{Dir: t.TempDir()})
	require.ErrorIs(t, err, runtime.ErrNotBuilt)
	require.NoError(t, r.Close(ctx)) // as `defer rt.Close(ctx)` before checking err
	var s *runtime.Snapshot
	require.NoError(t, s.Close())
}
