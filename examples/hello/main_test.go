package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	require.Equal(t, "basket: 1.75 mean: 0.5833333333333334\ndenied: FileNotFoundError\nrunaway loop stopped: true\nstill serving: 285\n", out.String())
}
