// Package errkind classifies the library's errors in one place. Every
// sentinel that names an outcome is an *Error carrying its Kind; Of walks an
// error's tree (errors.As, depth first) and takes the first kind it meets,
// so the outermost classification wins: "closed" for a call Close stopped,
// whatever stopped the guest inside. runtime re-exports Kind and Of.
package errkind

import "context"

// Kind names a class of outcome, for metrics labels and for callers that
// branch on the class rather than on one sentinel.
type Kind string

// The kinds. Each sentinel's documentation says which it is.
const (
	None            Kind = ""                  // no error
	Python          Kind = "python"            // a Python exception
	MemoryLimit     Kind = "memory_limit"      // the memory cap
	Crash           Kind = "crash"             // a trap, a guest breaking the contract, an instance that could not be reset
	Deadline        Kind = "deadline"          // context.DeadlineExceeded: the call's or the caller's deadline
	QueueTimeout    Kind = "queue_timeout"     // no worker within the queue's wait
	Canceled        Kind = "canceled"          // context.Canceled
	Saturated       Kind = "saturated"         // the queue was full
	Closed          Kind = "closed"            // the runtime, snapshot, instance or pool was closed
	SessionLost     Kind = "session_lost"      // a session's state is gone
	TooManySessions Kind = "too_many_sessions" // a new session past the caps
	NoSession       Kind = "no_session"        // no such live session
	ResultTooLarge  Kind = "result_too_large"  // a result or stream chunk past its cap
	StreamLimit     Kind = "stream_limit"      // a stream past its caps
	HostCallLimit   Kind = "host_call_limit"   // host calls past their cap
	BadRequest      Kind = "bad_request"       // a request that cannot run
	BadOptions      Kind = "bad_options"       // options that cannot be honoured
	ScratchFull     Kind = "scratch_full"      // the host's write past the scratch caps
	NotBuilt        Kind = "not_built"         // the interpreter is missing or speaks another ABI
	Image           Kind = "image"             // a session image that cannot be taken, or restored here
	Other           Kind = "other"             // anything else, e.g. the error of a request's OnChunk
)

// All returns every kind Of can return but None.
func All() []Kind {
	return []Kind{Python, MemoryLimit, Crash, Deadline, QueueTimeout, Canceled, Saturated, Closed, SessionLost,
		TooManySessions, NoSession, ResultTooLarge, StreamLimit, HostCallLimit, BadRequest, BadOptions, ScratchFull,
		NotBuilt, Image, Other}
}

// Error is a sentinel error of a kind; it may wrap another sentinel
// (context.DeadlineExceeded, say) that errors.Is should also match.
type Error struct {
	msg  string
	kind Kind
	wrap error
}

// New returns a sentinel of kind k.
func New(k Kind, msg string) *Error { return &Error{msg: msg, kind: k} }

// Wrap returns a sentinel of kind k that also matches target.
func Wrap(k Kind, msg string, target error) *Error { return &Error{msg: msg, kind: k, wrap: target} }

func (e *Error) Error() string {
	if e.wrap != nil {
		return e.msg + ": " + e.wrap.Error()
	}
	return e.msg
}

func (e *Error) Unwrap() error { return e.wrap }

// Kind returns e's kind.
func (e *Error) Kind() Kind { return e.kind }

// kinded is what Of looks for: *Error, and types of other packages that
// are a kind of their own (runtime.PythonError).
type kinded interface {
	error
	Kind() Kind
}

// Of classifies err: the kind of the first error in its tree, walked as
// errors.Is walks it, that has one (the context errors included).
func Of(err error) Kind {
	if err == nil {
		return None
	}
	if k := walk(err); k != None {
		return k
	}
	return Other
}

func walk(err error) Kind {
	if k, ok := err.(kinded); ok {
		return k.Kind()
	}
	if k := contextKind(err); k != None {
		return k
	}
	switch e := err.(type) {
	case interface{ Unwrap() error }:
		if u := e.Unwrap(); u != nil {
			return walk(u)
		}
	case interface{ Unwrap() []error }:
		for _, u := range e.Unwrap() {
			if k := walk(u); k != None {
				return k
			}
		}
	}
	return None
}

// contextKind is the kind of the context package's errors; they are not
// *Error.
func contextKind(err error) Kind {
	switch err {
	case context.DeadlineExceeded:
		return Deadline
	case context.Canceled:
		return Canceled
	}
	return None
}
