package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/snakepit-wasm/snakepit/internal/testredis"
	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// newTestServer starts an MCP server on the test binary's shared Runtime.
func newTestServer(t testing.TB, o mcpOptions) *mcpServer {
	t.Helper()
	if o.workers == 0 {
		o.workers = 1
	}
	if o.limits.memory == 0 {
		o.limits.memory, o.limits.stdout, o.limits.stderr = 256<<20, 1<<20, 1<<20 // as the flags' defaults
	}
	s, err := newMCPServer(context.Background(), testrt.Runtime(t), o)
	require.NoError(t, err)
	t.Cleanup(func() { s.close(context.Background()) })
	return s
}

// connect connects a client, which the test's cleanup closes (first, since
// cleanups run last-in first-out); it waits for the server's side to end.
func connect(t testing.TB, s *mcpServer) *mcp.ClientSession {
	t.Helper()
	st, ct := mcp.NewInMemoryTransports()
	served := make(chan error, 1)
	go func() { served <- s.serve(context.Background(), st) }()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil).Connect(context.Background(), ct, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		cs.Close()
		<-served
	})
	return cs
}

// call calls run_python and returns its result, structured and as text.
func call(t testing.TB, cs *mcp.ClientSession, code string) (isError bool, o outcome, text string) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "run_python", Arguments: map[string]any{"code": code}})
	require.NoError(t, err, "a protocol error: the server must answer with a tool result")
	b, err := json.Marshal(res.StructuredContent)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &o))
	require.Len(t, res.Content, 1)
	return res.IsError, o, res.Content[0].(*mcp.TextContent).Text
}

func TestMCPListsRunPython(t *testing.T) {
	o := mcpOptions{}
	require.NoError(t, o.limits.mounts.Set(t.TempDir()+":/data"))
	cs := connect(t, newTestServer(t, o))
	tools, err := cs.ListTools(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, tools.Tools, 1)
	require.Equal(t, "run_python", tools.Tools[0].Name)
	require.Contains(t, tools.Tools[0].Description, "fresh interpreter")
	require.Contains(t, tools.Tools[0].Description, "Read-only directories: /data;")
	require.Contains(t, tools.Tools[0].Description, "a memory cap of 256M")
}

func TestMCPFreshRunsEachCallInANewInterpreter(t *testing.T) {
	cs := connect(t, newTestServer(t, mcpOptions{}))
	isErr, o, text := call(t, cs, "x = 6\nprint(x * 7)\nx + 1")
	require.False(t, isErr)
	require.Equal(t, "42\n", o.Stdout)
	require.JSONEq(t, "7", string(o.Value))
	require.Equal(t, "42\n[value]\n7\n", text)

	isErr, o, text = call(t, cs, "x")
	require.True(t, isErr, "x is not carried over")
	require.Equal(t, "python", o.Error.Kind)
	require.Equal(t, "NameError", o.Error.Type)
	require.Contains(t, text, "[error: python]\nTraceback")
}

func TestMCPStatefulKeepsStatePerClientAndEndsItWhenTheClientGoes(t *testing.T) {
	s := newTestServer(t, mcpOptions{stateful: true, workers: 2, ttl: time.Hour})
	a, b := connect(t, s), connect(t, s)

	call(t, a, "x = 'a'")
	call(t, b, "x = 'b'")
	_, o, _ := call(t, a, "x")
	require.JSONEq(t, `"a"`, string(o.Value))
	_, o, _ = call(t, b, "x")
	require.JSONEq(t, `"b"`, string(o.Value), "each client has its own interpreter")
	require.Equal(t, 2, s.sessions.Stats().Sessions)

	isErr, o, _ := call(t, a, "1/0")
	require.True(t, isErr)
	require.NotContains(t, o.Error.Message, "gone", "a Python error keeps the session")
	_, o, _ = call(t, a, "x")
	require.JSONEq(t, `"a"`, string(o.Value))

	require.NoError(t, b.Close())
	require.Eventually(t, func() bool { return s.sessions.Stats().Sessions == 1 }, 5*time.Second, 10*time.Millisecond,
		"the pool session ends with its client")
	_, o, _ = call(t, a, "x")
	require.JSONEq(t, `"a"`, string(o.Value))
}

// A deadline and the memory cap are tool errors; the server lives on and
// the next call works, in both modes.
func TestMCPLimitsAreToolErrors(t *testing.T) {
	for _, stateful := range []bool{false, true} {
		name := map[bool]string{false: "fresh", true: "stateful"}[stateful]
		t.Run(name, func(t *testing.T) {
			// A worker for each call that breaks one, and one more: the
			// next call need not wait for a replacement within its 300 ms.
			o := mcpOptions{stateful: stateful, workers: 3, ttl: time.Hour}
			o.limits.timeout, o.limits.memory = 300*time.Millisecond, 48<<20
			cs := connect(t, newTestServer(t, o))
			for _, c := range []struct {
				code, kind string
				lost       bool // the interpreter is replaced
			}{
				{"print('spinning')\nwhile True: pass", "deadline", false}, // interrupted: it unwinds
				{"while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass", "deadline", true},
				{"x = bytearray(200 << 20)", "memory_limit", false}, // MemoryError: it unwinds
			} {
				if stateful {
					call(t, cs, "kept = 1") // again after a call that lost it
				}
				isErr, out, text := call(t, cs, c.code)
				require.True(t, isErr, c.code)
				require.Equal(t, c.kind, out.Error.Kind, out.Error.Message)
				require.Contains(t, text, "[error: "+c.kind+"]")
				if stateful && c.lost {
					require.Contains(t, out.Error.Message, "the variables, imports and files of this session are gone")
				}
				if stateful && !c.lost {
					require.NotContains(t, out.Error.Message, "are gone")
					_, out, _ := call(t, cs, "kept")
					require.JSONEq(t, "1", string(out.Value), "the call kept the session's state")
				}
				isErr, out, _ = call(t, cs, "print(1)")
				require.False(t, isErr, "the next call works: %+v", out.Error)
				require.Equal(t, "1\n", out.Stdout)

			}
		})
	}
}

// The mcp command itself, over its stdin and stdout, with the SDK's client.
func TestMCPCommandServesStdio(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var stderr strings.Builder
	exited := make(chan int, 1)
	go func() {
		code := run(context.Background(), []string{"mcp", "--workers", "1", "--stateful"}, inR, outW, &stderr)
		outW.Close()
		exited <- code
	}()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil).
		Connect(context.Background(), &mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	require.NoError(t, err)
	call(t, cs, "import math\nr = 2")
	_, o, _ := call(t, cs, "math.pi * r ** 2")
	require.JSONEq(t, "12.566370614359172", string(o.Value))
	require.NoError(t, cs.Close())
	require.Equal(t, exitOK, <-exited, stderr.String())
}

// BenchmarkMCPRoundTrip measures a run_python call from the client to its
// result, print(1), over in-memory transports: fresh (a new interpreter per
// call) and stateful (the session's interpreter). The pool sub-benchmarks
// make the same calls on the pool directly, without MCP, for comparison.
func BenchmarkMCPRoundTrip(b *testing.B) {
	for _, stateful := range []bool{false, true} {
		mode := map[bool]string{false: "fresh", true: "stateful"}[stateful]
		for _, viaMCP := range []bool{true, false} {
			name := mode
			if !viaMCP {
				name += "/pool"
			}
			b.Run(name, func(b *testing.B) {
				s := newTestServer(b, mcpOptions{stateful: stateful, workers: 2, ttl: time.Hour})
				cs := connect(b, s)
				once := func() error {
					if !viaMCP {
						req := runtime.Exec("print(1)")
						if stateful {
							_, err := s.sessions.Session("bench").Run(context.Background(), req)
							return err
						}
						_, err := s.pool.Run(context.Background(), req)
						return err
					}
					res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "run_python", Arguments: map[string]any{"code": "print(1)"}})
					if err == nil && res.IsError {
						err = fmt.Errorf("tool error: %v", res.StructuredContent)
					}
					return err
				}
				roundTrips(b, once)
			})
		}
	}
	// --store-sync: each call also writes the session to a real Redis.
	b.Run("stateful/store-sync", func(b *testing.B) {
		seed := filepath.Join(b.TempDir(), "seed")
		require.NoError(b, os.WriteFile(seed, []byte("bench"), 0o600))
		s := newTestServer(b, mcpOptions{stateful: true, workers: 2, ttl: time.Hour, store: testredis.Start(b).URL, seedFile: seed, storeSync: true})
		cs := connect(b, s)
		roundTrips(b, func() error {
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "run_python", Arguments: map[string]any{"code": "print(1)"}})
			if err == nil && (res.IsError || res.StructuredContent.(map[string]any)["note"] != nil) {
				err = fmt.Errorf("tool error or note: %v", res.StructuredContent)
			}
			return err
		})
	})
}

// roundTrips times once, after a first call (a session's start is not a
// round trip), and reports the p50 and p99.
func roundTrips(b *testing.B, once func() error) {
	require.NoError(b, once())
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		err := once()
		times = append(times, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(times)
	q := func(p float64) float64 { return float64(times[int(p*float64(len(times)-1))].Microseconds()) }
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}
