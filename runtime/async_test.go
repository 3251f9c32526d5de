package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// inflight counts the tools running at once and the most seen.
type inflight struct {
	mu       sync.Mutex
	now, max int
}

func (f *inflight) enter() {
	f.mu.Lock()
	f.now++
	f.max = max(f.max, f.now)
	f.mu.Unlock()
}

func (f *inflight) exit() {
	f.mu.Lock()
	f.now--
	f.mu.Unlock()
}

func echoArg(args json.RawMessage) any {
	var a []any
	_ = json.Unmarshal(args, &a)
	return a[0]
}

// Tools awaited together with asyncio.gather run at once: each waits until
// all eight have started.
func TestAsyncHostCallsRunConcurrently(t *testing.T) {
	const n = 8
	var f inflight
	var started sync.WaitGroup
	started.Add(n)
	all := make(chan struct{})
	go func() { started.Wait(); close(all) }()
	i := newInstance(t, runtime.Options{
		Limits: runtime.Limits{MaxAsyncHostCalls: n},
		Host: map[string]runtime.HostFunc{
			"rendezvous": func(ctx context.Context, args json.RawMessage) (any, error) {
				f.enter()
				defer f.exit()
				started.Done()
				select {
				case <-all:
					return echoArg(args), nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			},
		},
	})
	c, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r, err := i.Run(c, runtime.Exec(`
import asyncio, snakepit
async def main():
    return await asyncio.gather(*(snakepit.acall("rendezvous", k) for k in range(8)))
asyncio.run(main())
`))

	require.NoError(t, err)
	require.JSONEq(t, `[0,1,2,3,4,5,6,7]`, string(r.Value))
	require.Equal(t, n, f.max)
}

// Past MaxAsyncHostCalls, acall waits for a slot; every call gets its answer.
func TestAsyncHostCallsCapped(t *testing.T) {
	var f inflight
	i := newInstance(t, runtime.Options{
		Limits: runtime.Limits{MaxAsyncHostCalls: 3},
		Host: map[string]runtime.HostFunc{
			"slow": func(ctx context.Context, args json.RawMessage) (any, error) {
				f.enter()
				defer f.exit()
				time.Sleep(2 * time.Millisecond)
				return echoArg(args), nil
			},
		},
	})
	r, err := i.Run(ctx, runtime.Exec(`
import asyncio, snakepit
async def main():
    return await asyncio.gather(*(snakepit.acall("slow", k) for k in range(20)))
asyncio.run(main())
`))

	require.NoError(t, err)
	require.JSONEq(t, `[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19]`, string(r.Value))
	require.Equal(t, 3, f.max)

	// The default is one at a time.
	f = inflight{}
	i = newInstance(t, runtime.Options{Host: i2host(&f)})
	_, err = i.Run(ctx, runtime.Exec("import asyncio, snakepit\nasync def main():\n    return await asyncio.gather(*(snakepit.acall('slow', k) for k in range(5)))\nasyncio.run(main())"))
	require.NoError(t, err)
	require.Equal(t, 1, f.max)
}

func i2host(f *inflight) map[string]runtime.HostFunc {
	return map[string]runtime.HostFunc{"slow": func(ctx context.Context, args json.RawMessage) (any, error) {
		f.enter()
		defer f.exit()
		time.Sleep(time.Millisecond)
		return echoArg(args), nil
	}}
}

func TestAsyncHostCallErrors(t *testing.T) {
	i := newInstance(t, runtime.Options{
		Limits: runtime.Limits{MaxHostCalls: 4, MaxAsyncHostCalls: 4},
		Host: map[string]runtime.HostFunc{
			"fails":  func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("no stock") },
			"panics": func(context.Context, json.RawMessage) (any, error) { panic("tool bug") },
			"ok":     func(_ context.Context, args json.RawMessage) (any, error) { return echoArg(args), nil },
		},
	})
	r, err := i.Run(ctx, runtime.Exec(`
import asyncio, snakepit
async def one(name, *args):
    try:
        return await snakepit.acall(name, *args)
    except RuntimeError as e:
        return str(e)
async def main():
    return await asyncio.gather(one("fails", 1), one("panics", 1), one("nope", 1), one("ok", "x"), one("ok", "limit"))
asyncio.run(main())
`))

	require.NoError(t, err)
	require.JSONEq(t, `["no stock", "snakepit: host function \"panics\" panicked: tool bug", "snakepit: no host function \"nope\"", "x",
		"host call limit reached (4 per call)"]`, string(r.Value))

	// Outside snakepit's loop, and with both kinds of arguments.
	r, err = i.Run(ctx, runtime.Exec(`
import asyncio, snakepit
errors = []
class Other(asyncio.BaseEventLoop): pass
try:
    asyncio.new_event_loop().run_until_complete(snakepit.acall("ok", 1, x=2))
except TypeError as e:
    errors.append("TypeError")
[type(asyncio.new_event_loop()).__name__, errors]
`))

	require.NoError(t, err)
	require.JSONEq(t, `["HostLoop", ["TypeError"]]`, string(r.Value))
}

// No tool outlives its call: one still running when the call returns
// has seen its context canceled, and has returned, by then.
func TestAsyncHostCallsEndWithTheCall(t *testing.T) {
	var ended atomic.Int32
	block := func(ctx context.Context, _ json.RawMessage) (any, error) {
		defer ended.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxAsyncHostCalls: 2}, Host: map[string]runtime.HostFunc{"block": block}})
	for _, src := range []string{
		// asyncio.run cancels the task it did not wait for.
		"import asyncio, snakepit\nasync def main():\n    asyncio.ensure_future(snakepit.acall('block'))\n    await asyncio.sleep(0.01)\nasyncio.run(main())",
		// Nobody cancels: the call's end does.
		"import asyncio, snakepit\nasync def main():\n    asyncio.ensure_future(snakepit.acall('block'))\n    await asyncio.sleep(0.01)\nasyncio.new_event_loop().run_until_complete(main())",
	} {
		before := ended.Load()
		_, err := i.Run(ctx, runtime.Exec(src))
		require.NoError(t, err)
		require.Equal(t, before+1, ended.Load())
	}

	// A wait for a tool that never answers ends at the deadline.
	c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := i.Run(c, runtime.Exec("import asyncio, snakepit\nasyncio.run(snakepit.acall('block'))"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 10*time.Second)
	require.Equal(t, int32(3), ended.Load())
}

func TestAsyncioRunsWithoutHostCalls(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	r, err := i.Run(ctx, runtime.Exec(`
import asyncio, time
async def tick(k):
    await asyncio.sleep(0.01 * k)
    return k
async def main():
    q = asyncio.Queue()
    await q.put(1)
    return [await q.get()] + await asyncio.gather(tick(2), tick(1))
t = time.monotonic()
[asyncio.run(main()), time.monotonic() - t < 5]
`))

	require.NoError(t, err)
	require.JSONEq(t, `[[1, 2, 1], true]`, string(r.Value))
}

func TestReservedHostNames(t *testing.T) {
	ok := func(context.Context, json.RawMessage) (any, error) { return 1, nil }
	_, err := rt(t).NewInstance(ctx, runtime.Options{Host: map[string]runtime.HostFunc{"snakepit.start": ok}})
	require.ErrorIs(t, err, runtime.ErrBadOptions)
	require.ErrorContains(t, err, "reserved")
	i := newInstance(t, runtime.Options{})
	_, err = i.Run(ctx, runtime.Request{Op: runtime.OpExec, Code: "1", Host: map[string]runtime.HostFunc{"snakepit.x": ok}})
	require.ErrorIs(t, err, runtime.ErrBadRequest)
	r, err := i.Run(ctx, runtime.Exec(`
import snakepit
try:
    snakepit.call("snakepit.nothing")
except RuntimeError as e:
    r = str(e)
r`))

	require.NoError(t, err)
	require.JSONEq(t, `"snakepit: no host function \"snakepit.nothing\""`, string(r.Value))
}

// The control operations refuse what a hostile guest sends them, with an
// error in Python; the instance serves on.
func TestAsyncControlOperationsRefuseGarbage(t *testing.T) {
	ok := func(_ context.Context, args json.RawMessage) (any, error) { return echoArg(args), nil }
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxAsyncHostCalls: 2}, Host: map[string]runtime.HostFunc{"ok": ok}})
	r, err := i.Run(ctx, runtime.Exec(`
import _snakepit
out = []
for name, arg in [
    ("snakepit.start", b"not json"), ("snakepit.start", b"[1, 2]"), ("snakepit.start", b'["ok"]'),
    ("snakepit.start", b'["ok", 3]'), ("snakepit.start", b'["ok", [1]] x'),
    ("snakepit.wait", b'"soon"'), ("snakepit.wait", b"1e999"),
    ("snakepit.cancel", b'"all"'), ("snakepit.cancel", b"[99, -1]"), ("snakepit.nope", b"[]"),
]:
    try:
        out.append(_snakepit.call(name, arg).decode())
    except RuntimeError as e:
        out.append("error")
# Starts past the slots answer null; a wait with nothing started times out.
h = [_snakepit.call("snakepit.start", b'["ok", [%d]]' % k).decode() for k in range(3)]
done = _snakepit.call("snakepit.wait", b"5").decode()
out + h + [done, _snakepit.call("snakepit.wait", b"0").decode(), _snakepit.call("snakepit.wait", b"0.01").decode()]
`))

	require.NoError(t, err)
	var got []string
	require.NoError(t, json.Unmarshal(r.Value, &got))
	require.Equal(t, []string{"error", "error", "error", "error", "error", "error", "error", "error", "null", "error", "1", "2", "null"}, got[:13])
	// Both finished tools come back in one or two waits, then nothing.
	var answers []any
	for _, s := range got[13:] {
		var a []any
		require.NoError(t, json.Unmarshal([]byte(s), &a))
		answers = append(answers, a...)
	}
	require.ElementsMatch(t, []any{[]any{1.0, true, 0.0}, []any{2.0, true, 1.0}}, answers)
	r, err = i.Run(ctx, runtime.Eval("6 * 7"))
	require.NoError(t, err)
	require.JSONEq(t, "42", string(r.Value))
}
