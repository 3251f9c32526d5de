package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/snakepit-wasm/snakepit/pool"
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
--session-ttl, or a call breaks it (a deadline, the memory cap).
`

func mcpCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("mcp", "[flags]", mcpDoc, stderr)
	var o mcpOptions
	fs.BoolVar(&o.stateful, "stateful", false, "keep each client session's Python state between calls")
	fs.IntVar(&o.workers, "workers", goruntime.NumCPU(), "`number` of interpreters, hence of calls running at once")
	fs.DurationVar(&o.ttl, "session-ttl", time.Hour, "with --stateful, end a session idle this long")
	o.limits.timeout = 30 * time.Second
	o.limits.register(fs, "stop a call after this `duration`; 0 means no limit")
	if st := fs.parse(args, stdout); st >= 0 {
		return st
	}
	switch {
	case fs.NArg() > 0:
		return fs.usageError("takes no arguments")
	case o.workers < 1:
		return fs.usageError("--workers must be at least 1")
	}
	rt, err := startRuntime(ctx, stderr)
	if err != nil {
		fmt.Fprintln(stderr, explain(err))
		return exitFailure
	}
	defer rt.Close(context.WithoutCancel(ctx))
	s, err := newMCPServer(ctx, rt, o)
	if err != nil {
		fmt.Fprintln(stderr, explain(err))
		return exitFailure
	}
	defer s.close(context.WithoutCancel(ctx))
	err = s.serve(ctx, &mcp.IOTransport{Reader: io.NopCloser(stdin), Writer: nopCloser{stdout}})
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "snakepit mcp: %v\n", err)
		return exitFailure
	}
	return exitOK
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

type mcpOptions struct {
	limits   limits
	stateful bool
	workers  int
	ttl      time.Duration
}

// mcpServer is the MCP server and the pool its tool runs on.
type mcpServer struct {
	srv      *mcp.Server
	pool     *pool.Pool
	stateful bool

	mu   sync.Mutex
	keys map[*mcp.ServerSession]string // pool session keys, in stateful mode
	next int
	lost map[string]bool // sessions whose interpreter a call broke, until that call reports it
}

// onEvent notes the sessions that a call broke. The pool reports it before
// the call returns, so the call's result can say the state is gone.
func (s *mcpServer) onEvent(e pool.Event) {
	if e.Type == pool.SessionEnded && e.Reason != pool.RecycleSessionEnded && e.Reason != pool.RecycleSessionExpired {
		s.mu.Lock()
		s.lost[e.Session] = true
		s.mu.Unlock()
	}
}

func (s *mcpServer) takeLost(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	lost := s.lost[key]
	delete(s.lost, key)
	return lost
}

func newMCPServer(ctx context.Context, rt *runtime.Runtime, o mcpOptions) (*mcpServer, error) {
	popts := pool.Options{Size: o.workers, CallTimeout: o.limits.timeout, Instance: o.limits.options()}
	if popts.CallTimeout == 0 {
		popts.CallTimeout = -1 // none
	}
	state := "Every call runs in a fresh interpreter: nothing persists between calls."
	if o.stateful {
		popts.Mode, popts.SessionTTL = pool.ModeSession, o.ttl
		state = "Variables, functions and imports persist between the calls of this session."
	}
	s := &mcpServer{stateful: o.stateful, keys: map[*mcp.ServerSession]string{}, lost: map[string]bool{}}
	popts.OnEvent = s.onEvent
	p, err := pool.New(ctx, rt, popts)
	if err != nil {
		return nil, err
	}
	s.pool = p
	s.srv = mcp.NewServer(&mcp.Implementation{Name: "snakepit", Version: version()}, nil)
	// The description is what the model knows of the sandbox.
	files := "Nothing of the host's files is visible."
	if len(o.limits.mounts) > 0 {
		var dirs []string
		for _, m := range o.limits.mounts {
			dirs = append(dirs, m.GuestPath)
		}
		files = "Read-only directories: " + strings.Join(dirs, ", ") + "."
	}
	limit := "no time limit"
	if o.limits.timeout > 0 {
		limit = "a time limit of " + o.limits.timeout.String()
	}
	mcp.AddTool(s.srv, &mcp.Tool{
		Name: "run_python",
		Description: fmt.Sprintf("Run Python %s code in a sandbox and return its stdout, stderr, the value of its last expression (as in a notebook cell) and its error. "+
			"%s The sandbox has the standard library (no pip packages), no network, no subprocesses and no threads. %s "+
			"Each call has %s and a memory cap of %s.", pythonVersion(rt), state, files, limit, o.limits.memory.String()),
	}, s.runPython)
	return s, nil
}

type runInput struct {
	Code string `json:"code" jsonschema:"Python source to run"`
}

func (s *mcpServer) runPython(ctx context.Context, req *mcp.CallToolRequest, in runInput) (*mcp.CallToolResult, *outcome, error) {
	r := runtime.Request{Op: runtime.OpExec, Code: in.Code}
	var (
		res *runtime.Result
		err error
	)
	lost := false
	if s.stateful {
		key := s.key(req.Session)
		res, err = s.pool.RunSession(ctx, key, r)
		if errors.Is(err, pool.ErrSessionLost) {
			// The call that broke the session's interpreter has told the
			// client already; this one starts a new session.
			res, err = s.pool.RunSession(ctx, key, r)
		}
		lost = s.takeLost(key)
	} else {
		res, err = s.pool.Run(ctx, r)
	}
	out := newOutcome(res, err)
	if out.Error != nil && lost {
		out.Error.Message += " (the interpreter was replaced: the variables and imports of this session are gone)"
	}
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
	section("stdout", o.Stdout, o.StdoutTruncated)
	section("stderr", o.Stderr, o.StderrTruncated)
	if o.Value != nil {
		v, _ := json.Marshal(o.Value)
		section("value", string(v), false)
	}
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
		}
		s.keys[ss] = k
	}
	return k
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
	s.mu.Lock()
	k, ok := s.keys[ss]
	delete(s.keys, ss)
	delete(s.lost, k)
	s.mu.Unlock()
	if ok {
		s.pool.EndSession(k)
	}
	return err
}

func (s *mcpServer) close(ctx context.Context) error { return s.pool.Close(ctx) }

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
