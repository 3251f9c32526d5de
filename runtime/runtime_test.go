package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/snakepit-wasm/snakepit/internal/knobs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { testrt.Main(m) }

// rt returns the Runtime shared by the tests (compiling python.wasm once).
var rt = testrt.Runtime

func newInstance(t testing.TB, opts runtime.Options) *runtime.Instance {
	i, err := rt(t).NewInstance(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, i.Close(context.Background())) })
	return i
}

var ctx = context.Background()

func TestExecEvalCallWithValues(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec("def add(a, b):\n    return a + b\ndef greet(name='x', punct='!'):\n    return 'hi ' + name + punct\n"))
	require.NoError(t, err)

	r, err := i.Run(ctx, runtime.Call("add", 2, 40))
	require.NoError(t, err)
	require.JSONEq(t, "42", string(r.Value))

	r, err = i.Run(ctx, runtime.Call("add", []int{1}, []int{2, 3}))
	require.NoError(t, err)
	var got []int
	require.NoError(t, r.Decode(&got))
	require.Equal(t, []int{1, 2, 3}, got)

	r, err = i.Run(ctx, runtime.CallJSON("greet", json.RawMessage(`{"name":"go","punct":"?"}`)))
	require.NoError(t, err)
	require.JSONEq(t, `"hi go?"`, string(r.Value))

	r, err = i.Run(ctx, runtime.Eval("{'a': [1, 2.5, None, True], 'b': 'é'}"))
	require.NoError(t, err)
	require.JSONEq(t, `{"a":[1,2.5,null,true],"b":"é"}`, string(r.Value))

	r, err = i.Run(ctx, runtime.Eval("None"))
	require.NoError(t, err)
	require.Nil(t, r.Value)

	r, err = i.Run(ctx, runtime.Call("json.dumps", map[string]int{"k": 1}))
	require.NoError(t, err)
	require.JSONEq(t, `"{\"k\": 1}"`, string(r.Value))
}

func TestCallBytesCrossesWithoutEncoding(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec("def rev(b):\n    return bytes(reversed(b))\n"))
	require.NoError(t, err)
	in := []byte{0, 1, 2, 255, 0}
	r, err := i.Run(ctx, runtime.CallBytes("rev", in))
	require.NoError(t, err)
	require.Equal(t, []byte{0, 255, 2, 1, 0}, r.Bytes)
	require.Nil(t, r.Value)
}

func TestStdoutStderrCaptureAndTruncation(t *testing.T) {
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxStdout: 10, MaxStderr: 100}})
	var streamed []string
	r, err := i.Run(ctx, runtime.Request{Op: runtime.OpExec, Code: "import sys, os\nprint('hello')\nprint('world, long line')\nsys.stderr.write('err\\n')\nos.write(2, b'raw\\n')\n",
		OnOutput: func(s runtime.Stream, p []byte) { streamed = append(streamed, string(p)) }})
	require.NoError(t, err)
	require.Equal(t, "hello\nworl", string(r.Stdout))
	require.True(t, r.StdoutTruncated)
	require.Equal(t, "err\nraw\n", string(r.Stderr))
	require.False(t, r.StderrTruncated)
	require.Equal(t, "hello\nworlerr\nraw\n", strings.Join(streamed, ""))

	// The next call starts with empty buffers.
	r, err = i.Run(ctx, runtime.Exec("print('x')"))
	require.NoError(t, err)
	require.Equal(t, "x\n", string(r.Stdout))
	require.False(t, r.StdoutTruncated)
}

func TestPythonExceptionIsTypedAndInstanceSurvives(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	r, err := i.Run(ctx, runtime.Exec("print('before')\nraise ValueError('bad value')"))
	var pe *runtime.PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ValueError", pe.Type)
	require.Equal(t, "bad value", pe.Message)
	require.Contains(t, pe.Traceback, "ValueError: bad value")
	require.Equal(t, "before\n", string(r.Stdout))

	_, err = i.Run(ctx, runtime.Exec("import json\njson.loads('{')"))
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "json.decoder.JSONDecodeError", pe.Type)

	_, err = i.Run(ctx, runtime.Exec("syntax error here"))
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "SyntaxError", pe.Type)

	// SystemExit must not end the instance.
	_, err = i.Run(ctx, runtime.Exec("import sys\nsys.exit(3)"))
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "SystemExit", pe.Type)

	r, err = i.Run(ctx, runtime.Eval("1 + 1"))
	require.NoError(t, err)
	require.JSONEq(t, "2", string(r.Value))
	require.NoError(t, i.Err())

	// A value JSON cannot hold is a TypeError, not a broken instance.
	_, err = i.Run(ctx, runtime.Eval("object()"))
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "TypeError", pe.Type)
	require.NoError(t, i.Err())
}

func TestRecursionEndsInRecursionError(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	for _, src := range []string{
		"def f(n):\n    return f(n + 1)\nf(0)",
		"import sys\nsys.setrecursionlimit(10**5)\ndef g(n):\n    return g(n + 1)\ng(0)",
		// Through C frames: these use the wasm stack, which must not overflow.
		"import sys\nsys.setrecursionlimit(10**6)\ndef h(n):\n    return list(map(h, [n + 1]))\nh(0)",
		"import sys\nsys.setrecursionlimit(10**6)\nclass A:\n    def __getattr__(self, k):\n        return getattr(self, k + 'x')\nA().y",
		"import json\njson.loads('[' * 200000)",
		"x = []\nfor _ in range(100000):\n    x = [x]\nrepr(x)",
	} {
		_, err := i.Run(ctx, runtime.Exec(src))
		var pe *runtime.PythonError
		require.ErrorAs(t, err, &pe, src)
		require.Equal(t, "RecursionError", pe.Type, src)
		require.NoError(t, i.Err())
	}
}

// Past the cap memory.grow fails, the allocation returns NULL and CPython
// raises MemoryError, as on a native malloc failure: the call fails with
// ErrMemoryLimit, and the instance keeps its state (what the cap refused
// is not there) and serves the next call.
func TestMemoryCapKeepsStateWhereCPythonSurvives(t *testing.T) {
	for name, src := range map[string]string{
		"one big":      "b = bytearray(500 * 2**20)",
		"a list":       "b = [0] * 10**8",
		"a string":     "b = 'x' * (300 * 2**20)",
		"a json":       "import json\nb = json.dumps(list(range(10**8)))",
		"many small":   "b = []\nwhile True:\n    b.append(str(len(b)) * 10)",
		"deep in code": "def f(n):\n    return f(n - 1) if n else bytearray(500 * 2**20)\nb = f(100)",
	} {
		t.Run(name, func(t *testing.T) {
			i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxMemory: 64 << 20}})
			_, err := i.Run(ctx, runtime.Exec("x = 1"))
			require.NoError(t, err)
			_, err = i.Run(ctx, runtime.Exec(src))
			require.ErrorIs(t, err, runtime.ErrMemoryLimit)
			require.Equal(t, runtime.KindMemoryLimit, runtime.KindOf(err))
			var pe *runtime.PythonError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "MemoryError", pe.Type)
			require.LessOrEqual(t, i.MemoryBytes(), uint64(64<<20))
			require.NoError(t, i.Err())
			// What filled the memory may still hold it: freed, the
			// session goes on.
			_, err = i.Run(ctx, runtime.Exec("b = None"))
			require.NoError(t, err)
			r, err := i.Run(ctx, runtime.Eval("(x, len(bytearray(2**20)))"))
			require.NoError(t, err)
			require.JSONEq(t, "[1, 1048576]", string(r.Value))
		})
	}
}

// A MemoryError the code catches is no error of the call; a request too
// large for what is left of the memory does not run, and the instance
// stays; a size no memory holds is refused by CPython before the cap.
func TestMemoryCapCaughtOrBeforeTheCall(t *testing.T) {
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxMemory: 64 << 20}})
	_, err := i.Run(ctx, runtime.Exec("x = 1\ndef size(b):\n    return len(b)"))
	require.NoError(t, err)
	_, err = i.Run(ctx, runtime.Exec("try:\n    b = bytearray(500 * 2**20)\nexcept MemoryError:\n    b = 'caught'"))
	require.NoError(t, err)
	r, err := i.Run(ctx, runtime.Eval("b"))
	require.NoError(t, err)
	require.JSONEq(t, `"caught"`, string(r.Value))

	_, err = i.Run(ctx, runtime.Request{Op: runtime.OpCallBytes, Code: "size", Data: make([]byte, 60<<20)})
	require.ErrorIs(t, err, runtime.ErrMemoryLimit)
	require.Contains(t, err.Error(), "no room for a request")
	require.NoError(t, i.Err())
	r, err = i.Run(ctx, runtime.Request{Op: runtime.OpCallBytes, Code: "size", Data: make([]byte, 1<<20)})
	require.NoError(t, err)
	require.JSONEq(t, "1048576", string(r.Value))

	// Past what wasm32's size_t holds, CPython refuses without asking for
	// memory: an ordinary Python error.
	for src, typ := range map[string]string{"[0] * 10**9": "MemoryError", "bytearray(10**10)": "OverflowError"} {
		_, err = i.Run(ctx, runtime.Exec(src))
		var pe *runtime.PythonError
		require.ErrorAs(t, err, &pe, src)
		require.Equal(t, typ, pe.Type, src)
		require.NotErrorIs(t, err, runtime.ErrMemoryLimit, src)
	}
	r, err = i.Run(ctx, runtime.Eval("x"))
	require.NoError(t, err)
	require.JSONEq(t, "1", string(r.Value))
}

// A MemoryError that leaves the memory full (a global holds it) would fail
// every call that follows: the instance is given up, for the cap's reason.
func TestMemoryCapLeavingNoRoomBreaksTheInstance(t *testing.T) {
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxMemory: 64 << 20}})
	_, err := i.Run(ctx, runtime.Exec(testrt.FillMemory))
	require.ErrorIs(t, err, runtime.ErrMemoryLimit)
	require.Contains(t, err.Error(), "left for the next call")
	require.ErrorIs(t, i.Err(), runtime.ErrMemoryLimit)
}

// A guest that hits the cap and then does not unwind (here it aborts) is
// broken, for the cap's reason.
func TestMemoryCapThenATrapBreaksTheInstance(t *testing.T) {
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxMemory: 64 << 20}})
	_, err := i.Run(ctx, runtime.Exec("try:\n    bytearray(500 * 2**20)\nexcept MemoryError:\n    pass\nimport os\nos.abort()"))
	require.ErrorIs(t, err, runtime.ErrMemoryLimit)
	require.ErrorIs(t, i.Err(), runtime.ErrMemoryLimit)
	_, err = i.Run(ctx, runtime.Exec("pass"))
	require.ErrorIs(t, err, runtime.ErrBroken)
	require.ErrorIs(t, err, runtime.ErrMemoryLimit)
}

func TestDeadlineStopsLoops(t *testing.T) {
	for _, tc := range spinners {
		t.Run(tc.name, func(t *testing.T) {
			// A hard stop at once (no interrupt first): what this measures.
			i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxMemory: 1 << 30, MaxInterruptGrace: runtime.NoLimit}})
			testrt.StopsAtDeadline(t, i, tc.setup, tc.src)
			require.ErrorIs(t, i.Err(), context.DeadlineExceeded)
		})
	}
}

// spinners run far longer than any deadline, in Python-level and in C-level
// loops; setup prepares data outside the deadline.
var spinners = []struct{ name, setup, src string }{
	{"python-loop", "", "while True:\n    pass"},
	{"regex-backtracking", "import re", "re.match(r'(a+)+$', 'a' * 64 + 'b')"},
	{"sorted", "l = [(i * 7919) % 1000003 for i in range(2 * 10**6)]", "while True:\n    sorted(l)"},
	{"bigint", "", "x = 3 ** 100000000"},
	// No backward jump: an exponential tree of calls, stopped at frame entries.
	{"recursion-tree", "def f():\n    try:\n        f()\n    except RecursionError:\n        f()", "f()"},
	// Calls the eval loop makes inline (no C frame, no eval-breaker check)
	// and nothing else: only RESUME_CHECK's tick stops it. The profile-guided
	// build, without that tick, ran this past every deadline.
	{"call-tree", "def f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)", "f(100)"},
	// A C loop (sum) resuming a Python generator.
	{"generator", "def g():\n    while True:\n        yield 1", "sum(g())"},
}

func TestDeadlineDuringHostCallIsADeadlineError(t *testing.T) {
	i := newInstance(t, runtime.Options{Host: map[string]runtime.HostFunc{
		"slow": func(ctx context.Context, _ json.RawMessage) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}})
	c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := i.Run(c, runtime.Exec("import snakepit\nsnakepit.call('slow')"))
	// Not a Python error: the guest's own handling of the RuntimeError is
	// stopped at its next loop header, and the call reports the deadline.
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestTrapBreaksInstanceWithAShortError(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec("import os\nos.abort()")) // wasi-libc's abort is the unreachable instruction
	require.ErrorIs(t, err, runtime.ErrTrap)
	require.NotContains(t, err.Error(), "\n", "no wasm stack trace in the message")
	require.ErrorIs(t, i.Err(), runtime.ErrTrap)
	_, err = i.Run(ctx, runtime.Exec("pass"))
	require.ErrorIs(t, err, runtime.ErrBroken)
}

func TestCancelledContextBeforeCallLeavesInstanceUsable(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	c, cancel := context.WithCancel(ctx)
	cancel()
	_, err := i.Run(c, runtime.Exec("pass"))
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, i.Err())
}

func TestDeniedByDefault(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	for _, src := range []string{
		"open('/etc/passwd').read()",
		"import os\nos.listdir('/')",
		"open('" + StdlibFile + "', 'w')",
		"import socket\nsocket.create_connection(('127.0.0.1', 80))",
		"import subprocess\nsubprocess.run(['ls'])",
		"import threading\nthreading.Thread(target=print).start()",
	} {
		_, err := i.Run(ctx, runtime.Exec(src))
		var pe *runtime.PythonError
		require.ErrorAs(t, err, &pe, src)
		require.NoError(t, i.Err(), src)
	}
	r, err := i.Run(ctx, runtime.Eval("dict(__import__('os').environ)"))
	require.NoError(t, err)
	require.JSONEq(t, "{}", string(r.Value))
}

const StdlibFile = runtime.StdlibPath + "/os.py"

func TestEnvAndReadOnlyMounts(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.txt"), []byte("from host"), 0o644))
	i := newInstance(t, runtime.Options{
		Env: map[string]string{"GREETING": "hi"},
		Mounts: []runtime.Mount{
			{GuestPath: "/data", HostDir: dir},
			{GuestPath: "/fs", FS: fstest.MapFS{"m.py": {Data: []byte("VALUE = 7\n")}}},
		},
	})
	r, err := i.Run(ctx, runtime.Eval("(__import__('os').environ['GREETING'], open('/data/data.txt').read())"))
	require.NoError(t, err)
	require.JSONEq(t, `["hi","from host"]`, string(r.Value))

	r, err = i.Run(ctx, runtime.Exec("import sys\nsys.path.append('/fs')\nimport m\nprint(m.VALUE)"))
	require.NoError(t, err)
	require.Equal(t, "7\n", string(r.Stdout))

	for _, src := range []string{"open('/data/new.txt', 'w')", "open('/data/data.txt', 'a')", "import os\nos.remove('/data/data.txt')"} {
		_, err = i.Run(ctx, runtime.Exec(src))
		var pe *runtime.PythonError
		require.ErrorAs(t, err, &pe, src)
	}
	// Removing what is not there says so, as on a writable directory:
	// cleanup code ignores FileNotFoundError only.
	r, err = i.Run(ctx, runtime.Exec(`
import os, errno
def err(f, *a):
    try:
        f(*a)
    except OSError as e:
        return errno.errorcode[e.errno]
[err(os.remove, '/data/data.txt'), err(os.remove, '/data/nope.pyc'), err(os.rmdir, '/data/nope'),
 err(os.rename, '/data/nope', '/data/x'), err(os.remove, '/usr/lib/python3.13/nope.pyc'),
 err(os.remove, __import__('csv').__file__), err(os.remove, '/data/data.txt/x')]`))

	require.NoError(t, err)
	require.JSONEq(t, `["EROFS","ENOENT","ENOENT","ENOENT","ENOENT","EROFS","ENOTDIR"]`, string(r.Value))
	b, err := os.ReadFile(filepath.Join(dir, "data.txt"))
	require.NoError(t, err)
	require.Equal(t, "from host", string(b))
	_, err = os.Stat(filepath.Join(dir, "new.txt"))
	require.True(t, os.IsNotExist(err))
}

// POSIX lets a program make any descriptor non-blocking; wazero refuses it
// (ENOSYS) for files that are not pollable, which ours are made to be.
func TestSetBlockingOnMountedAndScratchFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f.txt"), []byte("x"), 0o644))
	i := newInstance(t, runtime.Options{Mounts: []runtime.Mount{{GuestPath: "/data", HostDir: dir}}})
	r, err := i.Run(ctx, runtime.Exec(`
import os
out = []
for path, flags in [('/data/f.txt', os.O_RDONLY), ('/tmp/g.txt', os.O_RDWR | os.O_CREAT)]:
    fd = os.open(path, flags)
    out.append(os.get_blocking(fd))
    os.set_blocking(fd, False)
    out.append(os.get_blocking(fd))
    out.append(os.read(fd, 1))
    os.set_blocking(fd, True)
    out.append(os.get_blocking(fd))
    os.close(fd)
[repr(v) for v in out]`))

	require.NoError(t, err)
	require.JSONEq(t, `["True","False","b'x'","True","True","False","b''","True"]`, string(r.Value))
}

func TestHostCalls(t *testing.T) {
	i := newInstance(t, runtime.Options{
		Limits: runtime.Limits{MaxHostCalls: 5},
		Host: map[string]runtime.HostFunc{
			"add": func(_ context.Context, args json.RawMessage) (any, error) {
				var a []int
				if err := json.Unmarshal(args, &a); err != nil {
					return nil, err
				}
				return a[0] + a[1], nil
			},
			"fail": func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("tool failed") },
		},
	})
	r, err := i.Run(ctx, runtime.Exec("import snakepit\nprint(snakepit.call('add', 2, 3))"))
	require.NoError(t, err)
	require.Equal(t, "5\n", string(r.Stdout))

	r, err = i.Run(ctx, runtime.Request{Op: runtime.OpEval, Code: "__import__('snakepit').call('who', name='py')",
		Host: map[string]runtime.HostFunc{"who": func(_ context.Context, a json.RawMessage) (any, error) { return string(a), nil }}})
	require.NoError(t, err)
	require.JSONEq(t, `"{\"name\":\"py\"}"`, string(r.Value))

	_, err = i.Run(ctx, runtime.Exec("import snakepit\nsnakepit.call('fail')"))
	var pe *runtime.PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "RuntimeError", pe.Type)
	require.Equal(t, "tool failed", pe.Message)

	_, err = i.Run(ctx, runtime.Exec("import snakepit\nsnakepit.call('nope')"))
	require.ErrorAs(t, err, &pe)
	require.Contains(t, pe.Message, `no host function "nope"`)

	_, err = i.Run(ctx, runtime.Exec("import snakepit\nfor _ in range(6): snakepit.call('add', 1, 1)"))
	require.ErrorAs(t, err, &pe)
	require.Contains(t, pe.Message, "host call limit")
	require.NoError(t, i.Err())
}

func TestStreaming(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec("def gen(n):\n    for k in range(n):\n        yield {'k': k}\n"))
	require.NoError(t, err)
	var chunks []string
	_, err = i.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "gen", Args: json.RawMessage("[3]"),
		OnChunk: func(c json.RawMessage) error { chunks = append(chunks, string(c)); return nil }})
	require.NoError(t, err)
	require.Equal(t, []string{`{"k":0}`, `{"k":1}`, `{"k":2}`}, chunks)

	// The consumer can stop a stream; the call returns its error.
	n := 0
	enough := errors.New("enough")
	_, err = i.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "gen", Args: json.RawMessage("[100]"),
		OnChunk: func(json.RawMessage) error { n++; return enough }})
	require.ErrorIs(t, err, enough)
	require.Equal(t, 1, n)
	require.NoError(t, i.Err())
}

// A hostile guest can rewrite the dispatcher it shares the interpreter with.
func TestMalformedGuestDataBreaksOnlyTheInstance(t *testing.T) {
	for name, payload := range map[string]string{
		"unknown tag":       `(b'Z', b'garbage')`,
		"tag without data":  `(b'J',)`,
		"long tag":          `(b'JJ', b'1')`,
		"not a tuple":       `12345`,
		"old framed bytes":  `b'J\x01\x00\x00\x001'`,
		"bytes subclass":    `(b'J', type('B', (bytes,), {})(b'1'))`,
		"str without UTF-8": `(b'J', '"\ud800"')`,
		"invalid json":      `(b'J', b'{{{')`,
		"value and error":   `(b'J', b'1', b'E', b'X')`,
		"100 frames":        `(b'T', b'') * 100`,
	} {
		t.Run(name, func(t *testing.T) {
			i := newInstance(t, runtime.Options{})
			_, err := i.Run(ctx, runtime.Exec("import snakepit_guest\nsnakepit_guest._dispatch.__code__ = (lambda kind, a, b: "+payload+").__code__"))
			require.NoError(t, err)
			_, err = i.Run(ctx, runtime.Exec("pass"))
			require.ErrorIs(t, err, abi.ErrMalformed)
			require.ErrorIs(t, i.Err(), abi.ErrMalformed)
		})
	}
}

func TestResultSizeCap(t *testing.T) {
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxResult: 1000}})
	_, err := i.Run(ctx, runtime.Eval("'x' * 5000"))
	require.ErrorIs(t, err, runtime.ErrResultTooLarge)
	require.NoError(t, i.Err())
	r, err := i.Run(ctx, runtime.Eval("'y' * 10"))
	require.NoError(t, err)
	require.JSONEq(t, `"yyyyyyyyyy"`, string(r.Value))
}

func TestCloseIsIdempotentAndCallsAfterCloseFail(t *testing.T) {
	i, err := rt(t).NewInstance(ctx, runtime.Options{})
	require.NoError(t, err)
	require.NoError(t, i.Close(ctx))
	require.NoError(t, i.Close(ctx))
	_, err = i.Run(ctx, runtime.Exec("pass"))
	require.ErrorIs(t, err, runtime.ErrClosed)
	var nilInst *runtime.Instance
	require.NoError(t, nilInst.Close(ctx))
}

func TestMissingArtifactsSayWhatToRun(t *testing.T) {
	_, err := runtime.New(ctx, runtime.Config{Dir: t.TempDir()})
	require.ErrorIs(t, err, runtime.ErrNotBuilt)
	require.Contains(t, err.Error(), "run `make python-wasm`")
}

func TestStdlibModulesImport(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	r, err := i.Run(ctx, runtime.Exec(`
import json, re, decimal, hashlib, zlib, bz2, lzma, datetime, collections, itertools, struct, unicodedata
assert json.loads(json.dumps({'a': [1]})) == {'a': [1]}
assert re.sub(r'\d+', '#', 'a1b22') == 'a#b#'
assert str(decimal.Decimal(1) / decimal.Decimal(7))[:8] == '0.142857'
assert hashlib.sha256(b'abc').hexdigest().startswith('ba7816bf')
for m in (zlib, bz2, lzma):
    assert m.decompress(m.compress(b'x' * 1000)) == b'x' * 1000
assert datetime.date(2024, 2, 29).isoformat() == '2024-02-29'
assert collections.Counter('aab')['a'] == 2
assert list(itertools.islice(itertools.count(), 3)) == [0, 1, 2]
assert struct.unpack('<I', struct.pack('<I', 7)) == (7,)
assert unicodedata.name('é') == 'LATIN SMALL LETTER E WITH ACUTE'
print('ok')
`))

	require.NoError(t, err)
	require.Equal(t, "ok\n", string(r.Stdout))
}

// TestOtherInterruptMechanismsRun checks the variants the benchmarks compare
// against: with the tick calls turned into nops they compute the same, and
// wazero's mechanism still stops a Python loop.
func TestOtherInterruptMechanismsRun(t *testing.T) {
	for _, mech := range []knobs.Interrupt{knobs.None, knobs.CloseOnDone} {
		t.Run(mech.String(), func(t *testing.T) {
			r, err := runtime.New(knobs.With(ctx, knobs.Knobs{Interrupt: mech}), runtime.Config{})
			require.NoError(t, err)
			defer r.Close(ctx)
			i, err := r.NewInstance(ctx, runtime.Options{})
			require.NoError(t, err)
			defer i.Close(ctx)
			res, err := i.Run(ctx, runtime.Eval("sum(i * i for i in range(1000)) + len(__import__('re').findall('a+', 'aa b aaa'))"))
			require.NoError(t, err)
			require.JSONEq(t, "332833502", string(res.Value))
			if mech == knobs.CloseOnDone {
				c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
				_, err = i.Run(c, runtime.Exec("while True:\n    pass"))
				require.ErrorIs(t, err, context.DeadlineExceeded)
			}
		})
	}
}
