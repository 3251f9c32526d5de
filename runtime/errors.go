package runtime

import (
	"errors"
	"fmt"

	"github.com/snakepit-wasm/snakepit/internal/artifact"
)

var (
	// ErrNotBuilt means python.wasm or its stdlib is missing; the message
	// names the command that builds them.
	ErrNotBuilt = artifact.ErrNotBuilt
	// ErrClosed is returned by calls on a closed Runtime, Snapshot or Instance.
	ErrClosed = errors.New("snakepit: closed")
	// ErrBroken is wrapped by the error of every call on an instance that an
	// earlier call left unusable (a trap, the memory cap, a stop at the
	// deadline, an ABI violation). Such an instance must be closed.
	ErrBroken = errors.New("snakepit: instance unusable")
	// ErrMemoryLimit means the guest asked for more memory than its cap.
	// The instance is unusable afterwards: CPython may be left inconsistent.
	ErrMemoryLimit = errors.New("snakepit: memory limit reached")
	// ErrABIVersion means python.wasm and this package speak different ABI
	// versions.
	ErrABIVersion = errors.New("snakepit: ABI version mismatch")
	// ErrTrap means the guest trapped (e.g. a stack overflow) or was stopped.
	ErrTrap = errors.New("snakepit: guest trapped")
	// ErrHostCallLimit means the guest exceeded its host-call budget for one call.
	ErrHostCallLimit = errors.New("snakepit: host call limit reached")
	// ErrResultTooLarge means the guest's result, or one stream chunk,
	// exceeded Options.MaxResult. The instance stays usable.
	ErrResultTooLarge = errors.New("snakepit: result too large")
	// ErrStreamLimit means a call's stream passed Options.MaxStreamChunks or
	// MaxStreamBytes: the host stopped the stream (the guest's next emit
	// raised) and the call failed. The instance stays usable.
	ErrStreamLimit = errors.New("snakepit: stream limit reached")
	// ErrBadRequest is wrapped, with the reason, by the error of a Request
	// that cannot run (an unknown Op, OpStream without OnChunk, Args that
	// are not a JSON list or object, ...). Nothing ran; the instance stays
	// usable.
	ErrBadRequest = errors.New("snakepit: bad request")
	// ErrScratchFull means the host's write into the scratch file system
	// (Request.Files, Instance.WriteFile) would pass Options.Scratch.MaxBytes
	// or MaxFiles. (The guest gets OSError ENOSPC instead.) The instance
	// stays usable.
	ErrScratchFull = errors.New("snakepit: scratch file system full")
	// ErrBadOptions: NewInstance was given Options it cannot honour (a
	// MemoryLimit below the memory the interpreter starts with, a mount
	// path that is not absolute, ...).
	ErrBadOptions = errors.New("snakepit: bad options")
	// ErrNotReset is wrapped, with the reason, by the error of an
	// Instance.Reset that could not return the instance to its snapshot's
	// state exactly. The instance should then be closed.
	ErrNotReset = errors.New("snakepit: instance not reset")
)

// PythonError is a Python exception raised by the guest. The instance stays
// usable.
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

// brokenError is returned for calls on an unusable instance; it wraps both
// ErrBroken and the reason the instance broke.
type brokenError struct{ cause error }

func (e *brokenError) Error() string { return fmt.Sprintf("%v: %v", ErrBroken, e.cause) }

func (e *brokenError) Unwrap() []error { return []error{ErrBroken, e.cause} }
