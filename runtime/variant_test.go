package runtime_test

import (
	"testing"
	"testing/fstest"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestVariantWithoutItsFilesIsNotBuilt(t *testing.T) {
	for name, files := range map[string]fstest.MapFS{
		"empty":            {},
		"no python.wasm":   {"MANIFEST": {Data: []byte("cpython 3.13.5\nabi 3\n" + sha + "  python.wasm\n")}},
		"only a readme.md": {"README.md": {Data: []byte("copied by make embedded")}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := runtime.New(ctx, runtime.Config{Variant: &runtime.Variant{Name: "x", Files: files}})
			require.ErrorIs(t, err, runtime.ErrNotBuilt)
		})
	}
	_, err := runtime.New(ctx, runtime.Config{Variant: &runtime.Variant{Name: "nil files"}})
	require.ErrorIs(t, err, runtime.ErrNotBuilt)
}

func TestDirAndVariantAreNotBothSet(t *testing.T) {
	_, err := runtime.New(ctx, runtime.Config{Dir: t.TempDir(), Variant: &runtime.Variant{Name: "x", Files: fstest.MapFS{}}})
	require.ErrorIs(t, err, runtime.ErrBadOptions)
}

func TestSitePackagesPathIsReserved(t *testing.T) {
	_, err := rt(t).NewInstance(ctx, runtime.Options{Mounts: []runtime.Mount{{GuestPath: runtime.SitePackagesPath, FS: fstest.MapFS{}}}})
	require.ErrorIs(t, err, runtime.ErrBadOptions)
}

const sha = "0000000000000000000000000000000000000000000000000000000000000000"
