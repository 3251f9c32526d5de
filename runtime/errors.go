package runtime

import (
	"errors"
	"fmt"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"github.com/snakepit-wasm/snakepit/internal/errkind"
)

// Error messages carry no package prefix: each says what happened, and
// each wrapper adds only what it knows, so that a message reads once
// ("initialising python: guest trapped: ...") however deep it was made.

var (
	// ErrNotBuilt means python.wasm or its stdlib is missing; the message
	// names the command that builds them. Kind not_built.
	ErrNotBuilt = artifact.ErrNotBuilt
	// ErrClosed is returned by calls on a closed Runtime, Snapshot or
	// Instance, and by package pool for a closed Pool. Kind closed.
	ErrClosed = errkind.New(errkind.Closed, "closed")
	// ErrBroken is wrapped by the error of every call on an instance that an
	// earlier call left unusable (a trap, the memory cap, a stop at the
	// deadline, an ABI violation), together with that reason, which gives
	// the kind. Such an instance must be closed.
	ErrBroken = errors.New("instance unusable")
	// ErrMemoryLimit means the guest asked for more memory than its cap.
	// The instance keeps its state where CPython survived it (see
	// Limits.MaxMemory); Instance.Err says when it did not. Kind
	// memory_limit.
	ErrMemoryLimit = errkind.New(errkind.MemoryLimit, "memory limit reached")
	// ErrABIVersion means python.wasm and this package speak different ABI
	// versions. Kind not_built.
	ErrABIVersion = errkind.New(errkind.NotBuilt, "ABI version mismatch")
	// ErrTrap means the guest trapped (e.g. a stack overflow) or was
	// stopped. Kind crash.
	ErrTrap = errkind.New(errkind.Crash, "guest trapped")
	// ErrMalformed means the guest broke the host/guest contract (a result
	// the host cannot decode, a request buffer out of bounds). The instance
	// is unusable. Kind crash.
	ErrMalformed = abi.ErrMalformed
	// ErrHostCallLimit means the guest exceeded its host-call budget for
	// one call. Kind host_call_limit.
	ErrHostCallLimit = errkind.New(errkind.HostCallLimit, "host call limit reached")
	// ErrResultTooLarge means the guest's result, or one stream chunk,
	// exceeded Limits.MaxResult. The instance stays usable. Kind
	// result_too_large.
	ErrResultTooLarge = errkind.New(errkind.ResultTooLarge, "result too large")
	// ErrStreamLimit means a call's stream passed Limits.MaxStreamChunks or
	// MaxStreamBytes: the host stopped the stream (the guest's next emit
	// raised) and the call failed. The instance stays usable. Kind
	// stream_limit.
	ErrStreamLimit = errkind.New(errkind.StreamLimit, "stream limit reached")
	// ErrBadRequest is wrapped, with the reason, by the error of a Request
	// that cannot run (an unknown Op, OpStream without OnChunk, Args that
	// are not a JSON list or object, ...). Nothing ran; the instance stays
	// usable. Kind bad_request.
	ErrBadRequest = errkind.New(errkind.BadRequest, "bad request")
	// ErrScratchFull means the host's write into the scratch file system
	// (Request.Files, Instance.WriteFile) would pass Limits.MaxScratchBytes
	// or MaxScratchFiles. (The guest gets OSError ENOSPC instead.) The
	// instance stays usable. Kind scratch_full.
	ErrScratchFull = errkind.New(errkind.ScratchFull, "scratch file system full")
	// ErrBadOptions is wrapped, with the reason, by the error of options
	// that cannot be honoured (see Options.Validate): nothing started.
	// Kind bad_options.
	ErrBadOptions = errkind.New(errkind.BadOptions, "bad options")
	// ErrInterrupted is wrapped, with the context's error, by the error of
	// a call that was interrupted at its deadline or cancellation and
	// unwound within Limits.MaxInterruptGrace: the instance keeps its state
	// and serves the next call. Its kind is the context's (deadline or
	// canceled).
	ErrInterrupted = errors.New("interrupted, state kept")
	// ErrNotReset is wrapped, with the reason, by the error of an
	// Instance.Reset that could not return the instance to its snapshot's
	// state exactly. The instance should then be closed. Kind crash.
	ErrNotReset = errkind.New(errkind.Crash, "instance not reset")
)

// ErrorKind names a class of error, for metrics labels and for callers
// that branch on the class rather than on one sentinel. Each sentinel of
// this package and of package pool says its kind.
type ErrorKind = errkind.Kind

// The error kinds KindOf returns.
const (
	KindNone            = errkind.None
	KindPython          = errkind.Python
	KindMemoryLimit     = errkind.MemoryLimit
	KindCrash           = errkind.Crash
	KindDeadline        = errkind.Deadline
	KindQueueTimeout    = errkind.QueueTimeout
	KindCanceled        = errkind.Canceled
	KindSaturated       = errkind.Saturated
	KindClosed          = errkind.Closed
	KindSessionLost     = errkind.SessionLost
	KindTooManySessions = errkind.TooManySessions
	KindNoSession       = errkind.NoSession
	KindResultTooLarge  = errkind.ResultTooLarge
	KindStreamLimit     = errkind.StreamLimit
	KindHostCallLimit   = errkind.HostCallLimit
	KindBadRequest      = errkind.BadRequest
	KindBadOptions      = errkind.BadOptions
	KindScratchFull     = errkind.ScratchFull
	KindNotBuilt        = errkind.NotBuilt
	KindImage           = errkind.Image
	KindOther           = errkind.Other
)

// KindOf classifies an error of this module (runtime, pool, adapter): the
// first kind in err's tree, outermost first, so that a call that Close
// stopped is "closed" whatever stopped the guest inside; then
// context.DeadlineExceeded ("deadline") and context.Canceled
// ("canceled"); "other" for the rest.
func KindOf(err error) ErrorKind { return errkind.Of(err) }

// ErrorKinds returns every kind KindOf can return but KindNone, for a
// schema's enum or a metric's label values.
func ErrorKinds() []ErrorKind { return errkind.All() }

// PythonError is a Python exception raised by the guest. The instance stays
// usable. Kind python.
type PythonError struct {
	Type      string // qualified name, e.g. "ValueError" or "json.decoder.JSONDecodeError"
	Message   string
	Traceback string
}

func (e *PythonError) Error() string {
	if e.Message == "" {
		return "python: " + e.Type
	}
	return "python: " + e.Type + ": " + e.Message
}

// Kind is KindPython.
func (e *PythonError) Kind() ErrorKind { return KindPython }

// brokenError is returned for calls on an unusable instance; it wraps both
// ErrBroken and the reason the instance broke.
type brokenError struct{ cause error }

func (e *brokenError) Error() string { return fmt.Sprintf("%v: %v", ErrBroken, e.cause) }

func (e *brokenError) Unwrap() []error { return []error{ErrBroken, e.cause} }
