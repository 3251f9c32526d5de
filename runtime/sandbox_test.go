package runtime_test

// Regression tests for the holes found by attacking the sandbox (issue 19):
// each failed, hung or crashed the process before its fix.

import (
	"context"
	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// runBounded runs req with a deadline and fails the test if the call is not
// back within hang, which is far beyond the deadline: the old code ran these
// for seconds to forever.
func runBounded(t *testing.T, i *runtime.Instance, req runtime.Request, deadline, hang time.Duration) error {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := i.Run(c, req)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(hang):
		t.Fatalf("call still running %v after a %v deadline", hang, deadline)
		return nil
	}
}

// hostileResult makes the (user-writable) dispatcher return a bytes subclass
// of size bytes whose __del__ spins: the host used to free large results
// outside any call, where nothing could stop the guest.
func hostileResult(size int) string {
	n := strconv.Itoa(size)
	return `
import snakepit_guest as g
class B(bytes):
    def __del__(self):
        while True:
            pass
g._value = lambda v, **kw: B(b"J" + (` + n + `).to_bytes(4, "little") + b"1" * ` + n + `)
`
}

// collectEvery forces a garbage collection every d, as a busy host has
// them, until the returned stop is called; stop returns how long each took.
func collectEvery(d time.Duration) (stop func() latencies) {
	done := make(chan struct{})
	var gcs latencies
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(d):
				gcs.time(goruntime.GC)
			}
		}
	})
	return func() latencies {
		close(done)
		wg.Wait()
		return gcs
	}
}

func TestAHostileResultsDestructorRunsUnderTheDeadline(t *testing.T) {
	for _, size := range []int{100, 70000} {
		i := newInstance(t, runtime.Options{})
		_, err := i.Run(ctx, runtime.Exec(hostileResult(size)))
		require.NoError(t, err)
		err = runBounded(t, i, runtime.Eval("1"), 300*time.Millisecond, 20*time.Second)
		require.ErrorIs(t, err, context.DeadlineExceeded, "size %d", size)
	}
}

func TestBulkMemoryWorkStopsAtTheDeadline(t *testing.T) {
	// One memory.copy or memory.fill of tens of MB used to pass a single
	// budget check: a loop of them ignored its deadline (and stalled every
	// stop-the-world of the process).
	for name, code := range map[string]string{
		"copy":   "b = bytearray(32 << 20)\nc = bytearray(len(b))\nfor _ in range(10**6):\n    c[:] = b\n",
		"slice":  "b = bytearray(32 << 20)\nc = bytearray(len(b))\nfor _ in range(10**6):\n    c[0:len(b)] = b\n",
		"zeroes": "for _ in range(10**6):\n    x = bytes(64 << 20)\n",
		"repeat": "b = b'x' * (1 << 20)\nfor _ in range(10**6):\n    y = b * 64\n",
	} {
		t.Run(name, func(t *testing.T) {
			i := newInstance(t, runtime.Options{})
			// A stop-the-world waits for the guest's next yield, and the
			// deadline's timer waits for the stop-the-world.
			stop := collectEvery(5 * time.Millisecond)
			err := runBounded(t, i, runtime.Exec(code), 300*time.Millisecond, 20*time.Second)
			stop()
			require.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
}

func TestSleepsEndAtTheDeadline(t *testing.T) {
	for name, code := range map[string]string{
		"select":     "import select\nselect.select([], [], [], 6)",
		"select-1e9": "import select\nselect.select([], [], [], 1e9)",
		"sleep":      "import time\ntime.sleep(1e9)",
		"sleep-loop": "import time\nwhile True:\n    time.sleep(0.5)",
	} {
		t.Run(name, func(t *testing.T) {
			i := newInstance(t, runtime.Options{})
			err := runBounded(t, i, runtime.Exec(code), 300*time.Millisecond, 5*time.Second)
			require.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
}

// runner runs requests on i with no deadline: only a Close stops them.
func runner(i *runtime.Instance) func(runtime.Request) error {
	return func(r runtime.Request) error { _, err := i.Run(context.Background(), r); return err }
}

func TestInstanceCloseStopsASleepingOrSpinningCall(t *testing.T) {
	for _, code := range []string{"import time\ntime.sleep(1e9)", "while True:\n    pass"} {
		i, err := rt(t).NewInstance(ctx, runtime.Options{})
		require.NoError(t, err)
		// The open gate tells when the call has started: it passes the gate,
		// then sleeps or spins.
		g := testrt.NewGate()
		g.Open()
		done := g.Hold(t, runner(i), code)
		require.NoError(t, i.Close(ctx))
		select {
		case err := <-done:
			require.ErrorIs(t, err, runtime.ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("Close returned but the call runs on")
		}
	}
}

func TestRuntimeCloseDuringCallsStopsThemWithoutAFault(t *testing.T) {
	// wazero's Runtime.Close under a running guest freed the code and memory
	// it was executing: SIGSEGV, "fatal error: fault".
	r, err := runtime.New(ctx, runtime.Config{})
	require.NoError(t, err)
	codes := []string{"while True:\n    pass", "import time\ntime.sleep(1e9)", "import select\nselect.select([], [], [], 1e9)"}
	// Each call passes an open gate, which tells it has started, then
	// spins or sleeps.
	g := testrt.NewGate()
	g.Open()
	dones := make([]<-chan error, len(codes))
	for k, code := range codes {
		i, err := r.NewInstance(ctx, runtime.Options{})
		require.NoError(t, err)
		dones[k] = g.Hold(t, runner(i), code)
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, r.Close(c))
	for k, done := range dones {
		require.ErrorIs(t, <-done, runtime.ErrClosed, "call %d", k)
	}
	_, err = r.NewInstance(ctx, runtime.Options{})
	require.ErrorIs(t, err, runtime.ErrClosed)
	var nilRT *runtime.Runtime
	require.NoError(t, nilRT.Close(ctx))
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd: host descriptors are counted on Linux only")
	}
	return len(ents)
}

func TestOpenFilesAndDirectoriesAreCappedPerInstance(t *testing.T) {
	rt(t) // compiling python.wasm, when not cached, takes hundreds of MB of heap
	before := openFDs(t)
	var ms goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f.txt"), []byte("data"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxOpenFiles: 64}, Mounts: []runtime.Mount{{GuestPath: "/data", HostDir: dir}}})
	r, err := i.Run(ctx, runtime.Exec(`
import os, errno
held = []
def exhaust(open_one):
    try:
        while len(held) < 20000:
            held.append(open_one())
    except OSError as e:
        print(len(held), errno.errorcode.get(e.errno, e.errno))
exhaust(lambda: os.open('/data/f.txt', os.O_RDONLY))
for fd in held:
    os.close(fd)
held.clear()
exhaust(lambda: os.scandir('/data/sub'))
`))

	require.NoError(t, err)
	lines := strings.Fields(string(r.Stdout))
	require.Len(t, lines, 4, string(r.Stdout))
	for _, n := range []string{lines[0], lines[2]} {
		require.Contains(t, []string{"58", "59"}, n, "files opened before the cap (the preopens opened so far count too: the stdlib, the guest's own modules at /usr/lib/snakepit, the time zones, /dev, /data and the scratch /tmp, opened by the chdir at start)")
	}
	require.Equal(t, "EMFILE", lines[1])
	require.Equal(t, "EMFILE", lines[3])
	require.Less(t, openFDs(t)-before, 70, "host descriptors held by the guest")
	goruntime.ReadMemStats(&ms)
	require.Less(t, int64(ms.HeapInuse)-int64(heapBefore), int64(32<<20), "host heap held by open directories")
	// Closing them gives the room back; the instance serves on.
	r, err = i.Run(ctx, runtime.Exec("for d in held:\n    d.close()\nheld.clear()\nprint(len(os.listdir('/usr/lib/python3.13')) > 100)"))
	require.NoError(t, err)
	require.Equal(t, "True\n", string(r.Stdout))
}

func TestLongPathsAreRefusedBeforeTheHostCopiesThem(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	allocBefore := ms.TotalAlloc
	r, err := i.Run(ctx, runtime.Exec(`
import os, errno
p = "/usr/lib/python3.13/" + "a/" * (40 << 20)
for f in (os.stat, os.listdir, lambda p: open(p), os.lstat):
    try:
        f(p)
    except OSError as e:
        print(errno.errorcode.get(e.errno, e.errno))
`))

	require.NoError(t, err)
	require.Equal(t, strings.Repeat("ENAMETOOLONG\n", 4), string(r.Stdout))
	goruntime.ReadMemStats(&ms)
	require.Less(t, ms.TotalAlloc-allocBefore, uint64(16<<20), "host bytes allocated for an 80 MB path")
}

func TestOutputHandedToOnOutputIsACopy(t *testing.T) {
	snap, err := rt(t).NewSnapshot(ctx, runtime.SnapshotOptions{CopyOnWrite: true})
	require.NoError(t, err)
	defer snap.Close()
	var kept [][]byte
	keep := func(_ runtime.Stream, p []byte) { kept = append(kept, p) }
	for _, c := range []string{"A", "B"} {
		i, err := snap.NewInstance(ctx, runtime.CloneOptions{})
		require.NoError(t, err)
		_, err = i.Run(ctx, runtime.Request{Op: runtime.OpExec, Code: "import sys\nsys.stdout.write('" + c + "' * 4096)", OnOutput: keep})
		require.NoError(t, err)
		require.NoError(t, i.Close(ctx)) // unmaps a copy-on-write clone's memory
	}
	require.Len(t, kept, 2)
	require.Equal(t, strings.Repeat("A", 4096), string(kept[0]))
	require.Equal(t, strings.Repeat("B", 4096), string(kept[1]))
}

func TestGuestSeesNoHostPathInSysconfig(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	r, err := i.Run(ctx, runtime.Eval("__import__('json').dumps(__import__('sysconfig').get_config_vars(), default=str)"))
	require.NoError(t, err)
	vars := string(r.Value)
	require.Contains(t, vars, "wasm32")
	home, _ := os.UserHomeDir()
	cache, _ := os.UserCacheDir()
	for _, host := range []string{artifact.DefaultDir(), home, cache, "snakepit-wasm", "/root"} {
		if host != "" && host != "/" {
			require.NotContains(t, vars, host)
		}
	}
}

func TestMountsCannotBeLeftThroughSymbolicLinks(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "in.txt"), []byte("inside"), 0o644))
	require.NoError(t, os.Symlink("/etc", filepath.Join(dir, "etc")))
	require.NoError(t, os.Symlink("/etc/hostname", filepath.Join(dir, "hostname")))
	require.NoError(t, os.Symlink("in.txt", filepath.Join(dir, "alias")))
	i := newInstance(t, runtime.Options{Mounts: []runtime.Mount{{GuestPath: "/data", HostDir: dir}}})
	r, err := i.Run(ctx, runtime.Exec(`
import os
print(open('/data/alias').read())
for p in ('/data/etc/hostname', '/data/hostname', '/data/etc/passwd', '/data/../etc/hostname', '/data/etc'):
    try:
        print(p, 'READ', open(p).read()[:20] if not p.endswith('/etc') else os.listdir(p)[:3])
    except OSError as e:
        print(p, 'refused', type(e).__name__)
`))

	require.NoError(t, err)
	out := string(r.Stdout)
	require.True(t, strings.HasPrefix(out, "inside\n"), out) // a link inside the mount works
	require.NotContains(t, out, "READ", out)
}

// TestTinyMemoryLimitIsAnErrorNotACrash: a cap below the memory python.wasm
// starts with made wazero dereference a nil memory and crash the host.
func TestTinyMemoryLimitIsAnErrorNotACrash(t *testing.T) {
	for _, limit := range []int64{1, 256, 65536, 1 << 20} {
		i, err := rt(t).NewInstance(ctx, runtime.Options{Limits: runtime.Limits{MaxMemory: limit}})
		require.ErrorIs(t, err, runtime.ErrBadOptions, "limit %d", limit)
		require.Nil(t, i)
	}
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxMemory: 64 << 20}})
	_, err := i.Run(ctx, runtime.Exec("x = 1"))
	require.NoError(t, err)
}
