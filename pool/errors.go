package pool

import (
	"context"
	"errors"
	"fmt"

	"github.com/snakepit-wasm/snakepit/internal/errkind"
	"github.com/snakepit-wasm/snakepit/runtime"
)

var (
	// ErrSaturated means the wait queue was full (or Options.FailFast found
	// no free worker): the call was refused at once. Kind saturated.
	ErrSaturated = errkind.New(errkind.Saturated, "saturated")
	// ErrQueueTimeout means no worker became free within MaxQueueWait. It
	// wraps context.DeadlineExceeded. Kind queue_timeout.
	ErrQueueTimeout = errkind.Wrap(errkind.QueueTimeout, "queue timeout", context.DeadlineExceeded)
	// ErrWorkerCrashed means the call broke its worker (a trap or an ABI
	// violation); the error also wraps the runtime's error (runtime.ErrTrap,
	// runtime.ErrMalformed). The worker was replaced. Kind crash.
	ErrWorkerCrashed = errkind.New(errkind.Crash, "worker crashed")
	// ErrSessionLost means the session's worker died or was recycled, so the
	// state the session had built is gone: wrapped by the error of the call
	// that broke it (whose kind is then why: deadline, memory_limit,
	// crash), and returned to the next call when no call was told (a
	// recycling limit, MaxSessionIdle). The key's next call starts a new
	// session. Kind session_lost.
	ErrSessionLost = errkind.New(errkind.SessionLost, "session state lost")
	// ErrTooManySessions means MaxSessions sessions are alive, or their
	// memory reached MaxSessionMemory; a new key is refused until one
	// expires or is ended. With a Store it means that no idle session could
	// be spilled to make room (none is idle, or the Store failed).
	// Kind too_many_sessions.
	ErrTooManySessions = errkind.New(errkind.TooManySessions, "too many sessions")
	// ErrNoSession means Session.Files was called for a key that has no
	// live session. Kind no_session.
	ErrNoSession = errkind.New(errkind.NoSession, "no such session")
)

// A closed pool's calls fail with runtime.ErrClosed, the one runtime.ErrClosed of
// the module.

// crashError wraps both ErrWorkerCrashed and the runtime's reason.
type crashError struct{ cause error }

func (e *crashError) Error() string   { return ErrWorkerCrashed.Error() + ": " + e.cause.Error() }
func (e *crashError) Unwrap() []error { return []error{ErrWorkerCrashed, e.cause} }

// lostError is the error of the call that broke its session's worker: the
// reason first, which gives its kind, and ErrSessionLost.
type lostError struct{ cause error }

func (e *lostError) Error() string   { return e.cause.Error() + " (" + ErrSessionLost.Error() + ")" }
func (e *lostError) Unwrap() []error { return []error{e.cause, ErrSessionLost} }

// brokenReason says why a broken instance is recycled and what the caller
// gets. ctxErr is the call context's error and closing whether the pool's
// Close stopped the call.
func brokenReason(err, ctxErr error, closing bool) (RecycleReason, error) {
	switch {
	case closing:
		return RecycleStopped, fmt.Errorf("%w: %w", runtime.ErrClosed, err)
	case ctxErr != nil && errors.Is(err, ctxErr):
		return RecycleStopped, err
	case errors.Is(err, runtime.ErrMemoryLimit):
		return RecycleMemoryLimit, err
	}
	return RecycleCrash, &crashError{err}
}

// closedErr marks err with runtime.ErrClosed too when Close is what ended ctx.
func closedErr(ctx context.Context, err error) error {
	if context.Cause(ctx) == runtime.ErrClosed {
		return fmt.Errorf("%w: %w", runtime.ErrClosed, err)
	}
	return err
}
