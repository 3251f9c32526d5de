package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/url"
	"os"
	"reflect"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/pool/redisstore"
	"github.com/snakepit-wasm/snakepit/runtime"
)

const mcpDoc = `Mcp serves the Model Context Protocol on stdin and stdout, for one client
(an MCP host such as an editor or an agent starts it as a subprocess). It
offers one tool, run_python: code in; stdout, stderr, the value of the
code's last expression and the error out. A Python exception, a deadline or
a memory cap reached is the tool's error result, and the next call works.

Every call runs in a fresh interpreter, unless --stateful: then each client
session keeps its own interpreter, whose variables and imports persist
from call to call until the client goes, the session idles past
--session-ttl, or a call breaks it (one that will not stop at its
deadline, one that leaves the memory full at its cap); the call
that broke it says so, and so does the session's next call when the client
cancelled the one that broke it.

An answer longer than --max-answer is cut, with a note. A line that is not
JSON-RPC gets a JSON-RPC error and the server reads on. When input ends,
the calls still running are answered first; the exit status is 1 if any
could not be.
`

func mcpCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("mcp", "[flags]", mcpDoc, stderr)
	var o mcpOptions
	o.register(fs)
	if st := fs.parse(args, stdout); st >= 0 {
		return st
	}
	if st := o.check(fs); st >= 0 {
		return st
	}
	rt, s, st := o.start(ctx, stderr)
	if st >= 0 {
		return st
	}
	defer rt.Close(context.WithoutCancel(ctx))
	defer s.close(context.WithoutCancel(ctx))
	t := &lineTransport{in: stdin, out: stdout}
	err := s.serve(ctx, t)
	lost := 0
	if t.conn != nil {
		lost = t.conn.Lost()
	}
	switch {
	case lost > 0:
		fmt.Fprintf(stderr, "snakepit mcp: stopped with %d requests unfinished (each answered with an error)\n", lost)
		return exitFailure
	case err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF):
		fmt.Fprintf(stderr, "snakepit mcp: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// The answer's cap: the official TypeScript client refuses a line over its
// 10 MiB read buffer, and closes the connection with it.
const (
	defaultMaxAnswer byteSize = 1 << 20
	minMaxAnswer     byteSize = 16 << 10
)

type mcpOptions struct {
	limits    limits
	stateful  bool
	workers   int
	ttl       time.Duration
	maxAnswer byteSize
	store     string // a session store, with stateful: a directory or a Redis URL
	storeSync bool   // with store: save a session after each of its calls
	seedFile  string // the snapshot's seed, with store
}

// register adds the flags that mcp and serve share.
func (o *mcpOptions) register(fs *flagSet) {
	fs.BoolVar(&o.stateful, "stateful", false, "keep each client session's Python state between calls")
	fs.IntVar(&o.workers, "workers", goruntime.NumCPU(), "`number` of interpreters, hence of calls running at once")
	fs.DurationVar(&o.ttl, "session-ttl", time.Hour, "with --stateful, end a session idle this long")
	fs.StringVar(&o.store, "store", "", "with --stateful, keep idle sessions in this `directory`, or in Redis with a redis://host:port/db URL (rediss:// for TLS): they survive a restart, and every process sharing the store (with the same --seed-file) continues them")
	fs.BoolVar(&o.storeSync, "store-sync", false, "with --store, save a session to the store after each of its calls, before answering: a process that is killed (SIGKILL, a crash) loses no finished call; one process at a time must serve a session (the balancer's affinity by session id)")
	fs.StringVar(&o.seedFile, "seed-file", "", "with --store, the `file` whose bytes seed the interpreters' snapshot, so that another process can restore its sessions; keep it secret (it sets the string hash secret)")
	o.maxAnswer = defaultMaxAnswer
	fs.Var(&o.limits.preload, "preload", "import module `name` into the interpreters' snapshot, before any call; repeatable")
	fs.Var(&o.maxAnswer, "max-answer", "cap on one answer's size (`size`); longer values and output are cut, with a note")
	o.limits.timeout = 30 * time.Second
	o.limits.register(fs, "stop a call after this `duration`; 0 means no limit")
}

// check returns -1 if the parsed flags are usable, else the exit status.
func (o *mcpOptions) check(fs *flagSet) int {
	switch {
	case fs.NArg() > 0:
		return fs.usageError("takes no arguments")
	case o.workers < 1:
		return fs.usageError("--workers must be at least 1")
	case o.maxAnswer < minMaxAnswer:
		return fs.usageError("--max-answer must be at least %d bytes", minMaxAnswer)
	case o.store != "" && !o.stateful:
		return fs.usageError("--store is for --stateful sessions")
	case o.store != "" && o.seedFile == "":
		return fs.usageError("--store needs --seed-file: without it no other process can restore the sessions")
	case o.storeSync && o.store == "":
		return fs.usageError("--store-sync is for --store")
	}
	return -1
}

// start starts the runtime and the server; on failure it says why and
// returns the exit status, else -1. The caller closes both.
func (o *mcpOptions) start(ctx context.Context, stderr io.Writer) (*runtime.Runtime, *mcpServer, int) {
	rt, err := startRuntime(ctx, stderr, o.limits.numpy)
	if err != nil {
		fmt.Fprintln(stderr, explain(err))
		return nil, nil, exitFailure
	}
	s, err := newMCPServer(ctx, rt, *o)
	if err != nil {
		rt.Close(context.WithoutCancel(ctx))
		fmt.Fprintln(stderr, explain(err))
		return nil, nil, exitFailure
	}
	return rt, s, -1
}

// mcpServer is the MCP server and the pool its tool runs on: a Pool, or
// Sessions when stateful.
type mcpServer struct {
	srv       *mcp.Server
	tool      *mcp.Tool
	pool      *pool.Pool
	sessions  *pool.Sessions
	store     pool.Store // with --store
	storeSync bool       // --store-sync
	stateful  bool
	workers   int
	maxAnswer int

	mu   sync.Mutex
	keys map[*mcp.ServerSession]string // pool session keys, in stateful mode
	next int
	// lost holds, by session, why a call whose reply the client never read
	// (it cancelled) replaced its interpreter, until a call says so.
	lost map[string]string
	// stopping is set by drain: from then on a client session that closes
	// does not end its pool session (the process is going, not the client).
	stopping bool
	watchers sync.WaitGroup // one per HTTP session with a pool session
	// halt ends with cut, and with it every call in flight: closing an
	// MCP session waits for its calls, it does not cancel them.
	halt context.Context
	cut  context.CancelFunc
	// syncMu serialises --store-sync's saves by key (a few locks, shared).
	syncMu [64]sync.Mutex
}

func (s *mcpServer) takeLost(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	why := s.lost[key]
	delete(s.lost, key)
	return why
}

func (s *mcpServer) setLost(key, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost[key] = why
}

func newMCPServer(ctx context.Context, rt *runtime.Runtime, o mcpOptions) (*mcpServer, error) {
	// Setup rather than Preload: --path goes on sys.path before the imports.
	popts := pool.Options{Size: o.workers, MaxCallTime: o.limits.timeout, Instance: o.limits.options(), Setup: o.limits.setup()}
	if popts.MaxCallTime == 0 {
		popts.MaxCallTime = runtime.NoLimit // none
	}
	if o.maxAnswer == 0 {
		o.maxAnswer = defaultMaxAnswer
	}
	state := "Every call runs in a fresh interpreter: nothing persists between calls, files in /tmp included."
	if o.stateful {
		popts.MaxSessionIdle = o.ttl
		state = "Variables, functions, imports and files in /tmp persist between the calls of this session, " +
			"A call past the time limit is interrupted (KeyboardInterrupt) and the state kept, as is one that hits the memory cap with a MemoryError; one that will not stop, or leaves the memory full, replaces the interpreter, and the state is gone (the call says so)."
	}
	s := &mcpServer{stateful: o.stateful, storeSync: o.storeSync, workers: o.workers, maxAnswer: int(o.maxAnswer), keys: map[*mcp.ServerSession]string{}, lost: map[string]string{}}
	s.halt, s.cut = context.WithCancel(context.WithoutCancel(ctx))
	var err error
	if o.store != "" {
		if popts.Seed, err = os.ReadFile(o.seedFile); err != nil {
			return nil, err
		}
		if s.store, err = openStore(ctx, o); err != nil {
			return nil, err
		}
		popts.Store, popts.KeepStored = s.store, o.storeSync
	}
	if o.stateful {
		s.sessions, err = pool.NewSessions(ctx, rt, popts)
	} else {
		s.pool, err = pool.New(ctx, rt, popts)
	}
	if err != nil {
		closeStore(s.store)
		return nil, err
	}
	// The description is what the model knows of the sandbox.
	files := "Nothing of the host's files is visible; /tmp is writable (in memory)."
	if len(o.limits.mounts) > 0 {
		var dirs []string
		for _, m := range o.limits.mounts {
			dirs = append(dirs, m.GuestPath)
		}
		files = "Read-only directories: " + strings.Join(dirs, ", ") + "; /tmp is writable (in memory)."
	}
	pkgs := "the standard library (no pip packages)"
	if len(o.limits.packages) > 0 || len(o.limits.paths) > 0 {
		pkgs = "the standard library and the packages the server was given"
		if len(o.limits.preload) > 0 {
			pkgs += " (" + strings.Join(o.limits.preload, ", ") + " already imported)"
		}
	}
	if o.limits.numpy {
		pkgs += ", and numpy 2.2 (no pandas, no matplotlib)"
	}
	limit := "no time limit"
	if o.limits.timeout > 0 {
		limit = "a time limit of " + o.limits.timeout.String()
	}
	schema, err := outputSchema()
	if err != nil {
		s.close(ctx)
		return nil, err
	}
	s.tool = &mcp.Tool{
		Name: "run_python",
		Description: fmt.Sprintf("Run Python %s code in a sandbox and return its stdout, stderr, the value of its last expression (as in a notebook cell) and its error. "+
			"%s The sandbox has %s, no network, no subprocesses and no threads. %s "+
			"Each call has %s and a memory cap of %s; stdout and stderr are kept up to %s and %s, and the whole answer up to %s (longer values and output are cut, with a note).",
			pythonVersion(rt), state, pkgs, files, limit, o.limits.memory.String(), o.limits.stdout.String(), o.limits.stderr.String(), o.maxAnswer.String()),
		OutputSchema: schema,
		Annotations: &mcp.ToolAnnotations{
			Title:           "Run Python in a sandbox",
			ReadOnlyHint:    !o.stateful, // a stateful call changes its session
			DestructiveHint: new(false),
			IdempotentHint:  !o.stateful,
			OpenWorldHint:   new(false), // no network
		},
	}
	s.srv = s.newServer(nil)
	return s, nil
}

// openStore opens --store: Redis for a redis:// or rediss:// URL, else a
// directory.
func openStore(ctx context.Context, o mcpOptions) (pool.Store, error) {
	if u, err := url.Parse(o.store); err == nil && (u.Scheme == "redis" || u.Scheme == "rediss") {
		// A stored session lives as long as a live one may idle.
		return redisstore.Open(ctx, o.store, redisstore.Options{TTL: o.ttl})
	}
	return pool.NewDirStore(o.store)
}

// closeStore closes the store's connections, if it has any.
func closeStore(st pool.Store) error {
	if c, ok := st.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// newServer returns an MCP server offering the tool; serve makes one per
// session it takes over from another process (see adopt).
func (s *mcpServer) newServer(opts *mcp.ServerOptions) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "snakepit", Version: version()}, opts)
	mcp.AddTool(srv, s.tool, s.runPython)
	return srv
}

// outputSchema is run_python's output schema: the value is any JSON (the
// schema inferred for json.RawMessage would be a list of bytes), and the
// error kinds are an enum.
func outputSchema() (*jsonschema.Schema, error) {
	sch, err := jsonschema.For[outcome](&jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
		reflect.TypeFor[json.RawMessage](): {},
	}})
	if err != nil {
		return nil, err
	}
	kinds := []any{}
	for _, v := range runtime.ErrorKinds() {
		kinds = append(kinds, string(v))
	}
	sch.Properties["error"].Properties["kind"].Enum = kinds
	return sch, nil
}

type runInput struct {
	Code string `json:"code" jsonschema:"Python source to run"`
}

func (s *mcpServer) runPython(ctx context.Context, req *mcp.CallToolRequest, in runInput) (*mcp.CallToolResult, *outcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.halt, cancel)()
	r := runtime.Exec(in.Code)
	var (
		res         *runtime.Result
		err         error
		before, now string
	)
	saved := ""
	if s.stateful {
		key := s.key(req.Session)
		// A call whose reply the client never read (it cancelled) may
		// have replaced the interpreter: this one says so.
		before = s.takeLost(key)
		ses := s.sessions.Session(key)
		res, err = ses.Run(ctx, r)
		if runtime.KindOf(err) == runtime.KindSessionLost {
			// Lost between calls (a recycling limit): nothing ran.
			before = "recycled"
			res, err = ses.Run(ctx, r)
		}
		if errors.Is(err, pool.ErrSessionLost) {
			// This call ended the interpreter; its kind says why.
			if now = string(runtime.KindOf(err)); ctx.Err() != nil {
				s.setLost(key, now) // this reply goes unread
			}
		} else if s.storeSync {
			if err := s.syncSession(key); err != nil {
				saved = fmt.Sprintf("This call's state could not be saved to the session store (%v): if this server stops, the session may continue from before it.", err)
			}
		}
	} else {
		res, err = s.pool.Run(ctx, r)
	}
	out := newOutcome(res, err)
	if before != "" {
		out.Note = fmt.Sprintf("An earlier call of this session ended its interpreter (%s): the variables, imports and files from before it are gone; this call ran in a new one.", before)
	}
	if saved != "" {
		out.Note = strings.TrimSpace(out.Note + " " + saved)
	}
	if e := out.Error; e != nil {
		switch runtime.ErrorKind(e.Kind) {
		case runtime.KindSaturated, runtime.KindQueueTimeout:
			e.Message = fmt.Sprintf("The sandbox is busy: all %d interpreters are running other calls. Retry in a few seconds. (%s)", s.workers, e.Message)
		}
		if now != "" {
			e.Message += " (the interpreter was replaced: the variables, imports and files of this session are gone)"
		}
	}
	// The answer carries the outcome twice, as text and as structured
	// content; a little room is kept for the text's headings and JSON's.
	out.fit(s.maxAnswer/2 - 1024)
	return &mcp.CallToolResult{IsError: err != nil, Content: []mcp.Content{&mcp.TextContent{Text: out.text()}}}, out, nil
}

// text is the outcome for a reader (the model), beside the structured
// result.
func (o *outcome) text() string {
	var b strings.Builder
	section := func(title, body string, cut bool) {
		if body == "" {
			return
		}
		if b.Len() > 0 || title != "stdout" {
			fmt.Fprintf(&b, "[%s]\n", title)
		}
		b.WriteString(body)
		if !strings.HasSuffix(body, "\n") {
			b.WriteByte('\n')
		}
		if cut {
			fmt.Fprintf(&b, "[%s cut at its cap]\n", title)
		}
	}
	section("note", o.Note, false)
	section("stdout", o.Stdout, o.StdoutTruncated)
	section("stderr", o.Stderr, o.StderrTruncated)
	section("value", string(o.Value), false)
	section("value", o.ValuePreview, o.ValueTruncated)
	if e := o.Error; e != nil {
		body := e.Message
		if e.Traceback != "" {
			body = e.Traceback
		}
		section("error: "+e.Kind, body, false)
	}
	if b.Len() == 0 {
		return "(no output)"
	}
	return b.String()
}

// key returns the pool session of an MCP session: its id when the
// transport has one (HTTP), else one of our own (stdio has no id).
func (s *mcpServer) key(ss *mcp.ServerSession) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[ss]
	if !ok {
		if k = ss.ID(); k == "" {
			s.next++
			k = "conn-" + strconv.Itoa(s.next)
		} else {
			// An HTTP session has no serve call of its own to end it: the
			// client closes it (DELETE), or the handler does (idle).
			s.watchers.Go(func() {
				ss.Wait()
				s.forget(ss)
			})
		}
		s.keys[ss] = k
	}
	return k
}

// forget drops a client session that ended, and ends its pool session,
// and removes it from the store, unless the process is stopping.
func (s *mcpServer) forget(ss *mcp.ServerSession) {
	s.mu.Lock()
	k, ok := s.keys[ss]
	delete(s.keys, ss)
	delete(s.lost, k)
	end := ok && !s.stopping
	s.mu.Unlock()
	if end {
		s.sessions.Session(k).End()
		if s.store != nil {
			_ = s.store.Delete(s.halt, k) // a spilled or written-through image: the session is over
		}
	}
}

// syncSession writes key's session through to the store (--store-sync). The
// saves of a key take turns, so that an older image never replaces a
// newer one: each is taken after the calls before it.
func (s *mcpServer) syncSession(key string) error {
	mu := &s.syncMu[maphash.String(syncSeed, key)%uint64(len(s.syncMu))]
	mu.Lock()
	defer mu.Unlock()
	// Not the call's context: a client that went away still wants its state
	// kept. halt ends at the shutdown's cut.
	img, err := s.sessions.Session(key).Save(s.halt)
	switch {
	case errors.Is(err, pool.ErrNoSession):
		return nil // the call started none (too many sessions, say)
	case err != nil:
		return err
	}
	return s.store.Put(s.halt, key, img)
}

var syncSeed = maphash.MakeSeed()

// drain is called at shutdown, once the calls in flight have finished (or
// the shutdown timeout passed) and before the client sessions and the pool
// close. It marks the server as stopping, so that closing the client
// sessions does not end their pool sessions: each is a session a client
// may continue on another process, which the pool's Close saves to the
// store (--store).
func (s *mcpServer) drain(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
	return ctx.Err()
}

// resumable reports whether a client session this process does not know,
// by its id, may continue here (see adopt in serve.go). A fresh session
// has no state to lose: any id may. A stateful one may when the session
// store (--store) holds it: the pool restores it on its first call here.
// Without a store its interpreter is on the process that started it, and
// continuing in a new one would lose its state without a word: the client
// gets 404 and starts a new session, as MCP says.
func (s *mcpServer) resumable(ctx context.Context, id string) bool {
	if !s.stateful {
		return true
	}
	if s.store == nil {
		return false
	}
	_, err := s.store.Get(ctx, id)
	return err == nil
}

// stats returns the pool's counters.
func (s *mcpServer) stats() pool.Stats {
	if s.sessions != nil {
		return s.sessions.Stats()
	}
	return s.pool.Stats()
}

// serve serves one client on t until it goes or ctx ends, then ends its
// pool session.
func (s *mcpServer) serve(ctx context.Context, t mcp.Transport) error {
	ss, err := s.srv.Connect(ctx, t, nil)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- ss.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		ss.Close()
		<-done
		err = ctx.Err()
	}
	s.forget(ss)
	return err
}

// close closes the pool. The client sessions must be closed first: close
// waits for their watchers.
func (s *mcpServer) close(ctx context.Context) error {
	s.cut()
	s.watchers.Wait()
	if s.sessions != nil {
		// Close saves the live sessions to the store, then the store closes.
		return errors.Join(s.sessions.Close(ctx), closeStore(s.store))
	}
	return s.pool.Close(ctx)
}

func pythonVersion(rt *runtime.Runtime) string {
	if v := rt.Build().PythonVersion; v != "" {
		return v
	}
	return "3.13"
}

// version is the module's version when installed with go install.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
