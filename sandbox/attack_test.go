package sandbox_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { testrt.Main(m) }

var ctx = context.Background()

// hang bounds waits that only a bug would make long.
const hang = 30 * time.Second

// secret is put in the host's environment and in a host file outside the
// mount; no guest may see it.
const secret = "snakepit-host-secret-5f1c"

// mode is a pool's: a Pool in ModeFresh or ModeWarm, or Sessions.
type mode string

const (
	fresh   mode = "fresh"
	warm    mode = "warm"
	session mode = "session"
)

var modes = []mode{fresh, warm, session}

// anyPool is a Pool or, in mode session, Sessions.
type anyPool struct {
	p  *pool.Pool
	ss *pool.Sessions
}

// runner returns the pool, or key's session.
func (a anyPool) runner(key string) runtime.Runner {
	if a.ss != nil {
		return a.ss.Session(key)
	}
	return a.p
}

func (a anyPool) Stats() pool.Stats {
	if a.ss != nil {
		return a.ss.Stats()
	}
	return a.p.Stats()
}

func (a anyPool) Close(ctx context.Context) error {
	if a.ss != nil {
		return a.ss.Close(ctx)
	}
	return a.p.Close(ctx)
}

// target is where an attack runs: a pool in one mode, and in mode session
// the attacker's session key.
type target struct {
	mode mode
	p    anyPool
	key  string
}

func (tg *target) run(c context.Context, req runtime.Request) (*runtime.Result, error) {
	return tg.p.runner(tg.key).Run(c, req)
}

// attack is one row of the table: OpExec of code (or req), run with the
// caller's deadline if set, and the outcome want checks.
type attack struct {
	name     string
	code     string
	req      func(tg *target) runtime.Request
	deadline time.Duration
	// own adjusts the options of a pool of the attack's own (in every mode),
	// for limits the shared pools do not have.
	own func(*pool.Options)
	// poisons: the attack leaves a warm worker altered for later callers,
	// which ModeWarm allows (it is for trusted code); in ModeWarm it runs on
	// a pool of its own.
	poisons bool
	slow    bool // seconds in each mode: only with SNAKEPIT_SANDBOX_SLOW set
	want    func(t *testing.T, res *runtime.Result, err error)
	// then, for a poisoning attack, checks the outcome of `1` evaluated
	// next on the attacker's worker (ModeWarm) or session (ModeSession).
	then func(t *testing.T, res *runtime.Result, err error)
}

func (a attack) request(tg *target) runtime.Request {
	if a.req != nil {
		return a.req(tg)
	}
	return runtime.Exec(a.code)
}

// kind expects an error of that kind, which also wraps each of is.
func kind(k runtime.ErrorKind, is ...error) func(*testing.T, *runtime.Result, error) {
	return func(t *testing.T, _ *runtime.Result, err error) {
		t.Helper()
		require.Equal(t, k, runtime.KindOf(err), "%v", err)
		for _, e := range is {
			require.ErrorIs(t, err, e)
		}
	}
}

// python expects a Python exception of one of the types.
func python(types ...string) func(*testing.T, *runtime.Result, error) {
	return func(t *testing.T, _ *runtime.Result, err error) {
		t.Helper()
		var pe *runtime.PythonError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, runtime.KindPython, runtime.KindOf(err))
		require.Contains(t, types, pe.Type, "%v", err)
	}
}

var osErrors = []string{"FileNotFoundError", "PermissionError", "OSError", "NotADirectoryError", "IsADirectoryError"}

// succeeds expects no error, then check.
func succeeds(check func(t *testing.T, res *runtime.Result)) func(*testing.T, *runtime.Result, error) {
	return func(t *testing.T, res *runtime.Result, err error) {
		t.Helper()
		require.NoError(t, err)
		if check != nil {
			check(t, res)
		}
	}
}

// printed expects success with exactly that stdout.
func printed(out string) func(*testing.T, *runtime.Result, error) {
	return succeeds(func(t *testing.T, res *runtime.Result) { require.Equal(t, out, string(res.Stdout)) })
}

// hostTools are granted to every worker.
var hostTools = map[string]runtime.HostFunc{
	"echo": func(_ context.Context, a json.RawMessage) (any, error) { return a, nil },
	"big":  func(context.Context, json.RawMessage) (any, error) { return strings.Repeat("x", 1<<20), nil },
	"block": func(c context.Context, _ json.RawMessage) (any, error) {
		<-c.Done()
		return nil, c.Err()
	},
}

// limits are the shared pools' instance limits, small so that attacks
// reach them quickly.
func limits(mount string) runtime.Options {
	return runtime.Options{
		Limits: runtime.Limits{MaxMemory: 64 << 20, MaxStdout: 64 << 10, MaxStderr: 64 << 10, MaxResult: 1 << 20, MaxStreamChunks: 100, MaxStreamBytes: 256 << 10, MaxHostCalls: 100, MaxHostPayload: 64 << 10},
		Mounts: []runtime.Mount{{GuestPath: "/data", HostDir: mount}},
		Host:   hostTools,
	}
}

// hostFiles makes the mounted directory: a file, links pointing out of it
// (to /etc and to a secret file in another directory), and that secret.
func hostFiles(t *testing.T) (mount, outside string) {
	mount, outside = t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(mount, "data.txt"), []byte("inside"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(secret), 0o644))
	require.NoError(t, os.Symlink("/etc", filepath.Join(mount, "etc")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(mount, "secret")))
	require.NoError(t, os.Symlink("..", filepath.Join(mount, "up")))
	return mount, outside
}

// freshCanary must see nothing an attacker did: it runs on a clean clone.
const freshCanary = `
import builtins, sys, json, random, snakepit
assert 'pwned' not in globals(), 'a global leaked'
assert not hasattr(builtins, 'pwned'), 'a builtin leaked'
for m in (sys, json, random, snakepit):
    assert not hasattr(m, 'pwned'), 'module state leaked: ' + m.__name__
assert random.random() != random.Random(1234).random(), 'the random state leaked'
assert snakepit.call('echo', 41) == [41], 'the bridge is altered'
print('clean')
6 * 7`

// victimCanary runs in the victim session, which every attack runs beside.
const victimCanary = `
assert victim_state == 'kept', 'the session lost its state'
assert 'pwned' not in globals(), 'a global leaked into another session'
import builtins
assert not hasattr(builtins, 'pwned')
print('clean')
6 * 7`

// canary checks the pool serves a clean call after an attack.
func canary(t *testing.T, tg *target) {
	t.Helper()
	code, key := freshCanary, "victim"
	if tg.mode == warm {
		code = "6 * 7" // state persists on a warm worker by design
	}
	if tg.mode == session {
		code = victimCanary
	}
	c, cancel := context.WithTimeout(ctx, hang)
	defer cancel()
	res, err := tg.p.runner(key).Run(c, runtime.Exec(code))
	require.NoError(t, err, "the call after the attack")
	require.JSONEq(t, "42", string(res.Value))
	if tg.mode != warm {
		require.Equal(t, "clean\n", string(res.Stdout))
	}
}

// newPool starts a pool in mode m; in mode session with the victim's
// session started.
func newPool(t *testing.T, m mode, opts pool.Options) anyPool {
	t.Helper()
	if m == session {
		ss, err := pool.NewSessions(ctx, testrt.Runtime(t), opts)
		require.NoError(t, err)
		_, err = ss.Session("victim").Run(ctx, runtime.Exec("victim_state = 'kept'"))
		require.NoError(t, err)
		return anyPool{ss: ss}
	}
	opts.Mode = map[mode]pool.Mode{fresh: pool.ModeFresh, warm: pool.ModeWarm}[m]
	p, err := pool.New(ctx, testrt.Runtime(t), opts)
	require.NoError(t, err)
	return anyPool{p: p}
}

func closePool(t *testing.T, p interface{ Close(context.Context) error }) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, hang)
	defer cancel()
	require.NoError(t, p.Close(c))
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func heapInuse() uint64 {
	var ms goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func TestAttacks(t *testing.T) {
	t.Setenv("SNAKEPIT_HOST_SECRET", secret)
	testrt.Runtime(t) // compiling python.wasm is not the suite's heap
	fds, heap := openFDs(t), heapInuse()
	mount, outside := hostFiles(t)
	base := pool.Options{Size: 2, MaxCallTime: 10 * time.Second, MaxQueueWait: 10 * time.Second, Instance: limits(mount)}

	shared := map[mode]anyPool{}
	for _, m := range modes {
		o := base
		if m == session {
			// The victim's, the attacker's, and a spare, so that the next
			// attacker does not wait for the last one's replacement.
			o.Size, o.MaxSessions = 3, 2
		}
		shared[m] = newPool(t, m, o)
	}
	for _, a := range attacks() {
		t.Run(a.name, func(t *testing.T) {
			if a.slow && os.Getenv("SNAKEPIT_SANDBOX_SLOW") == "" {
				t.Skip("seconds in each mode: set SNAKEPIT_SANDBOX_SLOW=1 (make sandbox-slow)")
			}
			for _, m := range modes {
				t.Run(string(m), func(t *testing.T) {
					tg := &target{mode: m, p: shared[m], key: "attacker-" + a.name}
					if a.own != nil || (a.poisons && m == warm) {
						o := base
						if a.own != nil {
							a.own(&o)
						}
						if a.poisons {
							o.Size = 1 // the next call runs on the poisoned worker
						}
						tg.p = newPool(t, m, o)
						defer closePool(t, tg.p)
					}
					if m == session {
						defer tg.p.ss.Session(tg.key).End()
					}
					// A deadline is the attack's, not the queue's: wait for a
					// worker (replacements start in the background) first.
					if m == session {
						_, err := tg.run(ctx, runtime.Exec("pass"))
						require.NoError(t, err)
					} else {
						require.Eventually(t, func() bool { return tg.p.Stats().Idle > 0 }, hang, time.Millisecond)
					}
					c, cancel := context.WithTimeout(ctx, hang)
					if a.deadline > 0 {
						c, cancel = context.WithTimeout(ctx, a.deadline)
					}
					start := time.Now()
					res, err := tg.run(c, a.request(tg))
					cancel()
					took := time.Since(start)
					t.Logf("%s/%s: %v in %v: %v", a.name, m, runtime.KindOf(err), took.Round(time.Millisecond), firstLine(err))
					require.Less(t, took, hang, "the attack outlived every bound")
					a.want(t, res, err)
					if a.then != nil && m != fresh && err == nil {
						res, err := tg.run(ctx, runtime.Eval("1"))
						t.Logf("%s/%s: then %v: %v", a.name, m, runtime.KindOf(err), firstLine(err))
						a.then(t, res, err)
					}
					if m == session {
						tg.p.ss.Session(tg.key).End()
					}
					if !(a.poisons && m == warm) {
						if a.own != nil {
							require.Eventually(t, func() bool { return tg.p.Stats().Idle > 0 }, hang, time.Millisecond)
						}
						canary(t, tg)
					}
				})
			}
		})
	}
	for _, p := range shared {
		closePool(t, p)
	}

	// The host is unharmed: nothing written through the mount, descriptors
	// and heap back (goroutines: goleak in TestMain).
	ents, err := os.ReadDir(mount)
	require.NoError(t, err)
	require.Len(t, ents, 4, "files created in the read-only mount")
	b, err := os.ReadFile(filepath.Join(mount, "data.txt"))
	require.NoError(t, err)
	require.Equal(t, "inside", string(b))
	b, err = os.ReadFile(filepath.Join(outside, "secret.txt"))
	require.NoError(t, err)
	require.Equal(t, secret, string(b))
	require.LessOrEqual(t, openFDs(t), fds+4, "host file descriptors left open")
	require.Less(t, int64(heapInuse())-int64(heap), int64(64<<20), "host heap held after the suite")
}

func firstLine(err error) string {
	if err == nil {
		return "ok"
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// reenter is a host tool that runs the same request again on the same pool
// (and session), from inside a call: each level holds a worker, until the
// pool refuses. It answers with the innermost outcome.
func reenter(tg *target, req *runtime.Request) runtime.HostFunc {
	return func(c context.Context, _ json.RawMessage) (any, error) {
		res, err := tg.run(c, *req)
		if err != nil {
			return string(runtime.KindOf(err)), nil
		}
		return strings.TrimSpace(string(res.Stdout)), nil
	}
}

func attacks() []attack {
	const deadline = 300 * time.Millisecond
	stopped := kind(runtime.KindDeadline, context.DeadlineExceeded)
	memory := kind(runtime.KindMemoryLimit, runtime.ErrMemoryLimit)
	crashed := kind(runtime.KindCrash, pool.ErrWorkerCrashed)
	malformed := kind(runtime.KindCrash, pool.ErrWorkerCrashed, runtime.ErrMalformed)
	value := func(v string) func(*testing.T, *runtime.Result, error) {
		return succeeds(func(t *testing.T, res *runtime.Result) { require.JSONEq(t, v, string(res.Value)) })
	}
	noSecret := succeeds(func(t *testing.T, res *runtime.Result) {
		require.NotContains(t, string(res.Value)+string(res.Stdout)+string(res.Stderr), secret)
		require.Contains(t, string(res.Stdout), "done")
	})
	return []attack{
		// Files.
		{name: "absolute path outside the mounts", code: "open('/etc/passwd').read()", want: python(osErrors...)},
		{name: "listing the root", code: "import os\nprint(os.listdir('/'))", want: python(osErrors...)},
		{name: "dot-dot out of a mount", code: "open('/data/../../../etc/passwd').read()", want: python(osErrors...)},
		{name: "dot-dot out of the stdlib", code: "open('/usr/lib/python3.13/../../../etc/passwd').read()", want: python(osErrors...)},
		{name: "link in a mount to a host file", code: "open('/data/secret').read()", want: python(osErrors...)},
		{name: "link in a mount to /etc", code: "open('/data/etc/passwd').read()", want: python(osErrors...)},
		{name: "link in a mount to its parent", code: "import os\nprint(os.listdir('/data/up'))", want: python(osErrors...)},
		{name: "proc", code: "open('/proc/self/maps').read()", want: python(osErrors...)},
		{name: "dev", code: "open('/dev/mem', 'rb').read(1)", want: python(osErrors...)},
		{name: "write to a mount", code: "open('/data/new.txt', 'w').write('x')", want: python(osErrors...)},
		{name: "overwrite a mounted file", code: "open('/data/data.txt', 'w').write('x')", want: python(osErrors...)},
		{name: "remove from a mount", code: "import os\nos.remove('/data/data.txt')", want: python(osErrors...)},
		{name: "write to the stdlib", code: "open('/usr/lib/python3.13/os.py', 'a').write('pwned = 1')", want: python(osErrors...)},
		{name: "the mount itself reads", code: "print(open('/data/data.txt').read())", want: printed("inside\n")},

		// The host's environment and paths.
		{name: "environment and sysconfig", code: `
import os, sys, sysconfig
seen = [repr(dict(os.environ)), repr(sysconfig.get_config_vars()), repr(sys.path), repr(sys.argv), repr(sys.flags)]
for p in ('/proc/self/environ', '/proc/1/environ'):
    try:
        seen.append(open(p).read())
    except OSError:
        pass
print('done', len(seen))
'\n'.join(seen)`, want: noSecret},
		{name: "host paths through the mount's links", code: `
import os
for p in ('/data/secret', '/data/etc', '/data/up'):
    for f in (os.readlink, os.path.realpath, os.stat, os.lstat):
        try:
            print(p, f.__name__, f(p))
        except OSError as e:
            print(p, f.__name__, type(e).__name__)
`, want: succeeds(func(t *testing.T, res *runtime.Result) {
			out := string(res.Stdout)
			require.NotContains(t, out, os.TempDir(), "a host path (the links point into host temporary directories)")
			require.Equal(t, 3, strings.Count(out, "readlink OSError"), out)
		})},
		{name: "environment is empty", code: "import os\nlen(os.environ)", want: succeeds(func(t *testing.T, res *runtime.Result) {
			require.JSONEq(t, "0", string(res.Value))
		})},

		// Memory (cap 64 MiB).
		{name: "one huge allocation", code: "x = bytearray(500 << 20)", want: memory},
		{name: "allocation refused before the cap", code: "x = bytearray(1 << 40)", want: python("MemoryError", "OverflowError")},
		{name: "many small objects", slow: true, code: "x = []\nwhile True:\n    x.append(str(len(x)) * 10)", want: memory},
		{name: "exponential string", code: "s = 'x'\nwhile True:\n    s += s", want: memory},
		{name: "reference cycle bomb", code: "import gc\ngc.disable()\nwhile True:\n    a = [None] * 1000\n    a[0] = a", want: memory},
		{name: "big integer growth", code: "x = 3\nwhile True:\n    x <<= x.bit_length()", want: memory},

		// CPU.
		{name: "python loop", code: "while True:\n    pass", deadline: deadline, want: stopped},
		{name: "regex backtracking", code: "import re\nre.match(r'(a+)+$', 'a' * 64 + 'b')", deadline: deadline, want: stopped},
		{name: "big integer power", code: "10 ** 10 ** 8", deadline: deadline, want: stopped},
		{name: "huge sorted", code: "xs = [(i * 7919) % 1000003 for i in range(10 ** 6)]\nwhile True:\n    sorted(xs)", deadline: deadline, want: stopped},
		{name: "str.replace blow-up", code: "s = 'a' * (1 << 20)\nwhile True:\n    s.replace('a', 'bc')", deadline: deadline, want: stopped},
		{name: "deep recursion at a raised limit", code: "import sys\nsys.setrecursionlimit(30000)\ndef f(n):\n    return f(n + 1)\nf(0)", want: python("RecursionError")},
		// Python frames live on the heap: at a limit it cannot reach, the
		// memory cap ends the recursion.
		{name: "deep recursion past the memory cap", slow: true, code: "import sys\nsys.setrecursionlimit(10 ** 7)\ndef f(n):\n    return f(n + 1)\nf(0)", want: memory},
		{name: "recursion through C at a raised limit", code: "import sys\nsys.setrecursionlimit(10 ** 7)\ndef h(n):\n    return list(map(h, [n + 1]))\nh(0)", want: python("RecursionError")},
		{name: "exponential recursion tree", code: "def f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\nf(100)", deadline: deadline, want: stopped},
		{name: "sleep", code: "import select\nselect.select([], [], [], 1e9)", deadline: deadline, want: stopped},

		// Output, results, streams (stdout/stderr 64 KiB, result 1 MiB, stream 100 chunks / 256 KiB).
		{name: "stdout flood", code: "for _ in range(10 ** 4):\n    print('x' * 1000)", want: succeeds(func(t *testing.T, res *runtime.Result) {
			require.Len(t, res.Stdout, 64<<10)
			require.True(t, res.StdoutTruncated)
		})},
		{name: "stderr flood", code: "import sys\nfor _ in range(10 ** 4):\n    sys.stderr.write('x' * 1000)", want: succeeds(func(t *testing.T, res *runtime.Result) {
			require.Len(t, res.Stderr, 64<<10)
			require.True(t, res.StderrTruncated)
		})},
		{name: "raw writes to fds 0 to 20", code: `
import os
for fd in range(21):
    for _ in range(50):
        try:
            os.write(fd, b'y' * 100000)
        except OSError:
            break
print('done')`, want: succeeds(func(t *testing.T, res *runtime.Result) {
			require.Len(t, res.Stdout, 64<<10) // 'done' fell past the cap
			require.True(t, res.StdoutTruncated)
			require.Len(t, res.Stderr, 64<<10)
			require.True(t, res.StderrTruncated)
		})},
		{name: "output flood past the deadline", code: "while True:\n    print('x' * 1000)", deadline: deadline, want: func(t *testing.T, res *runtime.Result, err error) {
			stopped(t, res, err)
			require.NotNil(t, res)
			require.Len(t, res.Stdout, 64<<10)
		}},
		{name: "huge result", req: func(*target) runtime.Request { return runtime.Eval("'x' * (2 << 20)") },
			want: kind(runtime.KindResultTooLarge, runtime.ErrResultTooLarge)},
		{name: "huge bytes result", req: func(*target) runtime.Request { return runtime.Eval("b'x' * (2 << 20)") },
			want: kind(runtime.KindResultTooLarge, runtime.ErrResultTooLarge)},
		{name: "stream chunk flood", req: func(*target) runtime.Request {
			return runtime.Request{Op: runtime.OpExec, Code: "import snakepit\nwhile True:\n    snakepit.emit(1)", OnChunk: func(json.RawMessage) error { return nil }}
		}, want: kind(runtime.KindStreamLimit, runtime.ErrStreamLimit)},
		{name: "stream chunk flood caught", req: func(*target) runtime.Request {
			return runtime.Request{Op: runtime.OpExec, Code: "import snakepit\nfor _ in range(1000):\n    try:\n        snakepit.emit('x' * 1000)\n    except RuntimeError:\n        pass", OnChunk: func(json.RawMessage) error { return nil }}
		}, want: kind(runtime.KindStreamLimit, runtime.ErrStreamLimit)},
		{name: "stream chunk over MaxResult", req: func(*target) runtime.Request {
			return runtime.Request{Op: runtime.OpExec, Code: "import snakepit\nsnakepit.emit('x' * (2 << 20))", OnChunk: func(json.RawMessage) error { return nil }}
		}, want: kind(runtime.KindResultTooLarge, runtime.ErrResultTooLarge)},
		{name: "endless OpStream", req: func(*target) runtime.Request {
			return runtime.Request{Op: runtime.OpStream, Code: "itertools.count", OnChunk: func(json.RawMessage) error { return nil }}
		}, want: kind(runtime.KindStreamLimit, runtime.ErrStreamLimit)},

		// Host calls (100 per call, 64 KiB payloads).
		{name: "host call flood", code: "import snakepit\nwhile True:\n    snakepit.call('echo', 1)", want: func(t *testing.T, res *runtime.Result, err error) {
			python("RuntimeError")(t, res, err)
			require.ErrorContains(t, err, "host call limit")
		}},
		{name: "host call flood caught", code: "import snakepit\nn = 0\nfor _ in range(1000):\n    try:\n        snakepit.call('echo', 1)\n        n += 1\n    except RuntimeError:\n        pass\nprint(n)", want: printed("100\n")},
		{name: "oversized host call argument", code: "import snakepit\nsnakepit.call('echo', 'x' * (1 << 20))", want: python("RuntimeError")},
		{name: "oversized host call answer", code: "import snakepit\nsnakepit.call('big')", want: python("RuntimeError")},
		{name: "unknown host tool", code: "import snakepit\nsnakepit.call('os.system', 'id')", want: python("RuntimeError")},
		{name: "raw host call with garbage", code: "import _snakepit\n_snakepit.call('echo', b'\\xff{not json')", want: python("RuntimeError")},
		{name: "host tool blocking past the deadline", code: "import snakepit\nsnakepit.call('block')", deadline: deadline, want: stopped},
		{name: "re-entrant host tool", own: func(o *pool.Options) { o.FailFast = true }, req: func(tg *target) runtime.Request {
			req := new(runtime.Request)
			*req = runtime.Exec("import snakepit\nprint(snakepit.call('reenter'))")
			req.Host = map[string]runtime.HostFunc{"reenter": reenter(tg, req)}
			return *req
		}, want: printed("saturated\n")},
		{name: "re-entrant host tool with a queue", own: func(o *pool.Options) { o.MaxQueueWait = 200 * time.Millisecond }, req: func(tg *target) runtime.Request {
			req := new(runtime.Request)
			*req = runtime.Exec("import snakepit\nprint(snakepit.call('reenter'))")
			req.Host = map[string]runtime.HostFunc{"reenter": reenter(tg, req)}
			return *req
		}, want: printed("queue_timeout\n")},

		// The bridge.
		{name: "monkeypatched snakepit module", poisons: true, code: "import snakepit\nsnakepit.call = lambda *a, **k: 'forged'\nsnakepit.pwned = 1\nsnakepit.call('echo', 1)", want: succeeds(func(t *testing.T, res *runtime.Result) {
			require.JSONEq(t, `"forged"`, string(res.Value)) // its own interpreter only
		}), then: value("1")},
		{name: "replaced snakepit in sys.modules", poisons: true, code: "import sys\nsys.modules['snakepit'] = sys\nsys.pwned = 1", want: succeeds(nil), then: value("1")},
		{name: "sys.modules.clear", poisons: true, code: "import sys\nsys.modules.clear()", want: succeeds(nil), then: value("1")},
		{name: "dispatcher frames garbage", poisons: true, code: "import snakepit_guest as g\ng.TAG_JSON = b'garbage'\n1", want: malformed},
		{name: "dispatcher frames an unknown tag", poisons: true, code: "import snakepit_guest as g\ng.TAG_JSON = b'Z'\n1", want: malformed},
		{name: "dispatcher encodes invalid JSON", poisons: true, code: "import snakepit_guest as g\ng._encode = lambda v: '{{{'\n{1}", want: malformed},
		{name: "dispatcher writes an int as invalid JSON", poisons: true, code: "import snakepit_guest as g\ng._int_repr = lambda v: '{{{'\n1", want: malformed},
		{name: "host JSON conversion of garbage", code: "import _snakepit\n_snakepit.call('snakepit.json', b'\\xff' * 100000)", want: python("RuntimeError")},
		{name: "host JSON conversion too deep", code: "import _snakepit, marshal, functools\n_snakepit.call('snakepit.json', marshal.dumps(functools.reduce(lambda a, _: [a], range(1000), 1), 2))", want: python("RuntimeError")},
		{name: "dispatcher returns a non-bytes", poisons: true, code: "import snakepit_guest as g\ng._value = lambda v, printable=False: 12345\ng._dispatch.__code__ = (lambda kind, a, b: 12345).__code__", want: succeeds(nil), then: malformed},
		{name: "dispatcher code replaced", poisons: true, code: "import snakepit_guest as g\ng._dispatch.__code__ = (lambda kind, a, b: (b'J', b'42')).__code__", want: succeeds(nil), then: value("42")},
		{name: "sys.exit", code: "import sys\nsys.exit(3)", want: python("SystemExit")},
		{name: "os._exit", code: "import os\nos._exit(1)", want: crashed},
		{name: "os.abort", code: "import os\nos.abort()", want: func(t *testing.T, res *runtime.Result, err error) {
			crashed(t, res, err)
			require.ErrorIs(t, err, runtime.ErrTrap)
		}},
		{name: "ctypes", code: "import ctypes", want: python("ModuleNotFoundError")},
		{name: "threads", code: "import threading\nthreading.Thread(target=print).start()", want: python("RuntimeError")},
		{name: "subprocess", code: "import subprocess\nsubprocess.run(['id'])", want: python("OSError", "RuntimeError", "FileNotFoundError", "PermissionError", "ModuleNotFoundError")},
		{name: "socket", code: "import socket\nsocket.create_connection(('127.0.0.1', 22))", want: python("OSError", "ConnectionRefusedError", "PermissionError", "ModuleNotFoundError", "AttributeError")},

		// Leaks to later callers (the canary checks each of these).
		{name: "globals, builtins and module state", poisons: true, code: "import builtins, sys, json, random, snakepit\npwned = 1\nbuiltins.pwned = 1\nfor m in (sys, json, random, snakepit):\n    m.pwned = 1", want: succeeds(nil), then: value("1")},
		{name: "random state", poisons: true, code: "import random\nrandom.seed(1234)", want: succeeds(nil), then: value("1")},
		// The dispatcher's own len() is then the guest's: its next result is
		// malformed, and the worker (its own) is replaced.
		{name: "builtins replaced", poisons: true, code: "import builtins\nbuiltins.print = None\nbuiltins.len = lambda x: 0\nbuiltins.pwned = 1", want: succeeds(nil), then: value("1")}, // the frames are built in C: a replaced len no longer breaks them
	}
}

// A guest that rewrites the dispatcher forges every later answer of its
// worker: in ModeWarm, for the callers after it (which is why ModeWarm is for
// trusted code); in ModeSession, for its own session only.
func TestAlteredDispatcherForgesOnlyItsOwnWorkersAnswers(t *testing.T) {
	forge := runtime.Exec("import snakepit_guest as g\ng._dispatch.__code__ = (lambda kind, a, b: (b'J', b'42')).__code__")
	one := runtime.Eval("1")

	wp := newPool(t, warm, pool.Options{Size: 1}).p
	defer closePool(t, wp)
	_, err := wp.Run(ctx, forge)
	require.NoError(t, err)
	res, err := wp.Run(ctx, one)
	require.NoError(t, err)
	require.JSONEq(t, "42", string(res.Value), "the next warm caller gets the forged answer")

	sess := newPool(t, session, pool.Options{Size: 2}).ss // runs the victim session
	defer closePool(t, sess)
	_, err = sess.Session("attacker").Run(ctx, forge)
	require.NoError(t, err)
	res, err = sess.Session("attacker").Run(ctx, one)
	require.NoError(t, err)
	require.JSONEq(t, "42", string(res.Value))
	res, err = sess.Session("victim").Run(ctx, one)
	require.NoError(t, err)
	require.JSONEq(t, "1", string(res.Value), "another session's answers are its own")

	fp := newPool(t, fresh, pool.Options{Size: 1}).p
	defer closePool(t, fp)
	_, err = fp.Run(ctx, forge)
	require.NoError(t, err)
	res, err = fp.Run(ctx, one)
	require.NoError(t, err)
	require.JSONEq(t, "1", string(res.Value))
}
