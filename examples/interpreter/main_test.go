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
	require.Equal(t, `regions: 3
written: report.json
{
 "north": {
  "mean": 109.25,
  "total": 218.5
 },
 "south": {
  "mean": 147.125,
  "total": 294.25
 },
 "west": {
  "mean": 87.0,
  "total": 87.0
 }
}
written: out/chart.svg
chart.svg has 5 bars
not saved: "..\\evil.txt"
session file ..\evil.txt (1 bytes)
session file out/chart.svg (314 bytes)
session file report.json (153 bytes)
session file sales.csv (92 bytes)
`, out.String())
}
