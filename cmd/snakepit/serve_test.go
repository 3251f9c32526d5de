package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// testServe is a serve running in the test process on a free port.
type testServe struct {
	url    string
	h      *httpServer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startServe starts serve on the shared Runtime; the test's cleanup stops
// it (after the clients connected later, cleanups running last-in
// first-out).
func startServe(t *testing.T, o mcpOptions, so serveOptions) *testServe {
	t.Helper()
	if o.workers == 0 {
		o.workers = 1
	}
	if o.ttl == 0 {
		o.ttl = time.Hour
	}
	if o.limits.memory == 0 {
		o.limits.memory, o.limits.stdout, o.limits.stderr = 256<<20, 1<<20, 1<<20 // as the flags' defaults
	}
	if so.shutdown == 0 {
		so.shutdown = 30 * time.Second
	}
	if so.maxRequest == 0 {
		so.maxRequest = 4 << 20
	}
	if so.maxConns == 0 {
		so.maxConns = 64
	}
	if so.maxClients == 0 {
		so.maxClients = 64
	}
	so.readHeader, so.idleConnTime = 10*time.Second, time.Minute
	s, err := newMCPServer(context.Background(), testrt.Runtime(t), o)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServe{url: "http://" + ln.Addr().String(), h: newHTTPServer(s, o, so, io.Discard), cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- ts.h.run(ctx, ln) }()
	t.Cleanup(func() { ts.stop() })
	return ts
}

// stop shuts the server down as SIGTERM does and returns run's error.
func (ts *testServe) stop() error {
	ts.once.Do(func() {
		ts.cancel()
		ts.err = <-ts.done
	})
	return ts.err
}

// httpClient returns a client of its own, whose idle connections the
// test's cleanup closes (goleak).
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func connectHTTP(t *testing.T, endpoint string) *mcp.ClientSession {
	t.Helper()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: httpClient(t)}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close() })
	return cs
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestServeFreshRunsCallsAndServesHealthAndMetrics(t *testing.T) {
	ts := startServe(t, mcpOptions{}, serveOptions{})
	cs := connectHTTP(t, ts.url+"/mcp")
	require.NotEmpty(t, cs.ID(), "the server gives the session an id")
	isErr, o, _ := call(t, cs, "x = 6\nx * 7")
	require.False(t, isErr)
	require.JSONEq(t, "42", string(o.Value))
	isErr, o, _ = call(t, cs, "x")
	require.True(t, isErr, "every call runs in a fresh interpreter")
	require.Equal(t, "NameError", o.Error.Type)

	c := httpClient(t)
	st, body := get(t, c, ts.url+"/healthz")
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, "ok\n", body)

	st, body = get(t, c, ts.url+"/metrics")
	require.Equal(t, http.StatusOK, st)
	m := parseMetrics(t, body)
	require.Equal(t, 2.0, m["snakepit_calls_total"])
	require.Equal(t, 1.0, m[`snakepit_call_errors_total{kind="python"}`])
	for _, k := range runtime.ErrorKinds() {
		require.Contains(t, m, `snakepit_call_errors_total{kind="`+string(k)+`"}`, "every kind has its counter, zero included")
	}
	require.Equal(t, 2.0, m[`snakepit_recycles_total{reason="used"}`], "each fresh call used an interpreter")
	require.Equal(t, 2.0, m["snakepit_exec_seconds_count"])
	require.Equal(t, 2.0, m[`snakepit_exec_seconds_bucket{le="+Inf"}`])
	require.Equal(t, 1.0, m["snakepit_mcp_clients"])
	require.Greater(t, m["snakepit_exec_seconds_sum"], 0.0)
	// Buckets are cumulative.
	prev := 0.0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "snakepit_queue_wait_seconds_bucket") {
			v := m[strings.Fields(line)[0]]
			require.GreaterOrEqual(t, v, prev, line)
			prev = v
		}
	}
}

// metricLine is the exposition format's sample line: name{labels} value.
var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (\S+)$`)

func parseMetrics(t *testing.T, body string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		g := metricLine.FindStringSubmatch(line)
		require.NotNil(t, g, "not a sample line: %q", line)
		v, err := strconv.ParseFloat(g[2], 64)
		require.NoError(t, err, line)
		require.NotContains(t, m, g[1], "a sample twice")
		m[g[1]] = v
	}
	return m
}

func TestServeStatefulKeepsStatePerSessionAndEndsItWithTheClient(t *testing.T) {
	ts := startServe(t, mcpOptions{stateful: true, workers: 2}, serveOptions{})
	a, b := connectHTTP(t, ts.url+"/mcp"), connectHTTP(t, ts.url+"/mcp")
	require.NotEqual(t, a.ID(), b.ID())
	call(t, a, "x = 'a'")
	call(t, b, "x = 'b'")
	_, o, _ := call(t, a, "x")
	require.JSONEq(t, `"a"`, string(o.Value))
	_, o, _ = call(t, b, "x")
	require.JSONEq(t, `"b"`, string(o.Value), "each client session has its own interpreter")
	require.Equal(t, 2, ts.h.s.stats().Sessions)

	require.NoError(t, b.Close()) // DELETE
	require.Eventually(t, func() bool { return ts.h.s.stats().Sessions == 1 }, 10*time.Second, 10*time.Millisecond,
		"the pool session ends with its client session")
	_, o, _ = call(t, a, "x")
	require.JSONEq(t, `"a"`, string(o.Value))
}

type callResult struct {
	res *mcp.CallToolResult
	err error
}

// callAsync calls run_python in the background.
func callAsync(cs *mcp.ClientSession, code string) <-chan callResult {
	answered := make(chan callResult, 1)
	go func() {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "run_python", Arguments: map[string]any{"code": code}})
		answered <- callResult{res, err}
	}()
	return answered
}

// SIGTERM while a call runs: the server stops taking requests and says so
// on /healthz, the call finishes and is answered, then run returns.
func TestServeShutdownLetsTheCallInFlightFinish(t *testing.T) {
	gate := t.TempDir()
	o := mcpOptions{}
	require.NoError(t, o.limits.mounts.Set(gate+":/gate"))
	ts := startServe(t, o, serveOptions{})
	openGate := sync.OnceFunc(func() { require.NoError(t, os.WriteFile(filepath.Join(gate, "open"), nil, 0o644)) })
	t.Cleanup(openGate) // a failed test does not leave the call held
	cs := connectHTTP(t, ts.url+"/mcp")

	answered := callAsync(cs, "import os, time\nwhile not os.path.exists('/gate/open'):\n    time.sleep(0.005)\n'finished'")
	require.Eventually(t, func() bool { return ts.h.s.stats().Busy == 1 }, 30*time.Second, 5*time.Millisecond)

	go ts.stop()
	c := httpClient(t)
	require.Eventually(t, func() bool {
		st, _ := get(t, c, ts.url+"/healthz")
		return st == http.StatusServiceUnavailable
	}, 10*time.Second, 5*time.Millisecond, "/healthz says 503 once shutting down")
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "run_python", Arguments: map[string]any{"code": "1"}})
	require.ErrorContains(t, err, "Service Unavailable", "a new call gets 503")
	st, _ := get(t, c, ts.url+"/metrics")
	require.Equal(t, http.StatusOK, st, "metrics still answer")
	select {
	case <-ts.done:
		t.Fatal("the server exited with a call in flight")
	case r := <-answered:
		t.Fatalf("the call ended before its gate opened: %v %v", r.res, r.err)
	default:
	}

	openGate()
	r := <-answered
	require.NoError(t, r.err)
	require.False(t, r.res.IsError, "%v", r.res.Content)
	require.Contains(t, r.res.Content[0].(*mcp.TextContent).Text, "finished")
	require.NoError(t, ts.stop(), "the server exits once the call is answered")
}

// Past --shutdown-timeout a call that runs on is cut: the server exits
// anyway, and the call's client gets its answer, an error.
func TestServeShutdownTimeoutCutsACallThatRunsOn(t *testing.T) {
	ts := startServe(t, mcpOptions{}, serveOptions{shutdown: 500 * time.Millisecond})
	cs := connectHTTP(t, ts.url+"/mcp")
	answered := callAsync(cs, "while True: pass")
	require.Eventually(t, func() bool { return ts.h.s.stats().Busy == 1 }, 30*time.Second, 5*time.Millisecond)
	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(30 * time.Second): // only a hang reaches this
		t.Fatal("serve did not exit past its shutdown timeout")
	}
	select {
	case r := <-answered:
		require.NoError(t, r.err)
		require.True(t, r.res.IsError)
		require.Contains(t, r.res.Content[0].(*mcp.TextContent).Text, "[error: canceled]")
	case <-time.After(30 * time.Second):
		t.Fatal("the call's client got no answer")
	}
}

// switchProxy stands for a load balancer: it sends every request to the
// current backend.
type switchProxy struct {
	target atomic.Pointer[url.URL]
	rp     *httputil.ReverseProxy
}

func newSwitchProxy(t *testing.T, to string) (*switchProxy, string) {
	p := &switchProxy{}
	p.point(to)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	p.rp = &httputil.ReverseProxy{Transport: tr, Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(p.target.Load())
		r.Out.Host = r.In.Host
	}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *switchProxy) point(to string) {
	u, err := url.Parse(to)
	if err != nil {
		panic(err)
	}
	p.target.Store(u)
}

// sessionOn connects a client through a balancer pointing at url, and runs
// code in its session.
func sessionOn(t *testing.T, url, code string) (*switchProxy, *mcp.ClientSession) {
	t.Helper()
	lb, lbURL := newSwitchProxy(t, url)
	cs := connectHTTP(t, lbURL+"/mcp")
	_, out, _ := call(t, cs, code)
	require.Nil(t, out.Error, "%+v", out.Error)
	return lb, cs
}

func (p *switchProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.rp.ServeHTTP(w, r) }

// A session started on one serve process continues on another behind the
// same balancer once the first is gone: in fresh mode there is no state to
// lose, and the second process takes the session over under its id.
// Stateful, it cannot yet (no session store): the client gets 404.
func TestServeContinuesASessionStartedOnAnotherProcess(t *testing.T) {
	for _, stateful := range []bool{false, true} {
		t.Run(map[bool]string{false: "fresh", true: "stateful"}[stateful], func(t *testing.T) {
			a := startServe(t, mcpOptions{stateful: stateful}, serveOptions{})
			b := startServe(t, mcpOptions{stateful: stateful}, serveOptions{})
			lb, lbURL := newSwitchProxy(t, a.url)
			cs := connectHTTP(t, lbURL+"/mcp")
			id := cs.ID()
			_, o, _ := call(t, cs, "6 * 7")
			require.JSONEq(t, "42", string(o.Value))

			lb.point(b.url)
			require.NoError(t, a.stop())

			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "run_python", Arguments: map[string]any{"code": "6 * 7"}})
			if stateful {
				// The call's own 404 is mcp.ErrSessionMissing; the client's
				// event stream, reconnecting at the same time, may get its
				// 404 first and close the session with "session not found".
				require.ErrorContains(t, err, "session not found", "an unknown stateful session is 404: the client starts a new one")
				require.Equal(t, 0, b.h.s.stats().Sessions)
				return
			}
			require.NoError(t, err)
			require.False(t, res.IsError)
			require.Equal(t, id, cs.ID(), "the same session")
			require.Equal(t, uint64(1), b.h.s.stats().Calls, "served by the second process")
			require.True(t, b.h.known(id))
		})
	}
}

// With a shared session store and seed, a stateful session started on one
// process continues, with its state, on another once the first has shut
// down (its drain saves the session to the store).
func TestServeStatefulSessionMovesThroughTheStore(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed")
	require.NoError(t, os.WriteFile(seed, []byte("a secret of the deployment"), 0o600))
	o := mcpOptions{stateful: true, store: filepath.Join(dir, "store"), seedFile: seed}
	a := startServe(t, o, serveOptions{})
	b := startServe(t, o, serveOptions{})
	lb, cs := sessionOn(t, a.url, "import json\nx = 41\nopen('note.txt', 'w').write('kept')")
	id := cs.ID()

	lb.point(b.url)
	require.NoError(t, a.stop())

	_, out, _ := call(t, cs, "[x + 1, json.dumps(1), open('note.txt').read()]")
	require.Nil(t, out.Error, "%+v", out.Error)
	require.JSONEq(t, `[42, "1", "kept"]`, string(out.Value))
	require.Equal(t, id, cs.ID(), "the same session")
	require.Equal(t, uint64(1), b.h.s.stats().Calls, "served by the second process")
}

func TestServeBoundsRequestsAndClients(t *testing.T) {
	ts := startServe(t, mcpOptions{stateful: true}, serveOptions{maxRequest: 64 << 10, maxClients: 2})
	c := httpClient(t)
	post := func(id, body string) (int, string) {
		req, err := http.NewRequest("POST", ts.url+"/mcp", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if id != "" {
			req.Header.Set(sessionHeader, id)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cs := connectHTTP(t, ts.url+"/mcp")
	big, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "tools/call",
		"params": map[string]any{"name": "run_python", "arguments": map[string]any{"code": strings.Repeat("#", 100<<10)}}})
	st, _ := post(cs.ID(), string(big))
	require.Equal(t, http.StatusRequestEntityTooLarge, st)

	st, body := post("no-such-session", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	require.Equal(t, http.StatusNotFound, st, body)

	connectHTTP(t, ts.url+"/mcp")
	_, err := mcp.NewClient(&mcp.Implementation{Name: "third", Version: "v0"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: ts.url + "/mcp", HTTPClient: c, MaxRetries: -1}, nil)
	require.Error(t, err, "past --max-clients a new session is refused")
	var st2 int
	st2, _ = post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"0"}}}`)
	require.Equal(t, http.StatusServiceUnavailable, st2)
	_, o, _ := call(t, cs, "1 + 1")
	require.JSONEq(t, "2", string(o.Value), "the sessions open are still served")
}

func TestServeHelp(t *testing.T) {
	code, stdout, _ := snakepit(t, "", "help", "serve")
	require.Equal(t, exitOK, code)
	for _, want := range []string{"usage: snakepit serve [flags]", "/healthz", "/metrics", "-listen", "-shutdown-timeout", "-stateful", "redis://", "-store-sync"} {
		require.Contains(t, stdout, want)
	}
	code, _, stderr := snakepit(t, "", "serve", "--max-clients", "0")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--max-clients must be at least 1")
	code, _, stderr = snakepit(t, "", "serve", "--stateful", "--store-sync")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--store-sync is for --store")
	seed := filepath.Join(t.TempDir(), "seed")
	require.NoError(t, os.WriteFile(seed, []byte("s"), 0o600))
	code, _, stderr = snakepit(t, "", "serve", "--stateful", "--store", "redis://127.0.0.1:1/0", "--seed-file", seed)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "redis session store at 127.0.0.1:1", "a Redis that does not answer stops the start")
}
