package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

const serveDoc = `Serve serves the Model Context Protocol over HTTP (MCP's streamable HTTP
transport) to any number of clients, with the run_python tool of
'snakepit mcp' and the same flags. The endpoints are:

	/mcp      MCP: POST, GET (a session's event stream) and DELETE (end it)
	/healthz  200 while the server serves, 503 once it is shutting down
	/metrics  the pool's counters and latency histograms, in Prometheus's
	          text format

Each client session (its Mcp-Session-Id) has its own interpreter with
--stateful. A session idle for --session-ttl is closed. A request that
names a session this process does not know (it started on another serve
process behind the same load balancer, or before a restart) continues
here when it can lose nothing: always without --stateful, where every call
runs in a fresh interpreter; with --stateful when the session store holds
the session, which then continues with its variables, imports and files.
Otherwise the client gets 404 and starts a new session, as MCP says.

The session store (--store) is a directory, or Redis with a redis:// URL,
shared by the processes that serve the same sessions, all started with
the same --seed-file. A session goes there once it has idled for 10
seconds and when the server shuts down; with --store-sync also after each
of its calls, so that a process that is killed loses none of them. In
Redis a stored session expires after --session-ttl.

On SIGINT or SIGTERM the server stops accepting, answers new requests
with 503, lets the calls in flight finish within --shutdown-timeout,
then closes the client sessions and the interpreters (saving the sessions
to the store) and exits.
`

// serveOptions are serve's own flags.
type serveOptions struct {
	listen       string
	shutdown     time.Duration
	maxRequest   byteSize
	maxConns     int
	maxClients   int
	readHeader   time.Duration
	idleConnTime time.Duration
}

func serveCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", "[flags]", serveDoc, stderr)
	var o mcpOptions
	o.register(fs)
	fs.Lookup("session-ttl").Usage = "close a client session idle this long (with --stateful, its interpreter too)"
	so := serveOptions{maxRequest: 4 << 20, readHeader: 10 * time.Second, idleConnTime: 2 * time.Minute}
	fs.StringVar(&so.listen, "listen", "127.0.0.1:8080", "listen on this `address` (host:port; :0 picks a free port)")
	fs.DurationVar(&so.shutdown, "shutdown-timeout", 30*time.Second, "on SIGINT or SIGTERM, let the calls in flight finish for up to this `duration`")
	fs.Var(&so.maxRequest, "max-request", "cap on a request body's `size` (the code of a call and its JSON); larger ones get 413")
	fs.IntVar(&so.maxConns, "max-conns", 512, "`number` of HTTP connections served at once; more wait to be accepted")
	fs.IntVar(&so.maxClients, "max-clients", 1024, "`number` of client sessions open at once; a new one past it gets 503")
	if st := fs.parse(args, stdout); st >= 0 {
		return st
	}
	if st := o.check(fs); st >= 0 {
		return st
	}
	if so.maxConns < 1 || so.maxClients < 1 {
		return fs.usageError("--max-conns and --max-clients must be at least 1")
	}
	ln, err := net.Listen("tcp", so.listen)
	if err != nil {
		fmt.Fprintf(stderr, "snakepit serve: %v\n", err)
		return exitFailure
	}
	rt, s, st := o.start(ctx, stderr)
	if st >= 0 {
		ln.Close()
		return st
	}
	defer rt.Close(context.WithoutCancel(ctx))
	h := newHTTPServer(s, o, so, stderr)
	fmt.Fprintf(stderr, "snakepit serve: MCP on http://%s/mcp (health /healthz, metrics /metrics)\n", ln.Addr())
	if err := h.run(ctx, ln); err != nil {
		fmt.Fprintf(stderr, "snakepit serve: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// httpServer is serve: the MCP handler and the endpoints beside it, with
// the bookkeeping a graceful shutdown needs.
type httpServer struct {
	s    *mcpServer
	sdk  *mcp.StreamableHTTPHandler
	opts serveOptions
	http *http.Server

	mu       sync.Mutex
	draining bool
	active   int           // MCP requests being served, event streams (GET) aside
	idle     chan struct{} // while draining, closed when active reaches 0
	// adopted are the sessions taken over from another process, each with
	// its own mcp.Server (whose GetSessionID gave the session its old id).
	adopted  map[string]*mcp.Server
	adoptMu  sync.Mutex // one adoption at a time
	watchers sync.WaitGroup
}

func newHTTPServer(s *mcpServer, o mcpOptions, so serveOptions, stderr io.Writer) *httpServer {
	h := &httpServer{s: s, opts: so, adopted: map[string]*mcp.Server{}}
	h.sdk = mcp.NewStreamableHTTPHandler(h.server, &mcp.StreamableHTTPOptions{
		SessionTimeout:      o.ttl,
		MaxRequestBodyBytes: int64(so.maxRequest),
	})
	mux := http.NewServeMux()
	mux.Handle("/mcp", http.HandlerFunc(h.serveMCP))
	mux.HandleFunc("GET /healthz", h.health)
	mux.HandleFunc("GET /metrics", h.metrics)
	h.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: so.readHeader,
		IdleTimeout:       so.idleConnTime,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(stderr, "snakepit serve: ", 0),
	}
	return h
}

// adoptKey marks the synthetic initialize of an adoption; its value is the
// session's own mcp.Server.
type adoptKey struct{}

// server is the SDK handler's getServer.
func (h *httpServer) server(req *http.Request) *mcp.Server {
	if srv, ok := req.Context().Value(adoptKey{}).(*mcp.Server); ok {
		return srv
	}
	return h.s.srv
}

const sessionHeader = "Mcp-Session-Id"

func (h *httpServer) serveMCP(w http.ResponseWriter, req *http.Request) {
	if !h.enter(req) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "the server is shutting down", http.StatusServiceUnavailable)
		return
	}
	defer h.leave(req)
	id := req.Header.Get(sessionHeader)
	switch {
	case id == "" && req.Method == http.MethodPost && h.clients() >= h.opts.maxClients:
		w.Header().Set("Retry-After", "1")
		http.Error(w, fmt.Sprintf("the server has %d client sessions open, its limit", h.opts.maxClients), http.StatusServiceUnavailable)
		return
	case id != "" && req.Method != http.MethodDelete:
		h.adopt(req, id)
	}
	h.sdk.ServeHTTP(w, req)
}

// enter counts an MCP request in, unless the server is draining. Event
// streams (GET) are not counted: they last as long as their session.
func (h *httpServer) enter(req *http.Request) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		return false
	}
	if req.Method != http.MethodGet {
		h.active++
	}
	return true
}

func (h *httpServer) leave(req *http.Request) {
	if req.Method == http.MethodGet {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active--; h.active == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
}

// clients returns the number of client sessions open. A session that has
// not had its initialize is not counted: the SDK makes one for any request
// without a session id (a client's server/discover probe among them) and
// closes it only after answering.
func (h *httpServer) clients() int {
	n := 0
	for ss := range h.s.srv.Sessions() {
		if ss.InitializeParams() != nil {
			n++
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return n + len(h.adopted)
}

// known reports whether a client session of this process has the id.
func (h *httpServer) known(id string) bool {
	h.mu.Lock()
	_, ok := h.adopted[id]
	h.mu.Unlock()
	if ok {
		return true
	}
	for ss := range h.s.srv.Sessions() {
		if ss.ID() == id {
			return true
		}
	}
	return false
}

// adopt takes over a client session that this process does not know, when
// mcpServer.resumable allows it, so that the SDK's handler serves the
// request instead of answering 404.
//
// The SDK (v1.8.0) keeps its sessions in a private map, filled only by an
// initialize that comes without a session id, under the id
// ServerOptions.GetSessionID returns; a request with an unknown id gets 404
// (StreamableHTTPHandler.lookupSession). So adopt replays the handshake
// for the client: an initialize, served by an mcp.Server of its own whose
// GetSessionID returns the client's id, then notifications/initialized.
// The client's capabilities are unknown: the session has none, which
// run_python does not need. On any failure adopt does nothing, and the SDK
// answers the request as it would have.
func (h *httpServer) adopt(req *http.Request, id string) {
	if !validSessionID(id) || h.known(id) || !h.s.resumable(req.Context(), id) {
		return
	}
	h.adoptMu.Lock()
	defer h.adoptMu.Unlock()
	if h.known(id) || h.clients() >= h.opts.maxClients {
		return // adopted by a request racing this one, or no room: 404
	}
	version := req.Header.Get("Mcp-Protocol-Version")
	if version == "" || !slices.Contains(mcp.SupportedProtocolVersions(), version) {
		version = "2025-03-26" // what the spec says to assume without the header
	}
	srv := h.s.newServer(&mcp.ServerOptions{GetSessionID: func() string { return id }})
	ctx := context.WithValue(req.Context(), adoptKey{}, srv)
	init := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"adopted","version":"0"}}}`, version)
	if st, sid := h.replay(ctx, req, "", version, init); st != http.StatusOK || sid != id {
		h.closeAll(srv)
		return
	}
	if st, _ := h.replay(ctx, req, id, version, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); st != http.StatusAccepted {
		h.closeAll(srv)
		return
	}
	var ss *mcp.ServerSession
	for ss = range srv.Sessions() {
	}
	if ss == nil {
		return // closed already (the handler's idle timer, at a tiny --session-ttl)
	}
	h.mu.Lock()
	h.adopted[id] = srv
	h.mu.Unlock()
	h.watchers.Go(func() {
		ss.Wait()
		h.mu.Lock()
		delete(h.adopted, id)
		h.mu.Unlock()
	})
}

// replay sends one message of the handshake to the SDK's handler, as from
// the client's request (its host, remote address and authentication), and
// returns the status and the session id answered.
func (h *httpServer) replay(ctx context.Context, from *http.Request, id, version, body string) (int, string) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, from.URL.String(), strings.NewReader(body))
	if err != nil {
		return 0, ""
	}
	r.Host, r.RemoteAddr = from.Host, from.RemoteAddr
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	r.Header.Set("Mcp-Protocol-Version", version)
	if id != "" {
		r.Header.Set(sessionHeader, id)
	}
	if a := from.Header.Get("Authorization"); a != "" {
		r.Header.Set("Authorization", a)
	}
	w := &discard{header: http.Header{}}
	h.sdk.ServeHTTP(w, r)
	return w.status, w.header.Get(sessionHeader)
}

// validSessionID is MCP's rule for session ids (visible ASCII), with a
// bound on the length.
func validSessionID(id string) bool {
	if len(id) > 256 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// discard is a ResponseWriter that keeps only the status and headers.
type discard struct {
	header http.Header
	status int
}

func (d *discard) Header() http.Header { return d.header }
func (d *discard) WriteHeader(st int) {
	if d.status == 0 {
		d.status = st
	}
}
func (d *discard) Write(b []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	return len(b), nil
}
func (d *discard) Flush() {}

func (h *httpServer) closeAll(srv *mcp.Server) {
	for ss := range srv.Sessions() {
		ss.Close()
	}
}

func (h *httpServer) health(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	draining := h.draining
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if draining {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "shutting down\n")
		return
	}
	io.WriteString(w, "ok\n")
}

// run serves on ln until ctx ends, then shuts down gracefully: new MCP
// requests get 503 (and /healthz says so) while the requests in flight
// finish, within opts.shutdown; then drain runs, the client sessions
// close, the listener and the connections, then the pool. It returns once
// everything has stopped.
func (h *httpServer) run(ctx context.Context, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- h.http.Serve(newLimitListener(ln, h.opts.maxConns)) }()
	var err error
	stopped := false
	select {
	case err = <-served: // the listener failed: shut down the rest
		stopped = true
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.opts.shutdown)
	defer cancel()
	h.mu.Lock()
	h.draining = true
	idle := make(chan struct{})
	if h.active == 0 {
		close(idle)
	} else {
		h.idle = idle
	}
	h.mu.Unlock()
	// The listener stays open while the calls finish, so that a balancer
	// polling /healthz sees 503 and a new request gets an answer (503) rather
	// than a refused connection.
	select {
	case <-idle:
	case <-sctx.Done():
		// Past the timeout the calls left end now, with an error; a moment
		// more lets their answers reach the clients.
		h.s.cut()
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		select {
		case <-idle:
		case <-sctx.Done():
		}
	}
	h.s.drain(sctx)
	// Closing the client sessions ends their event streams (GET), which
	// Shutdown would otherwise wait for.
	h.closeAll(h.s.srv)
	h.mu.Lock()
	adopted := slices.Collect(maps.Values(h.adopted))
	h.mu.Unlock()
	for _, srv := range adopted {
		h.closeAll(srv)
	}
	if h.http.Shutdown(sctx) != nil {
		h.http.Close() // past the timeout: cut what is left
	}
	if !stopped {
		if e := <-served; !errors.Is(e, http.ErrServerClosed) {
			err = e
		}
	}
	h.watchers.Wait()
	if e := h.s.close(context.WithoutCancel(ctx)); err == nil {
		err = e
	}
	return err
}

// limitListener accepts at most n connections at once; the next waits for
// one to close (golang.org/x/net/netutil's LimitListener, which we do not
// depend on).
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// metrics writes the pool's Stats in Prometheus's text exposition format
// (version 0.0.4), by hand: one dependency less.
func (h *httpServer) metrics(w http.ResponseWriter, _ *http.Request) {
	st := h.s.stats()
	var b bytes.Buffer
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	value := func(name, labels string, v float64) {
		if labels != "" {
			labels = "{" + labels + "}"
		}
		fmt.Fprintf(&b, "%s%s %s\n", name, labels, strconv.FormatFloat(v, 'g', -1, 64))
	}

	metric("snakepit_calls_total", "counter", "Calls finished, in error or not.")
	value("snakepit_calls_total", "", float64(st.Calls))
	metric("snakepit_call_errors_total", "counter", "Calls that ended in an error, by kind.")
	kinds := runtime.ErrorKinds()
	for k := range st.Errors {
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	for _, k := range kinds {
		value("snakepit_call_errors_total", label("kind", string(k)), float64(st.Errors[k]))
	}
	metric("snakepit_recycles_total", "counter", "Interpreters closed and replaced, by reason.")
	reasons := []pool.RecycleReason{pool.RecycleUsed, pool.RecycleCalls, pool.RecycleAge, pool.RecycleMemory,
		pool.RecycleMemoryLimit, pool.RecycleCrash, pool.RecycleStopped, pool.RecycleSessionEnded, pool.RecycleSessionExpired}
	var extra []string
	for r := range st.Recycles {
		if !slices.Contains(reasons, r) {
			extra = append(extra, string(r))
		}
	}
	sort.Strings(extra)
	for _, r := range extra {
		reasons = append(reasons, pool.RecycleReason(r))
	}
	for _, r := range reasons {
		value("snakepit_recycles_total", label("reason", string(r)), float64(st.Recycles[r]))
	}
	metric("snakepit_start_failures_total", "counter", "Interpreter creations that failed.")
	value("snakepit_start_failures_total", "", float64(st.StartFailures))
	metric("snakepit_resets_total", "counter", "Used fresh interpreters reset in place rather than replaced.")
	value("snakepit_resets_total", "", float64(st.Resets))

	metric("snakepit_pool_size", "gauge", "Interpreters the pool keeps (--workers).")
	value("snakepit_pool_size", "", float64(st.Size))
	metric("snakepit_workers", "gauge", "Interpreters by state.")
	for _, s := range []struct {
		state string
		n     int
	}{{"idle", st.Idle}, {"busy", st.Busy}, {"parked", st.Parked}, {"starting", st.Starting}} {
		value("snakepit_workers", label("state", s.state), float64(s.n))
	}
	metric("snakepit_queued", "gauge", "Calls waiting for an interpreter.")
	value("snakepit_queued", "", float64(st.Queued))
	metric("snakepit_sessions", "gauge", "Live interpreter sessions (--stateful).")
	value("snakepit_sessions", "", float64(st.Sessions))
	metric("snakepit_session_memory_bytes", "gauge", "Memory the live sessions' interpreters own.")
	value("snakepit_session_memory_bytes", "", float64(st.SessionMemory))
	metric("snakepit_sessions_spilled_total", "counter", "Sessions saved to the store and closed (idle, to make room, or at shutdown).")
	value("snakepit_sessions_spilled_total", "", float64(st.Spilled))
	metric("snakepit_sessions_resumed_total", "counter", "Sessions this process brought back from the store.")
	value("snakepit_sessions_resumed_total", "", float64(st.Resumed))
	metric("snakepit_mcp_clients", "gauge", "MCP client sessions open.")
	value("snakepit_mcp_clients", "", float64(h.clients()))

	histogram(&b, "snakepit_queue_wait_seconds", "Time from a call's arrival to its getting an interpreter.", st.QueueWait)
	histogram(&b, "snakepit_exec_seconds", "Time an interpreter ran a call.", st.Exec)

	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(b.Bytes())
}

// histogram writes h as a Prometheus histogram: cumulative buckets by
// upper bound in seconds, then +Inf, sum and count.
func histogram(b *bytes.Buffer, name, help string, h pool.Histogram) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, bound := range h.Bounds {
		if i < len(h.Counts) {
			cum += h.Counts[i]
		}
		fmt.Fprintf(b, "%s_bucket{le=%q} %d\n", name, strconv.FormatFloat(bound.Seconds(), 'g', -1, 64), cum)
	}
	fmt.Fprintf(b, "%s_bucket{le=\"+Inf\"} %d\n", name, h.Count)
	fmt.Fprintf(b, "%s_sum %s\n", name, strconv.FormatFloat(h.Sum.Seconds(), 'g', -1, 64))
	fmt.Fprintf(b, "%s_count %d\n", name, h.Count)
}

// label is name="value", the value escaped as the format says.
func label(name, value string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return name + `="` + r.Replace(value) + `"`
}
