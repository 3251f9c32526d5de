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
	require.Equal(t, `alice 1
bob   1
alice ["buy milk","call bob"]
bob   ["fix bike"]
carol refused: MaxSessions sessions are alive
carol false
alice NameError: name 'notes' is not defined
`, out.String())
}
