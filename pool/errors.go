package pool

import (
	"context"
	"errors"
	"fmt"

	"github.com/snakepit-wasm/snakepit/runtime"
)

var (
	// ErrSaturated means the wait queue was full: the call was refused at
	// once, without waiting.
	ErrSaturated = errors.New("pool: saturated")
	// ErrClosed means the pool was closed before or during the call.
	ErrClosed = errors.New("pool: closed")
	// ErrQueueTimeout means no worker became free within QueueTimeout. It
	// wraps context.DeadlineExceeded.
	ErrQueueTimeout = fmt.Errorf("pool: queue timeout: %w", context.DeadlineExceeded)
	// ErrWorkerCrashed means the call broke its worker (a trap or an ABI
	// violation); the error also wraps the runtime's error (runtime.ErrTrap,
	// abi.ErrMalformed). The worker was replaced.
	ErrWorkerCrashed = errors.New("pool: worker crashed")
	// ErrSessionLost means the session's worker died or was recycled, so the
	// state the session had built is gone. The next call with the same key
	// starts a new session.
	ErrSessionLost = errors.New("pool: session state lost")
	// ErrTooManySessions means MaxSessions sessions are alive; a new key is
	// refused until one expires or is ended.
	ErrTooManySessions = errors.New("pool: too many sessions")
	// ErrWrongMode means Run was called on a ModeSession pool or RunSession
	// on another mode.
	ErrWrongMode = errors.New("pool: call not supported in this mode")
	// ErrNoSession means SessionFiles was given a key that has no live
	// session.
	ErrNoSession = errors.New("pool: no such session")
)

// crashError wraps both ErrWorkerCrashed and the runtime's reason.
type crashError struct{ cause error }

func (e *crashError) Error() string   { return ErrWorkerCrashed.Error() + ": " + e.cause.Error() }
func (e *crashError) Unwrap() []error { return []error{ErrWorkerCrashed, e.cause} }

// ErrorKind names a class of call outcome, for metrics labels.
type ErrorKind string

// The error kinds KindOf returns.
const (
	KindNone            ErrorKind = ""                  // no error
	KindPython          ErrorKind = "python"            // *runtime.PythonError
	KindMemoryLimit     ErrorKind = "memory_limit"      // runtime.ErrMemoryLimit
	KindCrash           ErrorKind = "crash"             // ErrWorkerCrashed
	KindDeadline        ErrorKind = "deadline"          // context.DeadlineExceeded (call timeout or caller's deadline)
	KindQueueTimeout    ErrorKind = "queue_timeout"     // ErrQueueTimeout
	KindCanceled        ErrorKind = "canceled"          // context.Canceled
	KindSaturated       ErrorKind = "saturated"         // ErrSaturated
	KindClosed          ErrorKind = "closed"            // ErrClosed
	KindSessionLost     ErrorKind = "session_lost"      // ErrSessionLost
	KindTooManySessions ErrorKind = "too_many_sessions" // ErrTooManySessions
	KindResultTooLarge  ErrorKind = "result_too_large"  // runtime.ErrResultTooLarge
	KindStreamLimit     ErrorKind = "stream_limit"      // runtime.ErrStreamLimit
	KindWrongMode       ErrorKind = "wrong_mode"        // ErrWrongMode
	KindBadRequest      ErrorKind = "bad_request"       // runtime.ErrBadRequest
	KindScratchFull     ErrorKind = "scratch_full"      // runtime.ErrScratchFull (Request.Files past the scratch caps)
	KindOther           ErrorKind = "other"             // anything else, e.g. the error of a request's OnChunk
)

// ErrorKinds returns every kind KindOf can return but KindNone, for a
// schema's enum or a metric's label values.
func ErrorKinds() []ErrorKind {
	return []ErrorKind{KindPython, KindMemoryLimit, KindCrash, KindDeadline, KindQueueTimeout, KindCanceled, KindSaturated, KindClosed,
		KindSessionLost, KindTooManySessions, KindResultTooLarge, KindStreamLimit, KindWrongMode, KindBadRequest, KindScratchFull, KindOther}
}

// KindOf classifies an error returned by the pool.
func KindOf(err error) ErrorKind {
	var pe *runtime.PythonError
	switch {
	case err == nil:
		return KindNone
	// Order matters: ErrClosed may wrap context.Canceled, and ErrQueueTimeout
	// wraps context.DeadlineExceeded.
	case errors.Is(err, ErrClosed):
		return KindClosed
	case errors.Is(err, ErrQueueTimeout):
		return KindQueueTimeout
	case errors.Is(err, ErrSessionLost):
		return KindSessionLost
	case errors.Is(err, ErrWorkerCrashed), errors.Is(err, runtime.ErrTrap):
		return KindCrash
	case errors.Is(err, runtime.ErrMemoryLimit):
		return KindMemoryLimit
	case errors.Is(err, context.DeadlineExceeded):
		return KindDeadline
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.As(err, &pe):
		return KindPython
	case errors.Is(err, ErrSaturated):
		return KindSaturated
	case errors.Is(err, ErrTooManySessions):
		return KindTooManySessions
	case errors.Is(err, runtime.ErrResultTooLarge):
		return KindResultTooLarge
	case errors.Is(err, runtime.ErrStreamLimit):
		return KindStreamLimit
	case errors.Is(err, ErrWrongMode):
		return KindWrongMode
	case errors.Is(err, runtime.ErrBadRequest):
		return KindBadRequest
	case errors.Is(err, runtime.ErrScratchFull):
		return KindScratchFull
	}
	return KindOther
}

// brokenReason says why a broken instance is recycled and what the caller
// gets. ctxErr is the call context's error and closing whether the pool's
// Close stopped the call.
func brokenReason(err, ctxErr error, closing bool) (RecycleReason, error) {
	switch {
	case closing:
		return RecycleStopped, fmt.Errorf("%w: %w", ErrClosed, err)
	case ctxErr != nil && errors.Is(err, ctxErr):
		return RecycleStopped, err
	case errors.Is(err, runtime.ErrMemoryLimit):
		return RecycleMemoryLimit, err
	}
	return RecycleCrash, &crashError{err}
}

// closedErr marks err with ErrClosed too when Close is what ended ctx.
func closedErr(ctx context.Context, err error) error {
	if context.Cause(ctx) == ErrClosed {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}
