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
	require.Equal(t, `arithmetic     ok: 285
bad input      Python error: ValueError: invalid literal for int() with base 10: 'forty-two'
host file      Python error: FileNotFoundError: [Errno 44] No such file or directory: '/etc/passwd'
write stdlib   Python error: OSError: [Errno 52] Function not implemented: '/usr/lib/python3.13/os.py'
subprocess     Python error: OSError: [Errno 58] wasi does not support processes.
thread         Python error: RuntimeError: can't start new thread
network        Python error: AttributeError: module '_socket' has no attribute 'getaddrinfo'
runaway loop   stopped at the deadline
memory bomb    stopped at the memory limit
output flood   ok, stdout cut at the cap: 1024 bytes kept
still serving  ok: 2.5
calls: 11, Python errors: 6, deadlines: 1, memory limits: 1
`, out.String())
}
