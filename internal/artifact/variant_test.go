package artifact

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestVariantWithoutItsFilesIsNotBuilt(t *testing.T) {
	for name, files := range map[string]fstest.MapFS{
		"empty":            {},
		"no python.wasm":   {"MANIFEST": {Data: []byte("cpython 3.13.5\nabi 3\n" + sha + "  python.wasm\n")}},
		"only a readme.md": {"README.md": {Data: []byte("copied by make embedded")}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load("", files, t.TempDir())
			require.ErrorIs(t, err, ErrNotBuilt)
		})
	}
}

const sha = "0000000000000000000000000000000000000000000000000000000000000000"
