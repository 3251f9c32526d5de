package adapter

import (
	"errors"
	"fmt"
	"testing"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// classify asserted the error's type, so a wrapped Python error (a host
// tool's, a stopped call's) was not recognised.
func TestClassifySeesAWrappedPythonError(t *testing.T) {
	pe := &runtime.PythonError{Type: "snakepit.ArgumentError", Message: "x: expected int"}
	err := classify("f", fmt.Errorf("snakepit: call stopped: %w", pe))
	var e *Error
	require.True(t, errors.As(err, &e))
	require.ErrorIs(t, err, ErrArguments)
}
