package testrt

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
)

// Gate is a host tool that holds the guest until the test opens it (or the
// call's context ends), so that a test waits on events, not on time: Hold
// returns once the call is inside the gate, and the call goes on at Open.
// A gate opened before the call only signals: the guest passes through and
// runs the rest of its code, which the test knows has started.
type Gate struct {
	// Deaf makes the gate ignore the call's context: the call stays held
	// past its deadline and cancellation, until Open.
	Deaf bool

	entered chan struct{}
	open    chan struct{}
}

// NewGate returns a closed gate.
func NewGate() *Gate { return &Gate{entered: make(chan struct{}, 100), open: make(chan struct{})} }

// Open lets every held call and every later one through. Call it once.
func (g *Gate) Open() { close(g.open) }

// Req returns an exec of code that first passes through the gate.
func (g *Gate) Req(code string) runtime.Request {
	return runtime.Request{Op: runtime.OpExec, Code: "import snakepit\nsnakepit.call('gate')\n" + code,
		Host: map[string]runtime.HostFunc{"gate": func(ctx context.Context, _ json.RawMessage) (any, error) {
			g.entered <- struct{}{}
			done := ctx.Done()
			if g.Deaf {
				done = nil
			}
			select {
			case <-g.open:
				return nil, nil
			case <-done:
				return nil, ctx.Err()
			}
		}}}
}

// Hold runs g.Req(code) with run in the background and returns once the
// guest is inside the gate; the returned channel yields the call's error.
// It fails the test if the call has not reached the gate within 30 s, a
// bound only a bug reaches.
func (g *Gate) Hold(t testing.TB, run func(runtime.Request) error, code string) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- run(g.Req(code)) }()
	select {
	case <-g.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("gated call never started")
	}
	return done
}
