// Command sessions keeps Python state per key with a pool of sessions: each
// key's calls run on its own interpreter, isolated from the other keys',
// until Session.End or MaxSessionIdle of idleness ends it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	p, err := pool.NewSessions(ctx, rt, pool.Options{
		// Two calls run at once. Sessions are parked between calls, so a
		// pool serves more sessions than that: MaxSessions (by default as
		// many as MaxSessionMemory holds) says how many may live; two here.
		Size:           2,
		MaxSessions:    2,
		MaxSessionIdle: 300 * time.Millisecond, // minutes in a real service
	})
	if err != nil {
		return err
	}
	defer p.Close(ctx)

	say := func(key, code string) {
		res, err := p.Session(key).Run(ctx, runtime.Exec(code))
		var pe *runtime.PythonError
		switch {
		case errors.As(err, &pe):
			fmt.Fprintf(out, "%-5s %s\n", key, pe.Type+": "+pe.Message)
		case errors.Is(err, pool.ErrTooManySessions):
			fmt.Fprintf(out, "%-5s refused: MaxSessions sessions are alive\n", key)
		case err != nil:
			fmt.Fprintf(out, "%-5s %v\n", key, err)
		default:
			fmt.Fprintf(out, "%-5s %s\n", key, res.Value)
		}
	}

	// State is kept per key, and each key sees only its own.
	say("alice", "notes = ['buy milk']; len(notes)")
	say("bob", "notes = ['fix bike']; len(notes)")
	say("alice", "notes.append('call bob'); notes")
	say("bob", "notes")

	// A third key waits for no one: it is refused at once.
	say("carol", "notes = []")

	// Ending a session closes its interpreter: carol's is a new one, with
	// nothing of bob's.
	p.Session("bob").End()
	say("carol", "'notes' in globals()")

	// An idle session expires after MaxSessionIdle, and its state with it.
	for p.Stats().Sessions > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	say("alice", "notes")
	return nil
}
