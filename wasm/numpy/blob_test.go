package numpy_test

import (
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/varianttest"
	"github.com/snakepit-wasm/snakepit/wasm/numpy"
)

// SizeBudget bounds what the variant adds to a program that imports this
// package: python.wasm.gz and site-packages.zip together.
const SizeBudget = 8_000_000

// TestEmbeddedFilesAreTheDefaultInterpretersVariant: the files in blob/
// are the MANIFEST's, built for the default interpreter this module
// embeds, within budget (varianttest.CheckEmbedded).
func TestEmbeddedFilesAreTheDefaultInterpretersVariant(t *testing.T) {
	varianttest.CheckEmbedded(t, numpy.Files(), "numpy", SizeBudget)
}
