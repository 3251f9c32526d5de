//go:build unix

package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func python(tb testing.TB) Python {
	tb.Helper()
	p, err := PythonPath()
	if err != nil {
		tb.Skip(err)
	}
	return p
}

// newPool starts a pool that is closed, and checked for a clean close, when
// the test ends.
func newPool(tb testing.TB, size int, setup ...string) *Pool {
	tb.Helper()
	p, err := New(context.Background(), python(tb), size)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Error(err)
		}
	})
	for _, src := range setup {
		if err := p.Exec(context.Background(), src); err != nil {
			tb.Fatal(err)
		}
	}
	return p
}

func call(t *testing.T, p *Pool, fn, args string) string {
	t.Helper()
	res, err := p.Call(context.Background(), fn, []byte(args))
	if err != nil {
		t.Fatalf("%s(%s): %v", fn, args, err)
	}
	return string(res)
}

func pythonError(t *testing.T, err error) *PythonError {
	t.Helper()
	var pe *PythonError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *PythonError", err)
	}
	return pe
}

const pidSrc = "import os\ndef pid(): return os.getpid()\n"

func TestExecCall(t *testing.T) {
	p := newPool(t, 2, `
def add(a, b): return a + b
def shout(s): return {"s": s.upper(), "n": len(s)}
counter = 0
def bump():
    global counter
    counter += 1
    return counter
`)
	if got := call(t, p, "add", "[1, 2]"); got != "3" {
		t.Errorf("add = %s, want 3", got)
	}
	if got := call(t, p, "shout", `["héllo"]`); got != `{"s":"H\u00c9LLO","n":5}` {
		t.Errorf("shout = %s", got)
	}
	// Globals persist between calls in a worker.
	call(t, p, "bump", "[]")
	call(t, p, "bump", "[]")
	if got := call(t, p, "bump", "[]"); got != "2" && got != "3" {
		t.Errorf("third bump = %s, want 2 or 3 on a pool of 2", got)
	}

	res, err := p.CallBytes(context.Background(), "rev", []byte("abc"))
	if pe := pythonError(t, err); pe.Type != "NameError" {
		t.Errorf("undefined function: %v", pe)
	}
	if err := p.Exec(context.Background(), "def rev(b): return bytearray(b[::-1])"); err != nil {
		t.Fatal(err)
	}
	res, err = p.CallBytes(context.Background(), "rev", []byte("a\x00bc"))
	if err != nil || string(res) != "cb\x00a" {
		t.Errorf("rev = %q, %v", res, err)
	}
}

func TestPythonError(t *testing.T) {
	p := newPool(t, 1, `
class Custom(Exception): pass
def boom(x): raise ValueError("bad " + x)
def custom(): raise Custom("mine")
def unjson(): return {1, 2}
def exit(): raise SystemExit(3)
def ok(): return True
`)
	for _, tc := range []struct{ fn, args, typ, msg string }{
		{"boom", `["thing"]`, "ValueError", "bad thing"},
		{"custom", "[]", "__main__.Custom", "mine"},
		{"unjson", "[]", "TypeError", "Object of type set is not JSON serializable"},
		{"exit", "[]", "SystemExit", "3"},
		{"boom", "[]", "TypeError", "boom() missing 1 required positional argument: 'x'"},
		{"boom", "not json", "json.decoder.JSONDecodeError", "Expecting value: line 1 column 1 (char 0)"},
		{"missing", "[]", "NameError", "name 'missing' is not defined"},
	} {
		_, err := p.Call(context.Background(), tc.fn, []byte(tc.args))
		pe := pythonError(t, err)
		if pe.Type != tc.typ || pe.Message != tc.msg {
			t.Errorf("%s(%s): got %q %q, want %q %q", tc.fn, tc.args, pe.Type, pe.Message, tc.typ, tc.msg)
		}
	}
	err := p.Exec(context.Background(), "def broken(:")
	if pe := pythonError(t, err); pe.Type != "SyntaxError" {
		t.Errorf("syntax error: %v", pe)
	}
	// The worker survives all of it.
	if got := call(t, p, "ok", "[]"); got != "true" {
		t.Errorf("ok = %s", got)
	}
}

func TestPrintsDoNotCorruptProtocol(t *testing.T) {
	p := newPool(t, 1, `
import os, sys
def noisy(n):
    print("x" * n)
    sys.stdout.flush()
    os.write(1, b"\x05\x00\x00\x00Ogarbage")
    sys.stderr.write("to stderr\n")
    return n
def crash():
    print("last words", file=sys.stderr)
    os._exit(3)
`)
	if got := call(t, p, "noisy", "[100000]"); got != "100000" {
		t.Errorf("noisy = %s", got)
	}
	_, err := p.Call(context.Background(), "crash", nil)
	if err == nil || !strings.Contains(err.Error(), "last words") {
		t.Errorf("crash: got %v, want an error with the worker's stderr", err)
	}
	// The replacement runs the pool's setup too.
	if got := call(t, p, "noisy", "[1]"); got != "1" {
		t.Errorf("noisy after crash = %s", got)
	}
}

func TestConcurrentCallers(t *testing.T) {
	p := newPool(t, 2, pidSrc+"def echo(x, g, i): return [x, g, i, pid()]\n")
	const goroutines, calls = 8, 50
	var mu sync.Mutex
	pids := map[string]bool{}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				x := strings.Repeat("y", g*10+i)
				args, _ := json.Marshal([]any{x, g, i})
				res, err := p.Call(context.Background(), "echo", args)
				if err != nil {
					t.Error(err)
					return
				}
				// The answer is the arguments plus the worker's pid.
				want, _ := json.Marshal([]any{x, g, i})
				prefix := string(want[:len(want)-1]) + ","
				pid, ok := strings.CutPrefix(string(res), prefix)
				if !ok {
					t.Errorf("goroutine %d call %d got the answer %s", g, i, res)
					return
				}
				mu.Lock()
				pids[pid] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(pids) != 2 {
		t.Errorf("calls were served by %d workers, want 2", len(pids))
	}
}

func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestCancelReplacesWorker(t *testing.T) {
	p := newPool(t, 1, pidSrc+"def spin():\n    while True: pass\n")
	old := call(t, p, "pid", "[]")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Call(ctx, "spin", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("spin: got %v, want DeadlineExceeded", err)
	}
	// Generous, as the machine may be loaded; without the kill it would hang.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled call took %v", d)
	}

	// A caller waiting for a slot gives up without harming anyone.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := p.Call(ctx, "pid", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("call with a cancelled context: %v", err)
	}

	now := call(t, p, "pid", "[]")
	if now == old {
		t.Fatalf("still served by the killed worker %s", old)
	}
	var oldPid int
	fmt.Sscan(old, &oldPid)
	if !gone(oldPid) {
		t.Errorf("killed worker %d still exists", oldPid)
	}
	for i := range 20 {
		if got := call(t, p, "pid", "[]"); got != now {
			t.Fatalf("call %d served by %s, want %s", i, got, now)
		}
	}
}

func TestExecCancelled(t *testing.T) {
	p := newPool(t, 2, "x = 1\ndef x_(): return x\n")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Exec(ctx, "x = 2\nwhile True: pass"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	// Both workers were replaced and replayed only the successful setup.
	for range 10 {
		if got := call(t, p, "x_", "[]"); got != "1" {
			t.Fatalf("x = %s, want 1", got)
		}
	}
}

func TestCallback(t *testing.T) {
	p := newPool(t, 1, `
def ask(n):
    return sum(host_call({"i": i}) for i in range(n))
`)
	calls := 0
	res, err := p.CallWithCallback(context.Background(), "ask", []byte("[5]"), func(req []byte) []byte {
		calls++
		var v struct{ I int }
		if err := json.Unmarshal(req, &v); err != nil {
			t.Errorf("callback got %s: %v", req, err)
		}
		return fmt.Appendf(nil, "%d", v.I*10)
	})
	if err != nil || string(res) != "100" || calls != 5 {
		t.Errorf("ask(5) = %s, %v after %d callbacks; want 100 after 5", res, err, calls)
	}

	_, err = p.Call(context.Background(), "ask", []byte("[1]"))
	if pe := pythonError(t, err); pe.Type != "RuntimeError" || !strings.Contains(pe.Message, "no host callback") {
		t.Errorf("host_call without a callback: %v", pe)
	}

	func() {
		defer func() {
			if recover() == nil {
				t.Error("callback panic was swallowed")
			}
		}()
		p.CallWithCallback(context.Background(), "ask", []byte("[1]"), func([]byte) []byte { panic("boom") })
	}()
	// The worker left mid-call was replaced.
	res, err = p.CallWithCallback(context.Background(), "ask", []byte("[2]"), func([]byte) []byte { return []byte("1") })
	if err != nil || string(res) != "2" {
		t.Errorf("after panic: %s, %v", res, err)
	}
}

func TestFresh(t *testing.T) {
	py := python(t)
	if err := RunFresh(context.Background(), py, "x = 1"); err != nil {
		t.Error(err)
	}
	err := RunFresh(context.Background(), py, "raise ValueError('nope')")
	if err == nil || !strings.Contains(err.Error(), "ValueError: nope") {
		t.Errorf("got %v, want the traceback's last line", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := RunFresh(ctx, py, "while True: pass"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want DeadlineExceeded", err)
	}
}

func TestMemory(t *testing.T) {
	p := newPool(t, 2)
	rss, pss, err := p.Memory()
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || pss < 1<<20 || pss > rss {
		t.Errorf("rss %d, pss %d", rss, pss)
	}
	t.Logf("2 idle workers: rss %.1f MiB, pss %.1f MiB", float64(rss)/(1<<20), float64(pss)/(1<<20))
}

func TestCPUTime(t *testing.T) {
	p := newPool(t, 1, "import time\ndef spin(s):\n    end = time.process_time() + s\n    while time.process_time() < end: pass\n    return 0\n")
	before, err := p.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	call(t, p, "spin", "[0.05]")
	after, err := p.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 50*time.Millisecond || d > 5*time.Second {
		t.Errorf("a call spinning 50 ms of CPU time measured %v", d)
	}
}

func TestClose(t *testing.T) {
	p, err := New(context.Background(), python(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Exec(context.Background(), "def spin():\n    while True: pass\n"); err != nil {
		t.Fatal(err)
	}
	pids := p.PIDs()

	// A call still running is killed after the grace period.
	done := make(chan error)
	go func() {
		_, err := p.Call(context.Background(), "spin", nil)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Error(err)
	}
	if err := <-done; err == nil {
		t.Error("spinning call returned no error")
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("worker %d survived Close", pid)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.Call(context.Background(), "spin", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("call after Close: %v", err)
	}
	if err := p.Exec(context.Background(), "x = 1"); !errors.Is(err, ErrClosed) {
		t.Errorf("exec after Close: %v", err)
	}
	goleak.VerifyNone(t)
}

func TestNewFails(t *testing.T) {
	if _, err := New(context.Background(), Python{"/nonexistent/python"}, 2); err == nil {
		t.Error("New with a missing python succeeded")
	}
	script := filepath.Join(t.TempDir(), "python")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho no such luck >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), Python{script}, 2)
	if err == nil || !strings.Contains(err.Error(), "no such luck") {
		t.Errorf("got %v, want the child's stderr", err)
	}
}

func TestPythonPath(t *testing.T) {
	dir := t.TempDir()
	fake := func(path string) string {
		path = filepath.Join(dir, path)
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755)
		return path
	}
	t.Setenv("SNAKEPIT_NATIVE_PYTHON", "")
	t.Setenv("SNAKEPIT_PYTHON_DIR", "")
	t.Setenv("SNAKEPIT_CACHE_DIR", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", filepath.Join(dir, "home"))

	if _, err := PythonPath(); err == nil || !strings.Contains(err.Error(), "native python3.13 not built: run make") {
		t.Errorf("nothing built: %v", err)
	}
	want := fake("home/.cache/snakepit-wasm/python-wasm/current/native/bin/python3.13")
	check := func(what string) {
		t.Helper()
		if got, err := PythonPath(); len(got) != 1 || got[0] != want || err != nil {
			t.Errorf("%s: got %q, %v; want %q", what, got, err, want)
		}
	}
	check("HOME")
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
	want = fake("xdg/snakepit-wasm/python-wasm/current/native/bin/python3.13")
	check("XDG_CACHE_HOME")
	t.Setenv("SNAKEPIT_PYTHON_DIR", filepath.Join(dir, "pydir"))
	want = fake("pydir/native/bin/python3.13")
	check("SNAKEPIT_PYTHON_DIR")
	want = fake("mine")
	t.Setenv("SNAKEPIT_NATIVE_PYTHON", want)
	check("SNAKEPIT_NATIVE_PYTHON")
	t.Setenv("SNAKEPIT_NATIVE_PYTHON", filepath.Join(dir, "absent"))
	if _, err := PythonPath(); err == nil {
		t.Error("a missing SNAKEPIT_NATIVE_PYTHON was accepted")
	}
}

func TestDebian(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Debian(dir); err == nil || !strings.Contains(err.Error(), "make bench-debian") {
		t.Errorf("nothing installed: got %v, want a hint to run make bench-debian", err)
	}
	os.WriteFile(filepath.Join(dir, "argv"), []byte("/lib/ld.so\n--library-path\n/x/lib\n/x/bin/python3.13\n"), 0o644)
	py, site, err := Debian(dir)
	if err != nil || len(py) != 4 || py[3] != "/x/bin/python3.13" || site != filepath.Join(dir, "site") {
		t.Errorf("got %q, %q, %v", py, site, err)
	}

	// The real one, when make bench-debian has installed it.
	py, _, err = Debian(DebianDir())
	if err != nil {
		t.Skipf("Debian's python3.13 not installed: %v", err)
	}
	p, err := New(context.Background(), py, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Exec(context.Background(), "import sys\ndef v(): return list(sys.version_info[:2])"); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Call(context.Background(), "v", nil); err != nil || string(got) != "[3,13]" {
		t.Errorf("Debian's python is %s (%v), want 3.13", got, err)
	}
	if err := RunFresh(context.Background(), py, "x = 1"); err != nil {
		t.Error(err)
	}
}
