package runtime_test

import (
	"testing"
	"testing/fstest"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestDirAndVariantAreNotBothSet(t *testing.T) {
	_, err := runtime.New(ctx, runtime.Config{Dir: t.TempDir(), Variant: fstest.MapFS{}})
	require.ErrorIs(t, err, runtime.ErrBadOptions)
}

func TestSitePackagesPathIsReserved(t *testing.T) {
	_, err := rt(t).NewInstance(ctx, runtime.Options{Mounts: []runtime.Mount{{GuestPath: runtime.SitePackagesPath, FS: fstest.MapFS{}}}})
	require.ErrorIs(t, err, runtime.ErrBadOptions)
}
