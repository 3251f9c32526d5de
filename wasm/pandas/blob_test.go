package pandas_test

import (
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/varianttest"
	"github.com/snakepit-wasm/snakepit/wasm/pandas"
)

// SizeBudget bounds what the variant adds to a program that imports this
// package (numpy and pandas together): python.wasm.gz and
// site-packages.zip.
const SizeBudget = 16_000_000

// TestEmbeddedFilesAreTheDefaultInterpretersVariant: the files in blob/
// are the MANIFEST's, built for the default interpreter this module
// embeds, within budget (varianttest.CheckEmbedded).
func TestEmbeddedFilesAreTheDefaultInterpretersVariant(t *testing.T) {
	varianttest.CheckEmbedded(t, pandas.Files(), "pandas", SizeBudget)
}
