// Package life is the one shape of a closable object's lifetime in this
// module (a Runtime, an Instance, a Snapshot, a Pool): a context that Close
// cancels with a cause, children of it cancelled with it, and a count of the
// operations in flight that Close waits for before it releases what they
// use.
//
// Entering and leaving cost one atomic operation each, with no lock: every
// call into a guest enters its Runtime's and its Instance's lifetimes.
package life

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// closedBit marks a lifetime that Close has begun; the bits below it count
// the operations in flight.
const closedBit = 1 << 62

// Life is an object's lifetime. Create it with New.
type Life struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	state  atomic.Int64
	idle   chan struct{} // closed when Close has begun and nothing is in flight
	once   sync.Once
}

// New returns a lifetime that ends when Close is called or parent ends.
// Ending parent cancels the context but does not close the Life: its owner
// still decides when to release.
func New(parent context.Context) *Life {
	ctx, cancel := context.WithCancelCause(parent)
	return &Life{ctx: ctx, cancel: cancel, idle: make(chan struct{})}
}

// Context is cancelled, with the cause given to Close, when Close begins.
func (l *Life) Context() context.Context { return l.ctx }

// Done is Context().Done().
func (l *Life) Done() <-chan struct{} { return l.ctx.Done() }

// Err is the cause the lifetime ended with, or nil while it lasts.
func (l *Life) Err() error {
	if l.ctx.Err() == nil {
		return nil
	}
	return context.Cause(l.ctx)
}

// Enter registers an operation that Close must wait for; false once Close
// has begun. Each true is paired with one Exit.
func (l *Life) Enter() bool {
	for {
		s := l.state.Load()
		if s&closedBit != 0 {
			return false
		}
		if l.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// Exit ends an operation that Enter registered.
func (l *Life) Exit() {
	if l.state.Add(-1) == closedBit {
		l.once.Do(func() { close(l.idle) })
	}
}

// Close begins the end: later Enters fail and the context is cancelled with
// cause. It reports whether this was the first Close.
func (l *Life) Close(cause error) bool {
	for {
		s := l.state.Load()
		if s&closedBit != 0 {
			return false
		}
		if l.state.CompareAndSwap(s, s|closedBit) {
			l.cancel(cause)
			if s == 0 {
				l.once.Do(func() { close(l.idle) })
			}
			return true
		}
	}
}

// Closed reports whether Close has begun.
func (l *Life) Closed() bool { return l.state.Load()&closedBit != 0 }

// End closes l with cause and, once nothing is in flight, calls release and
// returns its error. If ctx ends first, End returns an error wrapping ctx's,
// and release runs when the last operation exits. Only the first End (or
// Close) does anything; later ones return nil.
func (l *Life) End(ctx context.Context, cause error, release func(context.Context) error) error {
	if !l.Close(cause) {
		return nil
	}
	if err := l.Wait(ctx); err != nil {
		go func() {
			<-l.idle
			release(context.Background())
		}()
		return fmt.Errorf("%w (released once what is in flight ends)", err)
	}
	return release(ctx)
}

// Wait waits until Close has begun and nothing is in flight, or for ctx to end, whichever comes first, and returns
// ctx's error in the second case.
func (l *Life) Wait(ctx context.Context) error {
	select {
	case <-l.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
