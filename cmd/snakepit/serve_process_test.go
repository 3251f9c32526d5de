package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/snakepit-wasm/snakepit/internal/testredis"
	"github.com/stretchr/testify/require"
)

// asSnakepit, set in a process's environment, makes the test binary run as
// snakepit (TestMain): the processes of these tests are real ones, with
// their own signals and exits, running main as the built command does.
const asSnakepit = "SNAKEPIT_TEST_AS_SNAKEPIT"

// serveProcess is `snakepit serve` in a process of its own.
type serveProcess struct {
	cmd    *exec.Cmd
	url    string
	log    *processLog
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

// processLog keeps a process's output, and passes on the address serve
// says it listens on.
type processLog struct {
	mu   sync.Mutex
	b    strings.Builder
	addr chan string
}

var listening = regexp.MustCompile(`MCP on http://(\S+)/mcp`)

func (l *processLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	if m := listening.FindStringSubmatch(l.b.String()); m != nil && l.addr != nil {
		l.addr <- m[1]
		l.addr = nil
	}
	return len(p), nil
}

func (l *processLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServeProcess starts serve with flags, on a free port, and returns
// once it listens; the test's cleanup kills it if it still runs.
func startServeProcess(t *testing.T, flags ...string) *serveProcess {
	t.Helper()
	addr := make(chan string, 1)
	p := &serveProcess{log: &processLog{addr: addr}, exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"serve", "--listen", "127.0.0.1:0", "--workers", "1"}, flags...)...)
	p.cmd.Env = append(os.Environ(), asSnakepit+"=1")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.exited:
		t.Fatalf("serve exited (%v):\n%s", p.err, p.log)
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve did not listen within 2 minutes:\n%s", p.log)
	}
	return p
}

// stop sends sig and returns the process's exit error once it is gone.
func (p *serveProcess) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	select {
	case <-p.exited:
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve still runs 2 minutes after %v:\n%s", sig, p.log)
	}
	return p.err
}

// metric returns a sample of the process's /metrics.
func (p *serveProcess) metric(t *testing.T, name string) float64 {
	t.Helper()
	_, body := get(t, httpClient(t), p.url+"/metrics")
	return parseMetrics(t, body)[name]
}

// storeFlags are the flags of processes sharing a real Redis.
func storeFlags(t *testing.T) []string {
	rd := testredis.Start(t)
	seed := filepath.Join(t.TempDir(), "seed")
	require.NoError(t, os.WriteFile(seed, []byte("a secret of the deployment"), 0o600))
	return []string{"--stateful", "--store", rd.URL, "--seed-file", seed}
}

// Two serve processes share one Redis: a session started on the first
// continues, with its variables, imports and files, on the second once the
// first has shut down (SIGTERM: it saves its live sessions).
func TestServeSessionMovesBetweenProcessesThroughRedis(t *testing.T) {
	flags := storeFlags(t)
	a := startServeProcess(t, flags...)
	b := startServeProcess(t, flags...)
	lb, cs := sessionOn(t, a.url, "import json\nx = 41\nopen('note.txt', 'w').write('kept')")
	id := cs.ID()

	lb.point(b.url)
	require.NoError(t, a.stop(t, syscall.SIGTERM), "a clean exit:\n%s", a.log)

	_, out, _ := call(t, cs, "[x + 1, json.dumps(1), open('note.txt').read()]")
	require.Nil(t, out.Error, "%+v", out.Error)
	require.JSONEq(t, `[42, "1", "kept"]`, string(out.Value))
	require.Equal(t, id, cs.ID(), "the same session")
	require.Equal(t, 1.0, b.metric(t, "snakepit_calls_total"), "served by the second process")
	require.Equal(t, 1.0, b.metric(t, "snakepit_sessions_resumed_total"), "from the store")
}

// With --store-sync every call's state is in Redis before its answer: a
// process killed outright (SIGKILL) loses no finished call, also when it
// is killed during the first call after it took the session over (the
// image it restored stays in Redis). Without it the session dies with the
// process that held it (until it idles long enough to be spilled).
func TestServeStoreSyncSurvivesSIGKILL(t *testing.T) {
	base := storeFlags(t)
	flags := append(slices.Clone(base), "--store-sync")
	a := startServeProcess(t, flags...)
	b := startServeProcess(t, flags...)
	c := startServeProcess(t, flags...)
	lb, cs := sessionOn(t, a.url, "x = 41\nopen('note.txt', 'w').write('a')")
	id := cs.ID()

	lb.point(b.url)
	a.stop(t, syscall.SIGKILL)
	// B restores the session for this call and is killed during it.
	unfinished := callAsync(cs, "x += 1\nimport time\ntime.sleep(3600)")
	require.Eventually(t, func() bool { return b.metric(t, `snakepit_workers{state="busy"}`) == 1 }, 2*time.Minute, 10*time.Millisecond)
	lb.point(c.url)
	b.stop(t, syscall.SIGKILL)
	r := <-unfinished
	require.True(t, r.err != nil || r.res.IsError, "the call B was killed in has no answer")

	_, out, _ := call(t, cs, "x += 1\nopen('note.txt', 'a').write('c')\n[x, open('note.txt').read()]")
	require.Nil(t, out.Error, "%+v", out.Error)
	require.JSONEq(t, `[42, "ac"]`, string(out.Value), "A's finished call is kept, B's unfinished one is not")
	require.Empty(t, out.Note, "saved to the store")
	require.Equal(t, id, cs.ID(), "the same session")
	require.Equal(t, 1.0, c.metric(t, "snakepit_calls_total"), "served by the third process")

	// The same without --store-sync, the other process keeping it.
	d := startServeProcess(t, base...)
	lb, cs = sessionOn(t, d.url, "x = 41")
	lb.point(c.url)
	d.stop(t, syscall.SIGKILL)
	_, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "run_python", Arguments: map[string]any{"code": "x"}})
	require.ErrorContains(t, err, "session not found", "the session was only in the killed process (404, as in TestServeContinuesASessionStartedOnAnotherProcess)")
}
