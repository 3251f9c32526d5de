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
	require.Regexp(t, `^solve: \[2\. 3\.\] check: True
a fresh call does not see the last one's names: true
three draws: \[\d,\d,\d\]
$`, out.String())
}
