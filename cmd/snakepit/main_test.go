package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	if os.Getenv(asSnakepit) != "" {
		main() // a process of the tests' own (serve_process_test.go)
	}
	testrt.Main(m)
}

// snakepit runs the command as the process would, with args after the
// program name, and returns its exit status and output.
func snakepit(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// runJSON runs `snakepit run --json` with more args and decodes its result.
func runJSON(t *testing.T, stdin string, args ...string) (int, runOutcome) {
	t.Helper()
	code, stdout, stderr := snakepit(t, stdin, append([]string{"run", "--json"}, args...)...)
	o := runOutcome{outcome: &outcome{}}
	require.NoError(t, json.Unmarshal([]byte(stdout), &o), "stdout: %s\nstderr: %s", stdout, stderr)
	return code, o
}

// `go run ./cmd/snakepit run -c 'print(6*7)'` prints 42.
func TestRunPrints42(t *testing.T) {
	code, stdout, stderr := snakepit(t, "", "run", "-c", "print(6*7)")
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "42\n", stdout)
	require.Empty(t, stderr, "nothing but the code's output when stderr is not a terminal")
}

func TestRunJSONHasValueOutputAndTimings(t *testing.T) {
	code, o := runJSON(t, "", "-c", "import sys\nprint('out')\nprint('err', file=sys.stderr)\n{'big': 2**70, 'l': [1, None]}")
	require.Equal(t, exitOK, code)
	require.Equal(t, "out\n", o.Stdout)
	require.Equal(t, "err\n", o.Stderr)
	require.Nil(t, o.Error)
	require.JSONEq(t, `{"big": 1180591620717411303424, "l": [1, null]}`, string(o.Value))
	require.NotNil(t, o.Timings)
	require.Positive(t, o.Timings.Runtime)
	require.Positive(t, o.Timings.Instance)
	require.Positive(t, o.Timings.Exec)
}

func TestRunPythonErrorExits1WithTraceback(t *testing.T) {
	code, stdout, stderr := snakepit(t, "", "run", "-c", "print('before')\ndef f():\n    raise ValueError('bad')\nf()")
	require.Equal(t, exitFailure, code)
	require.Equal(t, "before\n", stdout)
	require.Contains(t, stderr, "Traceback (most recent call last):")
	require.Contains(t, stderr, ", in f\n")
	require.True(t, strings.HasSuffix(stderr, "ValueError: bad\n"), stderr)

	code, o := runJSON(t, "", "-c", "1/0")
	require.Equal(t, exitFailure, code)
	require.Equal(t, &callError{Kind: "python", Type: "ZeroDivisionError", Message: "division by zero", Traceback: o.Error.Traceback}, o.Error)
	require.Contains(t, o.Error.Traceback, "ZeroDivisionError")
}

func TestRunLimitsAreTypedErrors(t *testing.T) {
	for _, c := range []struct {
		name, kind string
		args       []string
	}{
		{"timeout", "deadline", []string{"--timeout", "200ms", "-c", "while True: pass"}},
		{"memory", "memory_limit", []string{"--memory", "48M", "-c", "x = bytearray(200 << 20)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, o := runJSON(t, "", c.args...)
			require.Equal(t, exitFailure, code)
			require.NotNil(t, o.Error)
			require.Equal(t, c.kind, o.Error.Kind, o.Error.Message)
		})
	}
	t.Run("plain", func(t *testing.T) {
		code, _, stderr := snakepit(t, "", "run", "--timeout", "200ms", "-c", "while True: pass")
		require.Equal(t, exitFailure, code)
		require.Contains(t, stderr, "context deadline exceeded")
		require.Contains(t, stderr, "(the time limit is --timeout)")
	})
	t.Run("output caps", func(t *testing.T) {
		code, o := runJSON(t, "", "--max-stdout", "10", "--max-stderr", "1K", "-c", "import sys\nprint('x' * 100)\nprint('y' * 2000, file=sys.stderr)")
		require.Equal(t, exitOK, code, "a cut output is no failure")
		require.Equal(t, strings.Repeat("x", 10), o.Stdout)
		require.Len(t, o.Stderr, 1024)
		require.True(t, o.StdoutTruncated)
		require.True(t, o.StderrTruncated)
	})
}

func TestRunGrantsMountsAndEnvOneByOne(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "in.txt"), []byte("hello from the host"), 0o644))
	t.Setenv("SNAKEPIT_TEST_TOKEN", "from-host")
	t.Setenv("SNAKEPIT_TEST_HIDDEN", "secret")
	script := filepath.Join(t.TempDir(), "script.py")
	src := `import os
print(open("/data/in.txt").read())
print(os.environ.get("SNAKEPIT_TEST_TOKEN"), os.environ.get("MODE"), os.environ.get("SNAKEPIT_TEST_HIDDEN"))
try:
    open("/data/out.txt", "w")
except OSError as e:
    print("read-only:", type(e).__name__)
`
	require.NoError(t, os.WriteFile(script, []byte(src), 0o644))
	want := "hello from the host\nfrom-host fast None\nread-only: OSError\n"
	args := []string{"run", "--mount", dir + ":/data", "--env", "SNAKEPIT_TEST_TOKEN", "--env", "MODE=fast"}

	code, stdout, stderr := snakepit(t, "", append(args, script)...)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, want, stdout, "from a FILE")

	code, stdout, stderr = snakepit(t, src, append(args, "-")...)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, want, stdout, "from stdin")
}

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args   []string
		code   int
		stdout string // contained in stdout
		stderr string // contained in stderr
	}{
		{nil, exitUsage, "", "Usage:\n\n\tsnakepit <command>"},
		{[]string{"help"}, exitOK, "The commands are:", ""},
		{[]string{"-h"}, exitOK, "The commands are:", ""},
		{[]string{"help", "run"}, exitOK, "usage: snakepit run [flags] [-c CODE | FILE | -]", ""},
		{[]string{"run", "-h"}, exitOK, "-mount host:guest", ""},
		{[]string{"doctor", "-h"}, exitOK, "usage: snakepit doctor", ""},
		{[]string{"mcp", "--help"}, exitOK, "-stateful", ""},
		{[]string{"frobnicate"}, exitUsage, "", "snakepit frobnicate: unknown command"},
		{[]string{"run"}, exitUsage, "", "give the code one way"},
		{[]string{"run", "-c", "1", "file.py"}, exitUsage, "", "give the code one way"},
		{[]string{"run", "a.py", "b.py"}, exitUsage, "", "too many arguments"},
		{[]string{"run", "--nope", "-c", "1"}, exitUsage, "", "flag provided but not defined: -nope"},
		{[]string{"run", "--memory", "lots", "-c", "1"}, exitUsage, "", "want a size such as"},
		{[]string{"run", "--mount", "/nonexistent-dir:/data", "-c", "1"}, exitUsage, "", "/nonexistent-dir is not a directory"},
		{[]string{"run", "--mount", ".:data", "-c", "1"}, exitUsage, "", "must be absolute"},
		{[]string{"run", "--env", "SNAKEPIT_TEST_SURELY_UNSET", "-c", "1"}, exitUsage, "", "is not set on the host"},
		{[]string{"doctor", "extra"}, exitUsage, "", "takes no arguments"},
		{[]string{"mcp", "--workers", "0"}, exitUsage, "", "--workers must be at least 1"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, stdout, stderr := snakepit(t, "", c.args...)
			require.Equal(t, c.code, code, "stderr: %s", stderr)
			require.Contains(t, stdout, c.stdout)
			require.Contains(t, stderr, c.stderr)
			if c.code == exitUsage && len(c.args) > 0 && c.args[0] != "frobnicate" {
				require.Contains(t, stderr, "Run 'snakepit help "+c.args[0]+"' for details.")
			}
		})
	}
}

func TestRunJSONReportsAnInterpreterThatCannotStart(t *testing.T) {
	t.Setenv("SNAKEPIT_PYTHON_DIR", t.TempDir())
	code, o := runJSON(t, "", "-c", "")
	require.Equal(t, exitFailure, code)
	require.Contains(t, o.Error.Message, "python.wasm not built")

	code, _, stderr := snakepit(t, "", "run", "-c", "")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "snakepit: python.wasm not built")
}

func TestRunFileMissingIsAFailure(t *testing.T) {
	code, _, stderr := snakepit(t, "", "run", filepath.Join(t.TempDir(), "missing.py"))
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "no such file")
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]uint64{"65536": 65536, "512K": 512 << 10, "64M": 64 << 20, "64MiB": 64 << 20, "64mb": 64 << 20, "1G": 1 << 30} {
		var s byteSize
		require.NoError(t, s.Set(in), in)
		require.Equal(t, want, uint64(s), in)
	}
	for _, in := range []string{"", "0", "M", "-1", "1T", "1.5M", "2000G"} {
		var s byteSize
		require.Error(t, s.Set(in), in)
	}
	s := byteSize(256 << 20)
	require.Equal(t, "256M", s.String())
}

// The MCP SDK and its dependencies are for this command only: the library
// packages must not bring them to their users.
func TestOnlyCmdImportsTheMCPSDK(t *testing.T) {
	root := "../.."
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (p == filepath.Join(root, "cmd") || p != root && strings.HasPrefix(d.Name(), ".")):
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".go") {
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			require.False(t, strings.Contains(string(src), `"github.com/modelcontextprotocol/`), "%s imports the MCP SDK", p)
		}
		return nil
	})
	require.NoError(t, err)
}

func TestProgressLineIsRewrittenThenCleared(t *testing.T) {
	var w lockedBuffer
	done := showProgress(&w, "snakepit: compiling", 0, time.Millisecond)
	require.Eventually(t, func() bool { return w.String() != "" }, 5*time.Second, time.Millisecond)
	done()
	out := w.String()
	require.True(t, strings.HasPrefix(out, "\rsnakepit: compiling... "), "%q", out)
	require.True(t, strings.HasSuffix(out, "\r\033[K"), "the line is cleared: %q", out)

	w.Reset()
	showProgress(&w, "quick", time.Hour, time.Millisecond)()
	require.Empty(t, w.String(), "a step shorter than the delay shows nothing")

	require.False(t, isTerminal(&w))
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	require.NoError(t, err)
	defer f.Close()
	require.False(t, isTerminal(f), "a file is no terminal")
}

// lockedBuffer is a bytes.Buffer that a goroutine may write while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

func TestRunOutWritesTheCallsFilesAndRefusesUnsafeNames(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := snakepit(t, "", "run", "--out", dir, "-c", "import os\nos.mkdir('d')\nopen('d/x.txt', 'w').write('y')\nopen('r.txt', 'w').write('hi')")
	require.Equal(t, exitOK, code, stderr)
	b, err := os.ReadFile(filepath.Join(dir, "d", "x.txt"))
	require.NoError(t, err)
	require.Equal(t, "y", string(b))

	dir = t.TempDir()
	code, _, stderr = snakepit(t, "", "run", "--out", dir, "-c", "open('ok.txt', 'w').write('x')\nopen('..\\\\..\\\\evil.txt', 'w').write('x')")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "unsafe file name")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing is written when a name is unsafe")
}

// `snakepit run --numpy` runs the numpy variant the module embeds; without
// the flag numpy is not there.
func TestRunNumpy(t *testing.T) {
	code, stdout, stderr := snakepit(t, "", "run", "--numpy", "-c", "import numpy as np\nprint(np.linalg.solve([[3.0, 1.0], [1.0, 2.0]], [9.0, 8.0]))")
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "[2. 3.]\n", stdout)
	code, _, stderr = snakepit(t, "", "run", "-c", "import numpy")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "ModuleNotFoundError: No module named 'numpy'")
}
