package pool_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	goruntime "runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func sessionRunner(p *pool.Sessions, key string) func(runtime.Request) error {
	return func(r runtime.Request) error { _, err := p.Session(key).Run(ctx, r); return err }
}

func evalSession(t *testing.T, p *pool.Sessions, key, expr string) string {
	t.Helper()
	res, err := p.Session(key).Run(ctx, eval(expr))
	require.NoError(t, err)
	return string(res.Value)
}

func TestSessionAffinity(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 2, Setup: "BASE = 1"})
	var wg sync.WaitGroup
	for _, key := range []string{"a", "b"} {
		wg.Go(func() {
			_, err := p.Session(key).Run(ctx, exec(fmt.Sprintf("me = %q\nn = 0", key)))
			require.NoError(t, err)
			for i := 1; i <= 10; i++ {
				require.JSONEq(t, fmt.Sprintf("[%q, %d, 1]", key, i), evalSession(t, p, key, "(me, (n := n + 1), BASE)"))
			}
		})
	}
	wg.Wait()
	require.Equal(t, 2, p.Stats().Sessions)
}

func TestSessionBusyCallWaits(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 2})
	g := testrt.NewGate()
	held := g.Hold(t, sessionRunner(p, "a"), "x = 'set while gated'")
	done := make(chan string, 1)
	go func() { done <- evalSession(t, p, "a", "x") }()
	waitFor(t, "queued behind its session", queued(p, 1))
	// Another key is not held up by a's busy worker.
	require.JSONEq(t, "2", evalSession(t, p, "b", "1 + 1"))
	g.Open()
	require.NoError(t, <-held)
	require.JSONEq(t, `"set while gated"`, <-done)
}

func TestSessionExpiry(t *testing.T) {
	var mu sync.Mutex
	var ended []pool.RecycleReason
	p := newSessions(t, pool.Options{Size: 1, MaxSessionIdle: 200 * time.Millisecond,
		OnEvent: func(e pool.Event) {
			if e.Type == pool.SessionEnded {
				mu.Lock()
				ended = append(ended, e.Reason)
				mu.Unlock()
			}
		}})
	_, err := p.Session("a").Run(ctx, exec("x = 1"))
	require.NoError(t, err)
	require.Equal(t, 1, p.Stats().Sessions)
	waitFor(t, "session expired", func() bool { return p.Stats().Sessions == 0 })
	// The key starts over on a new worker, without an error.
	require.JSONEq(t, "false", evalSession(t, p, "a", "'x' in globals()"))
	st := p.Stats()
	require.EqualValues(t, 1, st.Recycles[pool.RecycleSessionExpired])
	mu.Lock()
	require.Equal(t, []pool.RecycleReason{pool.RecycleSessionExpired}, ended)
	mu.Unlock()
}

func TestSessionLost(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 2, Instance: runtime.Options{Limits: runtime.Limits{MaxMemory: 64 << 20}}})
	_, err := p.Session("a").Run(ctx, exec("x = 1"))
	require.NoError(t, err)
	_, err = p.Session("b").Run(ctx, exec("y = 1"))
	require.NoError(t, err)
	// The call that breaks the session says both why and that the state
	// is gone; its kind is why. The next call starts over. (Filling the
	// memory breaks it; a MemoryError that leaves room does not: see
	// TestSessionKeepsStateAtTheMemoryCap.)
	_, err = p.Session("a").Run(ctx, exec(testrt.FillMemory))
	require.ErrorIs(t, err, runtime.ErrMemoryLimit)
	require.ErrorIs(t, err, pool.ErrSessionLost)
	require.Equal(t, runtime.KindMemoryLimit, runtime.KindOf(err))
	require.JSONEq(t, "false", evalSession(t, p, "a", "'x' in globals()"))

	_, err = p.Session("a").Run(ctx, exec("x = 2"))
	require.NoError(t, err)
	c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	// A loop past its deadline is interrupted and the session keeps its
	// state; one that will not unwind is stopped hard and the state goes.
	_, err = p.Session("a").Run(c, exec("while True: pass"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, runtime.ErrInterrupted)
	require.NotErrorIs(t, err, pool.ErrSessionLost)
	require.JSONEq(t, "2", evalSession(t, p, "a", "x"))
	c, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = p.Session("a").Run(c, exec("while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, pool.ErrSessionLost)
	require.Equal(t, runtime.KindDeadline, runtime.KindOf(err))
	require.JSONEq(t, "false", evalSession(t, p, "a", "'x' in globals()"))
	// The other session kept its worker and state.
	require.JSONEq(t, "1", evalSession(t, p, "b", "y"))
}

// A call that hits the memory cap where CPython raises MemoryError fails
// with the memory kind, and the session keeps its state and its worker.
func TestSessionKeepsStateAtTheMemoryCap(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 1})
	_, err := p.Session("a").Run(ctx, exec("x = 1"))
	require.NoError(t, err)
	for src, kind := range map[string]runtime.ErrorKind{
		"b = [0] * 10**8":            runtime.KindMemoryLimit, // 400 MB past the 256 MiB default cap
		"b = bytearray(300 * 2**20)": runtime.KindMemoryLimit,
		"b = [0] * 10**9":            runtime.KindPython, // more than wasm32 addresses: refused before the cap
	} {
		_, err = p.Session("a").Run(ctx, exec(src))
		var pe *runtime.PythonError
		require.ErrorAs(t, err, &pe, src)
		require.Equal(t, "MemoryError", pe.Type, src)
		require.Equal(t, kind, runtime.KindOf(err), src)
		require.NotErrorIs(t, err, pool.ErrSessionLost, src)
		require.JSONEq(t, "[1, false]", evalSession(t, p, "a", "(x, 'b' in globals())"), src)
	}
	st := p.Stats()
	require.Empty(t, st.Recycles)
	require.EqualValues(t, 2, st.Errors[runtime.KindMemoryLimit])
}

func TestSessionLostToRecyclingLimit(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 1, MaxCalls: 2})
	_, err := p.Session("a").Run(ctx, exec("x = 1"))
	require.NoError(t, err)
	require.JSONEq(t, "1", evalSession(t, p, "a", "x"))
	_, err = p.Session("a").Run(ctx, eval("x"))
	require.ErrorIs(t, err, pool.ErrSessionLost)
	require.JSONEq(t, "false", evalSession(t, p, "a", "'x' in globals()"))
	require.EqualValues(t, 1, p.Stats().Recycles[pool.RecycleCalls])
}

// Callers waiting for a session whose worker crashes learn it at once.
func TestSessionLostTellsWaiters(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 1})
	_, err := p.Session("a").Run(ctx, exec("x = 1"))
	require.NoError(t, err)
	g := testrt.NewGate()
	held := g.Hold(t, sessionRunner(p, "a"), "import os\nos.abort()")
	var waiting []chan error
	for i := range 2 {
		c := make(chan error, 1)
		go func() { _, err := p.Session("a").Run(ctx, eval("x")); c <- err }()
		waiting = append(waiting, c)
		waitFor(t, "queued", queued(p, i+1))
	}
	g.Open()
	err = <-held
	require.ErrorIs(t, err, pool.ErrWorkerCrashed)
	require.ErrorIs(t, err, pool.ErrSessionLost)
	for _, c := range waiting {
		require.ErrorIs(t, <-c, pool.ErrSessionLost)
	}
	// Told already: the key's next call starts a new session.
	require.JSONEq(t, "false", evalSession(t, p, "a", "'x' in globals()"))
}

func TestTooManySessionsAndEndSession(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 2, MaxSessions: 1})
	_, err := p.Session("a").Run(ctx, exec("x = 1"))
	require.NoError(t, err)
	_, err = p.Session("b").Run(ctx, exec("pass"))
	require.ErrorIs(t, err, pool.ErrTooManySessions)
	require.Equal(t, runtime.KindTooManySessions, runtime.KindOf(err))

	require.True(t, p.Session("a").End())
	require.False(t, p.Session("a").End())
	_, err = p.Session("b").Run(ctx, exec("pass"))
	require.NoError(t, err)
	require.True(t, p.Session("b").End())
	// A new session for an old key has none of the old state.
	require.JSONEq(t, "false", evalSession(t, p, "a", "'x' in globals()"))
	require.EqualValues(t, 2, p.Stats().Recycles[pool.RecycleSessionEnded])
}

// A new session waits for a worker that no session holds.
func TestNewSessionWaitsForWorker(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 1})
	_, err := p.Session("a").Run(ctx, exec("pass"))
	require.NoError(t, err)
	require.True(t, p.Session("a").End()) // its worker is being replaced
	require.JSONEq(t, "3", evalSession(t, p, "b", "1 + 2"))

	// A caller that gives up while its new session waits leaves no session.
	g := testrt.NewGate()
	held := g.Hold(t, sessionRunner(p, "b"), "")
	require.True(t, p.Session("b").End())
	c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = p.Session("c").Run(c, exec("pass"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Zero(t, p.Stats().Sessions)
	g.Open()
	require.NoError(t, <-held)
	require.JSONEq(t, "3", evalSession(t, p, "c", "1 + 2"))
}

// Size bounds the calls running at once, not the sessions alive: idle
// sessions are parked with their state and run again on their next call.
func TestManySessionsOnFewWorkers(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	p := newSessions(t, pool.Options{Size: 2, MaxSessions: n, MaxQueue: n})
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for k := c; k < n; k += 8 {
				_, err := p.Session(fmt.Sprint(k)).Run(ctx, exec(fmt.Sprintf("me = %d\nseen = [me]", k)))
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	st := p.Stats()
	require.Equal(t, n, st.Sessions)
	require.Equal(t, n, st.Parked)
	require.Zero(t, st.Busy)
	_, err := p.Session("one too many").Run(ctx, exec("pass"))
	require.ErrorIs(t, err, pool.ErrTooManySessions)

	// Every session again, from many callers at once: each finds its own
	// state, and no more than Size calls ever run at once.
	var running, most atomic.Int32
	track := map[string]runtime.HostFunc{"enter": func(context.Context, json.RawMessage) (any, error) {
		r := running.Add(1)
		for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
		}
		time.Sleep(100 * time.Microsecond)
		running.Add(-1)
		return nil, nil
	}}
	for c := range 16 {
		wg.Go(func() {
			for k := c; k < n; k += 16 {
				req := runtime.Request{Op: runtime.OpExec, Code: "import snakepit\nsnakepit.call('enter')\nseen.append(me)\nseen", Host: track}
				res, err := p.Session(fmt.Sprint(k)).Run(ctx, req)
				require.NoError(t, err)
				require.JSONEq(t, fmt.Sprintf("[%d, %d]", k, k), string(res.Value))
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, most.Load(), int32(2))
	require.Equal(t, n, p.Stats().Sessions)
}

// A session's calls run one at a time in arrival order, and a session with
// many calls queued takes turns with the others instead of keeping a slot.
func TestParkedSessionsTakeTurns(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 1, MaxSessions: 3})
	for _, k := range []string{"a", "b"} {
		_, err := p.Session(k).Run(ctx, exec("log = []"))
		require.NoError(t, err)
	}
	g := testrt.NewGate()
	held := g.Hold(t, sessionRunner(p, "c"), "")
	// Each call notes when it ran by the host's monotonic clock, which all
	// interpreters share: the order the callers' goroutines return in is
	// not the order the calls ran in.
	ran := map[int64]string{}
	var mu sync.Mutex
	done := make(chan struct{}, 6)
	call := func(k string, i int) {
		res, err := p.Session(k).Run(ctx, exec(fmt.Sprintf("log.append(%d)\n__import__('time').monotonic_ns()", i)))
		require.NoError(t, err)
		var at int64
		require.NoError(t, res.Decode(&at))
		mu.Lock()
		ran[at] = fmt.Sprint(k, i)
		mu.Unlock()
		done <- struct{}{}
	}
	// a queues three calls, then b one: b's runs second, not fourth.
	for i := range 3 {
		go call("a", i)
		waitFor(t, "queued", queued(p, i+1))
	}
	go call("b", 0)
	waitFor(t, "queued", queued(p, 4))
	g.Open()
	require.NoError(t, <-held)
	for range 4 {
		<-done
	}
	var order []string
	for _, at := range slices.Sorted(maps.Keys(ran)) {
		order = append(order, ran[at])
	}
	require.Equal(t, []string{"a0", "b0", "a1", "a2"}, order)
	require.JSONEq(t, "[0, 1, 2]", evalSession(t, p, "a", "log"))
}

// MaxSessionMemory refuses new sessions while the live ones' interpreters
// own that much memory together.
func TestMaxSessionMemory(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("private memory is measured on Linux")
	}
	p := newSessions(t, pool.Options{Size: 2, MaxSessions: 10, MaxSessionMemory: 8 << 20})
	_, err := p.Session("small").Run(ctx, exec("x = 1"))
	require.NoError(t, err)
	small := p.Stats().SessionMemory
	require.Positive(t, small)
	require.Less(t, small, uint64(8<<20))
	_, err = p.Session("big").Run(ctx, exec("big = bytearray(b'x' * (16 << 20))"))
	require.NoError(t, err)
	require.Greater(t, p.Stats().SessionMemory, uint64(8<<20))
	_, err = p.Session("new").Run(ctx, exec("pass"))
	require.ErrorIs(t, err, pool.ErrTooManySessions)
	require.Equal(t, runtime.KindTooManySessions, runtime.KindOf(err))
	// Live sessions go on; ending the big one makes room.
	require.JSONEq(t, "1", evalSession(t, p, "small", "x"))
	require.True(t, p.Session("big").End())
	require.Less(t, p.Stats().SessionMemory, uint64(8<<20))
	_, err = p.Session("new").Run(ctx, exec("pass"))
	require.NoError(t, err)
}

func TestSessionEventsCarryTheSessionsWorker(t *testing.T) {
	var mu sync.Mutex
	var evs []pool.Event
	p := newSessions(t, pool.Options{Size: 1, OnEvent: func(e pool.Event) {
		switch e.Type {
		case pool.SessionStarted, pool.SessionEnded, pool.CallStarted:
			mu.Lock()
			evs = append(evs, e)
			mu.Unlock()
		}
	}})
	_, err := p.Session("a").Run(ctx, exec("pass"))
	require.NoError(t, err)
	require.True(t, p.Session("a").End())
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, evs, 3)
	require.Equal(t, []pool.EventType{pool.SessionStarted, pool.CallStarted, pool.SessionEnded},
		[]pool.EventType{evs[0].Type, evs[1].Type, evs[2].Type})
	w := evs[1].Worker
	require.NotZero(t, w)
	for _, e := range evs {
		require.Equal(t, w, e.Worker, e.Type)
		require.Equal(t, "a", e.Session)
	}
}

func TestRunSessionRefusesAnEmptyKey(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 1})
	_, err := p.Session("").Run(ctx, exec("pass"))
	require.ErrorIs(t, err, runtime.ErrBadRequest)
	require.ErrorContains(t, err, "empty session key")
	require.Zero(t, p.Stats().Sessions)
}

// A new key past MaxSessions is refused at once, without waiting.
func TestThirdSessionPastMaxSessionsIsRefusedAtOnce(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 2, MaxSessions: 2})
	for _, k := range []string{"a", "b"} {
		_, err := p.Session(k).Run(ctx, exec("pass"))
		require.NoError(t, err)
	}
	_, err := p.Session("c").Run(ctx, exec("pass"))
	require.ErrorIs(t, err, pool.ErrTooManySessions)
	require.Zero(t, p.Stats().Queued)
}

// By default the live sessions are bounded by memory, not by Size: a pool
// of one worker holds many parked sessions, and MaxSessions follows
// MaxSessionMemory (1 MiB a session).
func TestMaxSessionsFollowsMemoryNotSize(t *testing.T) {
	p := newSessions(t, pool.Options{Size: 1})
	for k := range 6 {
		_, err := p.Session(fmt.Sprint(k)).Run(ctx, exec(fmt.Sprintf("me = %d", k)))
		require.NoError(t, err)
	}
	require.Equal(t, 6, p.Stats().Sessions)
	for k := range 6 {
		require.JSONEq(t, fmt.Sprint(k), evalSession(t, p, fmt.Sprint(k), "me"))
	}

	small := newSessions(t, pool.Options{Size: 1, MaxSessionMemory: 3 << 20})
	var err error
	for k := 0; k < 5 && err == nil; k++ {
		_, err = small.Session(fmt.Sprint(k)).Run(ctx, exec("pass"))
	}
	require.ErrorIs(t, err, pool.ErrTooManySessions)
	require.LessOrEqual(t, small.Stats().Sessions, 3)
}
