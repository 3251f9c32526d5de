package pool_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { testrt.Main(m) }

// rt returns the Runtime shared by the tests (compiling python.wasm once).
var rt = testrt.Runtime

var ctx = context.Background()

// hang bounds waits that only a bug would make long; it asserts nothing
// about speed.
const hang = 30 * time.Second

func newPool(t testing.TB, opts pool.Options) *pool.Pool {
	t.Helper()
	return newPoolCtx(t, ctx, opts)
}

// newPoolCtx is newPool with the context pool.New gets (knobs.With's).
func newPoolCtx(t testing.TB, ctx context.Context, opts pool.Options) *pool.Pool {
	t.Helper()
	p, err := pool.New(ctx, rt(t), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(ctx, hang)
		defer cancel()
		require.NoError(t, p.Close(c))
	})
	return p
}

func newSessions(t testing.TB, opts pool.Options) *pool.Sessions {
	t.Helper()
	ss, err := pool.NewSessions(ctx, rt(t), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(ctx, hang)
		defer cancel()
		require.NoError(t, ss.Close(c))
	})
	return ss
}

// anyPool is a Pool or a Sessions, for tests that run in every mode.
type anyPool struct {
	run   func(key string) runtime.Runner // the pool itself, or key's session
	stats func() pool.Stats
	close func(context.Context) error
}

// startAny starts a pool in mode: "fresh", "warm" or "session".
func startAny(t testing.TB, mode string, opts pool.Options) (*anyPool, error) {
	if mode == "session" {
		ss, err := pool.NewSessions(ctx, rt(t), opts)
		if err != nil {
			return nil, err
		}
		return &anyPool{func(key string) runtime.Runner { return ss.Session(key) }, ss.Stats, ss.Close}, nil
	}
	opts.Mode = map[string]pool.Mode{"fresh": pool.ModeFresh, "warm": pool.ModeWarm}[mode]
	p, err := pool.New(ctx, rt(t), opts)
	if err != nil {
		return nil, err
	}
	return &anyPool{func(string) runtime.Runner { return p }, p.Stats, p.Close}, nil
}

// modeRunner starts a pool in mode ("fresh", "warm" or "session") and
// returns its Runner for a session key (the pool itself but for
// "session") and its stats.
func modeRunner(t testing.TB, mode string, opts pool.Options) (func(key string) runtime.Runner, func() pool.Stats) {
	t.Helper()
	switch mode {
	case "fresh", "warm":
		opts.Mode = map[string]pool.Mode{"fresh": pool.ModeFresh, "warm": pool.ModeWarm}[mode]
		p := newPool(t, opts)
		return func(string) runtime.Runner { return p }, p.Stats
	}
	ss := newSessions(t, opts)
	return func(key string) runtime.Runner { return ss.Session(key) }, ss.Stats
}

func exec(code string) runtime.Request { return runtime.Exec(code) }
func eval(code string) runtime.Request { return runtime.Eval(code) }

func runner(p *pool.Pool) func(runtime.Request) error {
	return func(r runtime.Request) error { _, err := p.Run(ctx, r); return err }
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, hang, time.Millisecond, what)
}

func queued(p interface{ Stats() pool.Stats }, n int) func() bool {
	return func() bool { return p.Stats().Queued == n }
}

// atOnce returns an exec of code that first waits until n calls of it
// have arrived, so that they run on n workers at once.
func atOnce(n int, code string) runtime.Request {
	var arrived sync.WaitGroup
	arrived.Add(n)
	barrier := func(context.Context, json.RawMessage) (any, error) {
		arrived.Done()
		arrived.Wait()
		return nil, nil
	}
	return runtime.Request{Op: runtime.OpExec, Code: "import snakepit\nsnakepit.call('barrier')\n" + code,
		Host: map[string]runtime.HostFunc{"barrier": barrier}}
}

func stdout(t testing.TB, res *runtime.Result, err error) string {
	t.Helper()
	require.NoError(t, err)
	return string(res.Stdout)
}

func TestFIFO(t *testing.T) {
	for _, mode := range []pool.Mode{pool.ModeFresh, pool.ModeWarm} {
		t.Run(mode.String(), func(t *testing.T) {
			p := newPool(t, pool.Options{Size: 1, Mode: mode})
			g := testrt.NewGate()
			held := g.Hold(t, runner(p), "")

			var mu sync.Mutex
			var order []int
			mark := map[string]runtime.HostFunc{"mark": func(_ context.Context, a json.RawMessage) (any, error) {
				var n []int
				require.NoError(t, json.Unmarshal(a, &n))
				mu.Lock()
				order = append(order, n[0])
				mu.Unlock()
				return nil, nil
			}}
			const n = 12
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					_, err := p.Run(ctx, runtime.Request{Op: runtime.OpExec, Code: fmt.Sprintf("import snakepit\nsnakepit.call('mark', %d)", i), Host: mark})
					require.NoError(t, err)
				})
				// Each caller is in the queue before the next arrives.
				waitFor(t, "queued", queued(p, i+1))
			}
			g.Open()
			require.NoError(t, <-held)
			wg.Wait()
			want := make([]int, n)
			for i := range want {
				want[i] = i
			}
			require.Equal(t, want, order)
		})
	}
}

func TestSaturated(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, MaxQueue: 2, Mode: pool.ModeWarm})
	g := testrt.NewGate()
	held := g.Hold(t, runner(p), "")
	var waiting []chan error
	for i := range 2 {
		c := make(chan error, 1)
		go func() { _, err := p.Run(ctx, exec("pass")); c <- err }()
		waiting = append(waiting, c)
		waitFor(t, "queued", queued(p, i+1))
	}
	_, err := p.Run(ctx, exec("pass"))
	require.ErrorIs(t, err, pool.ErrSaturated)
	require.Equal(t, runtime.KindSaturated, runtime.KindOf(err))
	g.Open()
	require.NoError(t, <-held)
	for _, c := range waiting {
		require.NoError(t, <-c)
	}
	st := p.Stats()
	require.EqualValues(t, 4, st.Calls)
	require.EqualValues(t, 1, st.Errors[runtime.KindSaturated])

	// With a negative MaxQueue nobody waits.
	p2 := newPool(t, pool.Options{Size: 1, FailFast: true, Mode: pool.ModeFresh})
	g2 := testrt.NewGate()
	held = g2.Hold(t, runner(p2), "")
	_, err = p2.Run(ctx, exec("pass"))
	require.ErrorIs(t, err, pool.ErrSaturated)
	g2.Open()
	require.NoError(t, <-held)
}

func TestQueueTimeout(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, MaxQueueWait: 100 * time.Millisecond})
	g := testrt.NewGate()
	held := g.Hold(t, runner(p), "")
	_, err := p.Run(ctx, exec("pass"))
	require.ErrorIs(t, err, pool.ErrQueueTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, runtime.KindQueueTimeout, runtime.KindOf(err))
	require.Zero(t, p.Stats().Queued)
	g.Open()
	require.NoError(t, <-held)
	// The used clone's replacement starts in the background; on a loaded
	// machine that can take longer than this pool's 100 ms queue timeout.
	require.Eventually(t, func() bool { return p.Stats().Idle == 1 }, hang, 5*time.Millisecond)
	_, err = p.Run(ctx, exec("pass"))
	require.NoError(t, err)
}

func TestCallerCancelWhileQueued(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1})
	g := testrt.NewGate()
	held := g.Hold(t, runner(p), "")
	c, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := p.Run(c, exec("pass")); done <- err }()
	waitFor(t, "queued", queued(p, 1))
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, runtime.KindCanceled, runtime.KindOf(err))
	require.Zero(t, p.Stats().Queued)
	g.Open()
	require.NoError(t, <-held)
	_, err = p.Run(ctx, exec("pass"))
	require.NoError(t, err)
	waitFor(t, "one idle worker", func() bool { st := p.Stats(); return st.Idle == 1 && st.Busy == 0 })
}

func TestCallDeadline(t *testing.T) {
	for _, mode := range []pool.Mode{pool.ModeFresh, pool.ModeWarm} {
		t.Run(mode.String(), func(t *testing.T) {
			p := newPool(t, pool.Options{Size: 1, Mode: mode, MaxCallTime: 300 * time.Millisecond})
			start := time.Now()
			// A loop that unwinds when interrupted keeps its worker.
			_, err := p.Run(ctx, exec("while True:\n    pass"))
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.ErrorIs(t, err, runtime.ErrInterrupted)
			require.Equal(t, runtime.KindDeadline, runtime.KindOf(err))
			require.Less(t, time.Since(start), hang)
			require.Zero(t, p.Stats().Recycles[pool.RecycleStopped])
			// (Waiting for the replacement keeps its start out of the next
			// call's 300 ms.)
			waitFor(t, "replacement ready", func() bool { return p.Stats().Idle == 1 })
			_, err = p.Run(ctx, eval("1"))
			require.NoError(t, err)

			// The caller's own deadline stops the call the same way (once a
			// worker is ready: in fresh mode the last call used it up); a
			// loop that will not unwind is stopped hard and its worker
			// replaced.
			waitFor(t, "replacement ready", func() bool { return p.Stats().Idle == 1 })
			c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_, err = p.Run(c, exec("while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass"))
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.NotErrorIs(t, err, runtime.ErrInterrupted)
			require.EqualValues(t, 1, p.Stats().Recycles[pool.RecycleStopped])
			waitFor(t, "replacement ready", func() bool { return p.Stats().Idle == 1 })
			_, err = p.Run(ctx, eval("1"))
			require.NoError(t, err)
		})
	}
}

// MaxCallTime covers the time queued, not only the execution.
func TestCallDeadlineCoversQueueWait(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, MaxCallTime: 300 * time.Millisecond, MaxQueueWait: hang})
	g := testrt.NewGate()
	g.Deaf = true // the worker stays busy past every deadline
	held := g.Hold(t, runner(p), "")
	_, err := p.Run(ctx, exec("pass"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, pool.ErrQueueTimeout)
	require.Equal(t, runtime.KindDeadline, runtime.KindOf(err))
	g.Open()
	<-held
}

// counter is warm-mode code that prints how many calls its worker has seen.
const counter = "n = globals().get('n', 0) + 1\nprint(n)"

func TestRecycleAfterMaxCalls(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, Mode: pool.ModeWarm, MaxCalls: 3, Setup: "import json"})
	for _, want := range []string{"1\n", "2\n", "3\n", "1\n", "2\n"} {
		res, err := p.Run(ctx, exec(counter))
		require.Equal(t, want, stdout(t, res, err))
	}
	require.EqualValues(t, 1, p.Stats().Recycles[pool.RecycleCalls])
}

func TestRecycleAfterMaxAge(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, Mode: pool.ModeWarm, MaxAge: 300 * time.Millisecond})
	res, err := p.Run(ctx, exec(counter))
	require.Equal(t, "1\n", stdout(t, res, err))
	// The janitor retires the idle worker once it is too old.
	waitFor(t, "recycled for age", func() bool { return p.Stats().Recycles[pool.RecycleAge] >= 1 })
	res, err = p.Run(ctx, exec(counter))
	require.Equal(t, "1\n", stdout(t, res, err))
}

func TestRecycleAboveMaxMemory(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, Mode: pool.ModeWarm, MaxMemory: 40 << 20})
	_, err := p.Run(ctx, exec("small = 1"))
	require.NoError(t, err)
	_, err = p.Run(ctx, exec("x = bytearray(50 * 2**20)"))
	require.NoError(t, err)
	require.EqualValues(t, 1, p.Stats().Recycles[pool.RecycleMemory])
	res, err := p.Run(ctx, eval("'small' in globals() or 'x' in globals()"))
	require.NoError(t, err)
	require.JSONEq(t, "false", string(res.Value))
}

func TestRecycleAfterBrokenWorker(t *testing.T) {
	for _, c := range []struct {
		name   string
		setup  string // run first, on the same worker
		code   string
		reason pool.RecycleReason
		is     []error
		kind   runtime.ErrorKind
	}{
		{"memory cap", "", testrt.FillMemory, pool.RecycleMemoryLimit, []error{runtime.ErrMemoryLimit}, runtime.KindMemoryLimit},
		{"trap", "", "import os\nos.abort()", pool.RecycleCrash, []error{pool.ErrWorkerCrashed, runtime.ErrTrap}, runtime.KindCrash},
		{"abi violation", "import snakepit_guest\nsnakepit_guest._dispatch.__code__ = (lambda kind, a, b: (b'Z', b'garbage')).__code__",
			"pass", pool.RecycleCrash, []error{pool.ErrWorkerCrashed, runtime.ErrMalformed}, runtime.KindCrash},
	} {
		t.Run(c.name, func(t *testing.T) {
			var crashed atomic.Int32
			p := newPool(t, pool.Options{Size: 1, Mode: pool.ModeWarm, Instance: runtime.Options{Limits: runtime.Limits{MaxMemory: 64 << 20}},
				OnEvent: func(e pool.Event) {
					if e.Type == pool.WorkerCrashed {
						crashed.Add(1)
					}
				}})
			_, err := p.Run(ctx, exec("before = 1\n"+c.setup))
			require.NoError(t, err)
			_, err = p.Run(ctx, exec(c.code))
			for _, want := range c.is {
				require.ErrorIs(t, err, want)
			}
			require.Equal(t, c.kind, runtime.KindOf(err))
			st := p.Stats()
			require.EqualValues(t, 1, st.Recycles[c.reason])
			require.EqualValues(t, 1, st.Errors[c.kind])
			require.EqualValues(t, 1, crashed.Load())
			res, err := p.Run(ctx, eval("'before' in globals()"))
			require.NoError(t, err)
			require.JSONEq(t, "false", string(res.Value), "served by a new worker")
		})
	}
}

func TestPythonErrorKeepsWorker(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, Mode: pool.ModeWarm})
	_, err := p.Run(ctx, exec("x = 1\nraise ValueError('bad')"))
	var pe *runtime.PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "ValueError", pe.Type)
	require.Equal(t, runtime.KindPython, runtime.KindOf(err))
	res, err := p.Run(ctx, eval("x"))
	require.NoError(t, err)
	require.JSONEq(t, "1", string(res.Value))
	require.Empty(t, p.Stats().Recycles)
}

func TestFreshModeIsolation(t *testing.T) {
	p := newPool(t, pool.Options{Size: 2, Setup: "BASE = 7", Preload: []string{"json"}})
	_, err := p.Run(ctx, exec("x = 42\nBASE = 8"))
	require.NoError(t, err)
	for range 5 {
		res, err := p.Run(ctx, eval("('x' in globals(), BASE, 'json' in __import__('sys').modules)"))
		require.NoError(t, err)
		require.JSONEq(t, "[false, 7, true]", string(res.Value))
	}
	st := p.Stats()
	require.EqualValues(t, 6, st.Recycles[pool.RecycleUsed])
	waitFor(t, "spare clones ready", func() bool { return p.Stats().Idle == 2 })
}

// Fresh workers are reset in place after their call; nothing of a call
// reaches the next one through a reset worker (globals, modules, scratch
// files, random state), and a call that leaves what a reset cannot undo
// (an open file, a closed descriptor) gets its worker replaced instead.
func TestFreshModeResetsWorkers(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, Preload: []string{"random"}})
	seen := map[string]bool{}
	for k := range 6 {
		res, err := p.Run(ctx, eval(`(globals().get('secret'), 'csv' in __import__('sys').modules, __import__('os').listdir('.'),
  __import__('random').random())`))
		require.NoError(t, err)
		var got []any
		require.NoError(t, res.Decode(&got))
		require.Equal(t, []any{nil, false, []any{}}, got[:3], "call %d", k)
		require.False(t, seen[string(res.Value)], "call %d repeats an earlier call's randomness", k)
		seen[string(res.Value)] = true
		code := "import csv\nsecret = 1\nopen('left.txt', 'w').write('x')\n"
		switch k {
		case 2:
			code += "kept = open('left.txt')\n"
		case 4:
			code += "import os\nos.close(1)\n"
		}
		_, err = p.Run(ctx, exec(code))
		require.NoError(t, err)
	}
	st := p.Stats()
	require.EqualValues(t, 12, st.Recycles[pool.RecycleUsed])
	// Two of the used workers could not be reset: the one left holding a
	// file, the one whose stdout was closed.
	waitFor(t, "the last worker renewed", func() bool { return p.Stats().Idle == 1 })
	require.EqualValues(t, 10, p.Stats().Resets)
}

// A fresh call of a source the pool has run twice takes its code from the
// snapshot's code cache (runtime.Snapshot.CodeCache), with the same result;
// a warm worker keeps its own.
func TestFreshCallsHitTheCodeCache(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, Setup: "BASE = 7"})
	before := p.Stats().CodeCache
	for k := range 5 {
		res, err := p.Run(ctx, exec("x = BASE * 6\nx"))
		require.NoError(t, err)
		require.JSONEq(t, "42", string(res.Value), "call %d", k)
	}
	st := p.Stats().CodeCache
	require.Equal(t, before.Hits+3, st.Hits, "%+v", st)
	require.Equal(t, before.Compiled+1, st.Compiled, "%+v", st)

	warm := newPool(t, pool.Options{Size: 1, Mode: pool.ModeWarm})
	before = warm.Stats().CodeCache // the worker's warm-up call
	for range 3 {
		_, err := warm.Run(ctx, exec("x = 1"))
		require.NoError(t, err)
	}
	require.Equal(t, before, warm.Stats().CodeCache)
}

func TestWarmModePersistence(t *testing.T) {
	p := newPool(t, pool.Options{Size: 1, Mode: pool.ModeWarm, Setup: "BASE = 7"})
	_, err := p.Run(ctx, exec("x = 42"))
	require.NoError(t, err)
	res, err := p.Run(ctx, eval("(x, BASE)"))
	require.NoError(t, err)
	require.JSONEq(t, "[42, 7]", string(res.Value))
}

// Warm workers are clones of one snapshot: Setup ran once, and each worker
// then has memory of its own (copy-on-write), so what one call changes is
// not seen by another worker, nor by replacements, which start from the
// snapshot again.
func TestWarmWorkersAreIndependentClones(t *testing.T) {
	var setups atomic.Int32
	count := map[string]runtime.HostFunc{"count": func(context.Context, json.RawMessage) (any, error) {
		setups.Add(1)
		return nil, nil
	}}
	p := newPool(t, pool.Options{Size: 2, Mode: pool.ModeWarm, MaxCalls: 2, Instance: runtime.Options{Host: count},
		Setup: "import snakepit\nsnakepit.call('count')\nn = 0\nsecret = [0, 0]"})
	require.EqualValues(t, 1, setups.Load())

	// Both workers at once, twice (each call held until the other arrives):
	// the first round writes, the second reads and reaches MaxCalls.
	bothWorkers := func(code, want string) {
		req := atOnce(2, code)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				res, err := p.Run(ctx, req)
				require.NoError(t, err)
				require.JSONEq(t, want, string(res.Value))
			})
		}
		wg.Wait()
	}
	bothWorkers("n += 1\nsecret[1] = 1\n(n, secret[0])", "[1, 0]")
	bothWorkers("(n, secret[1])", "[1, 1]")
	waitFor(t, "replacements", func() bool { st := p.Stats(); return st.Recycles[pool.RecycleCalls] == 2 && st.Idle == 2 })
	for range 2 {
		res, err := p.Run(ctx, eval("(n, secret)"))
		require.NoError(t, err)
		require.JSONEq(t, "[0, [0, 0]]", string(res.Value))
	}
	require.EqualValues(t, 1, setups.Load())
}

func TestSetupErrorFailsNew(t *testing.T) {
	for _, mode := range []string{"fresh", "warm", "session"} {
		t.Run(mode, func(t *testing.T) {
			_, err := startAny(t, mode, pool.Options{Size: 3, Setup: "raise ValueError('no')"})
			var pe *runtime.PythonError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "ValueError", pe.Type)
		})
	}
}

func TestNewWithANilRuntimeIsAnError(t *testing.T) {
	p, err := pool.New(ctx, nil, pool.Options{})
	require.ErrorIs(t, err, runtime.ErrBadOptions)
	require.NoError(t, p.Close(ctx)) // as `defer p.Close(ctx)` before checking err
}

// A crash in the middle of load costs only the call that caused it.
func TestCrashUnderLoad(t *testing.T) {
	for _, mode := range []pool.Mode{pool.ModeFresh, pool.ModeWarm} {
		t.Run(mode.String(), func(t *testing.T) {
			p := newPool(t, pool.Options{Size: 2, Mode: mode})
			callers, calls := 4, 15
			if testing.Short() {
				calls = 8
			}
			var crashes, ok atomic.Int64
			var wg sync.WaitGroup
			for c := range callers {
				wg.Go(func() {
					for i := range calls {
						if (c*calls+i)%7 == 3 {
							_, err := p.Run(ctx, exec("import os\nos.abort()"))
							require.ErrorIs(t, err, pool.ErrWorkerCrashed)
							crashes.Add(1)
							continue
						}
						res, err := p.Run(ctx, eval(fmt.Sprintf("%d * 2", i)))
						require.NoError(t, err)
						require.JSONEq(t, fmt.Sprint(i*2), string(res.Value))
						ok.Add(1)
					}
				})
			}
			wg.Wait()
			st := p.Stats()
			require.EqualValues(t, crashes.Load(), st.Errors[runtime.KindCrash])
			require.EqualValues(t, crashes.Load(), st.Recycles[pool.RecycleCrash])
			require.EqualValues(t, callers*calls, st.Calls)
			require.NotZero(t, ok.Load())
			waitFor(t, "pool back to size", func() bool { st := p.Stats(); return st.Idle == 2 && st.Starting == 0 })
		})
	}
}

func TestCloseWaitsForCallsInFlight(t *testing.T) {
	p, err := pool.New(ctx, rt(t), pool.Options{Size: 1, Mode: pool.ModeWarm})
	require.NoError(t, err)
	g := testrt.NewGate()
	held := g.Hold(t, runner(p), "print('finished')")
	queuedErr := make(chan error, 1)
	go func() { _, err := p.Run(ctx, exec("pass")); queuedErr <- err }()
	waitFor(t, "queued", queued(p, 1))

	closed := make(chan error, 1)
	go func() { closed <- p.Close(ctx) }()
	// Queued and new calls fail at once; the call in flight goes on.
	require.ErrorIs(t, <-queuedErr, runtime.ErrClosed)
	waitFor(t, "closing", func() bool { _, err := p.Run(ctx, exec("pass")); return errors.Is(err, runtime.ErrClosed) })
	select {
	case err := <-closed:
		t.Fatalf("Close returned with a call in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.Open()
	require.NoError(t, <-held)
	require.NoError(t, <-closed)
	require.NoError(t, p.Close(ctx))
	require.Equal(t, runtime.KindClosed, runtime.KindOf(func() error { _, err := p.Run(ctx, exec("pass")); return err }()))
	st := p.Stats()
	require.Zero(t, st.Idle+st.Busy+st.Starting)
}

func TestCloseStopsCallsAtItsDeadline(t *testing.T) {
	for _, mode := range []string{"fresh", "warm", "session"} {
		t.Run(mode, func(t *testing.T) {
			p, err := startAny(t, mode, pool.Options{Size: 2})
			require.NoError(t, err)
			run := func(i int, r runtime.Request) error {
				_, err := p.run(fmt.Sprint(i)).Run(ctx, r)
				return err
			}
			// One call spins in Python, one waits in a host tool.
			g := testrt.NewGate()
			spin := make(chan error, 1)
			go func() { spin <- run(0, exec("while True:\n    pass")) }()
			held := g.Hold(t, func(r runtime.Request) error { return run(1, r) }, "")
			waitFor(t, "both busy", func() bool { return p.stats().Busy == 2 })

			c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			require.ErrorIs(t, p.close(c), context.DeadlineExceeded)
			for _, ch := range []<-chan error{spin, held} {
				err := <-ch
				require.ErrorIs(t, err, runtime.ErrClosed)
				require.Equal(t, runtime.KindClosed, runtime.KindOf(err))
			}
			require.NoError(t, p.close(ctx))
		})
	}
}

// Every request gets exactly one answer, and it is its own.
func TestHammer(t *testing.T) {
	for _, mode := range []string{"fresh", "warm", "session"} {
		t.Run(mode, func(t *testing.T) {
			callers, calls := 16, 40
			if mode == "fresh" {
				calls = 10 // each call costs a clone's first request (~20 ms)
			}
			if testing.Short() {
				callers, calls = 8, 5
			}
			var finished atomic.Int64
			run, stats := modeRunner(t, mode, pool.Options{Size: 2, MaxQueue: callers, MaxCalls: 25,
				OnEvent: func(e pool.Event) {
					if e.Type == pool.CallFinished {
						finished.Add(1)
					}
				}})
			var answered, failed atomic.Int64
			var wg sync.WaitGroup
			for c := range callers {
				wg.Go(func() {
					for i := range calls {
						id := c*1000 + i
						r := eval(fmt.Sprint(id))
						switch i % 10 {
						case 3:
							r = exec("raise KeyError(1)")
						case 7:
							if i%20 == 7 {
								r = exec("import os\nos.abort()")
							}
						}
						cctx, cancel := context.WithTimeout(ctx, hang)
						if i%10 == 5 {
							cancel() // a caller that gives up at once
						}
						res, err := run(fmt.Sprint(c%2)).Run(cctx, r)
						cancel()
						answered.Add(1)
						switch {
						case err == nil:
							require.JSONEq(t, fmt.Sprint(id), string(res.Value))
						case i%10 == 3:
							var pe *runtime.PythonError
							if !errors.As(err, &pe) {
								require.ErrorIs(t, err, pool.ErrSessionLost)
							}
							failed.Add(1)
						default:
							// Crashes, cancellations, and in ModeSession the
							// sessions lost to them.
							require.NotEqual(t, runtime.KindOther, runtime.KindOf(err), "%v", err)
							require.True(t, i%10 == 5 || i%10 == 7 || errors.Is(err, pool.ErrSessionLost), "%d: %v", i, err)
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			total := int64(callers * calls)
			require.Equal(t, total, answered.Load())
			require.Equal(t, total, finished.Load())
			st := stats()
			require.EqualValues(t, total, st.Calls)
			var errs uint64
			for _, n := range st.Errors {
				errs += n
			}
			require.EqualValues(t, failed.Load(), errs)
			require.Zero(t, st.Queued)
		})
	}
}

func TestStatsAndEvents(t *testing.T) {
	var mu sync.Mutex
	counts := map[pool.EventType]int{}
	var pp atomic.Pointer[pool.Pool]
	p := newPool(t, pool.Options{Size: 1, Mode: pool.ModeWarm, MaxCalls: 2,
		OnEvent: func(e pool.Event) {
			if p := pp.Load(); p != nil {
				p.Stats() // would deadlock if the hook ran with the pool's lock held
			}
			require.False(t, e.Time.IsZero())
			mu.Lock()
			counts[e.Type]++
			mu.Unlock()
		}})
	pp.Store(p)
	g := testrt.NewGate()
	held := g.Hold(t, runner(p), "")
	queuedErr := make(chan error, 1)
	go func() { _, err := p.Run(ctx, exec("raise ValueError")); queuedErr <- err }()
	waitFor(t, "queued", queued(p, 1))
	st := p.Stats()
	require.Equal(t, 1, st.Busy)
	require.Equal(t, 1, st.Queued)
	g.Open()
	require.NoError(t, <-held)
	require.Error(t, <-queuedErr)
	waitFor(t, "replacement ready", func() bool { return p.Stats().Idle == 1 })

	st = p.Stats()
	require.Equal(t, pool.ModeWarm, st.Mode)
	require.EqualValues(t, 2, st.Calls)
	require.EqualValues(t, 1, st.Errors[runtime.KindPython])
	require.EqualValues(t, 1, st.Recycles[pool.RecycleCalls])
	require.EqualValues(t, 2, st.Exec.Count)
	require.EqualValues(t, 2, st.QueueWait.Count)
	require.Positive(t, st.QueueWait.Quantile(1))
	require.GreaterOrEqual(t, st.QueueWait.Quantile(1), st.QueueWait.Quantile(0.5))
	require.Len(t, st.Exec.Counts, len(st.Exec.Bounds)+1)

	// Events are emitted after the state they report changed.
	waitFor(t, "replacement reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return counts[pool.WorkerReady] == 2
	})
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 2, counts[pool.WorkerStarting])
	require.Equal(t, 1, counts[pool.WorkerRecycled])
	require.Equal(t, 1, counts[pool.CallQueued])
	require.Equal(t, 2, counts[pool.CallStarted])
	require.Equal(t, 2, counts[pool.CallFinished])
}
