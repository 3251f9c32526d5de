package pool_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// A fresh-mode pool runs each call on a clean clone of an interpreter that
// ran Setup once.
func Example() {
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close(ctx)

	p, err := pool.New(ctx, rt, pool.Options{Size: 2, Setup: "def double(x):\n    return 2 * x\n"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)

	res, err := p.Run(ctx, runtime.CallJSON("double", json.RawMessage(`[21]`)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(res.Value))

	// Nothing a call leaves behind is seen by the next one.
	p.Run(ctx, runtime.Exec("leftover = 1"))
	res, _ = p.Run(ctx, runtime.Eval("'leftover' in globals()"))
	fmt.Println(string(res.Value))
	// Output:
	// 42
	// false
}

// A call past its deadline is stopped, and its worker replaced.
func Example_deadline() {
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close(ctx)
	p, err := pool.New(ctx, rt, pool.Options{Size: 1, MaxCallTime: 100 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)

	// Interrupted at the deadline (KeyboardInterrupt), the call unwinds
	// and the worker serves on.
	_, err = p.Run(ctx, runtime.Exec("while True:\n    pass"))
	fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.Is(err, runtime.ErrInterrupted), runtime.KindOf(err))
	// Code that swallows the interrupt is stopped hard after
	// MaxInterruptGrace, and its worker replaced.
	_, err = p.Run(ctx, runtime.Exec("while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass"))
	fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.Is(err, runtime.ErrInterrupted))
	fmt.Println(p.Stats().Recycles[pool.RecycleStopped])
	// Output:
	// true true deadline
	// true false
	// 1
}

// The calls of one session share an interpreter and its state.
func ExampleSessions() {
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close(ctx)
	ss, err := pool.NewSessions(ctx, rt, pool.Options{Size: 2, MaxSessionIdle: time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ss.Close(ctx)

	alice := ss.Session("alice")
	for _, code := range []string{"history = []", "history.append('a')", "history.append('b')"} {
		if _, err := alice.Run(ctx, runtime.Exec(code)); err != nil {
			fmt.Println(err)
			return
		}
	}
	res, _ := alice.Run(ctx, runtime.Eval("history"))
	fmt.Println(string(res.Value))
	res, _ = ss.Session("bob").Run(ctx, runtime.Eval("'history' in globals()"))
	fmt.Println(string(res.Value))

	alice.End()
	res, _ = alice.Run(ctx, runtime.Eval("'history' in globals()"))
	fmt.Println(string(res.Value))
	// Output:
	// ["a","b"]
	// false
	// false
}

// OnEvent sees each lifecycle step, for wiring to metrics.
func ExampleOptions_onEvent() {
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close(ctx)
	calls := make(chan pool.Event, 10)
	p, err := pool.New(ctx, rt, pool.Options{Mode: pool.ModeWarm, Size: 1, OnEvent: func(e pool.Event) {
		if e.Type == pool.CallFinished {
			calls <- e // e.g. a Prometheus histogram's Observe(e.Duration.Seconds())
		}
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)

	p.Run(ctx, runtime.Eval("1 / 0"))
	e := <-calls
	fmt.Println(e.Type, e.Kind, e.Err)
	// Output:
	// call_finished python python: ZeroDivisionError: division by zero
}

// Many more sessions than workers: two calls run at once, and up to 100
// sessions live, parked between their calls with their state, while their
// interpreters own less than 256 MiB together.
func ExampleOptions_maxSessions() {
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close(ctx)
	p, err := pool.NewSessions(ctx, rt, pool.Options{Size: 2,
		MaxSessions: 100, MaxSessionMemory: 256 << 20})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)

	for k := range 10 {
		code := fmt.Sprintf("user = %d", k)
		if _, err := p.Session(fmt.Sprint("user-", k)).Run(ctx, runtime.Exec(code)); err != nil {
			fmt.Println(err)
			return
		}
	}
	res, _ := p.Session("user-7").Run(ctx, runtime.Eval("user"))
	st := p.Stats()
	fmt.Println(string(res.Value), st.Sessions, st.Parked)
	// Output:
	// 7 10 10
}

// With a Store, sessions past the caps are not refused: the least recently
// used idle ones are spilled to it (here, a directory) and resume, with
// their state, on their next call.
func ExampleOptions_store() {
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close(ctx)
	dir, err := os.MkdirTemp("", "sessions")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	store, err := pool.NewDirStore(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := pool.NewSessions(ctx, rt, pool.Options{Size: 1, MaxSessions: 2, Store: store})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)

	for k := range 5 {
		code := fmt.Sprintf("user = %d", k)
		if _, err := p.Session(fmt.Sprint("user-", k)).Run(ctx, runtime.Exec(code)); err != nil {
			fmt.Println(err)
			return
		}
	}
	st := p.Stats()
	fmt.Println(st.Sessions, st.Spilled)
	res, err := p.Session("user-0").Run(ctx, runtime.Eval("user"))
	if err != nil {
		fmt.Println(err)
		return
	}
	st = p.Stats()
	fmt.Println(string(res.Value), st.Sessions, st.Spilled, st.Resumed)
	// Output:
	// 2 3
	// 0 2 4 1
}
