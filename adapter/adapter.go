// Package adapter calls the Python functions that guest code exports with
// the snakepit.export decorator: Catalog lists them with JSON Schemas of
// their arguments and results (ready to hand to an LLM as tool
// definitions), Call calls one and decodes its result into a Go type, and
// Stream iterates over the items one yields.
//
// On the Python side:
//
//	import snakepit
//
//	@snakepit.export
//	def score(text: str, weights: dict[str, float] | None = None) -> float:
//	    """Scores a text."""
//	    ...
//
// The guest checks the arguments against the type hints before the
// function runs: int, float, str, bool, None, bytes (base64), list[X],
// tuple[X, ...], tuple[X, Y], dict[str, X], Optional and Union, Literal,
// Enum, TypedDict, dataclasses and Annotated[X, "description"]; a
// dataclass parameter gets an instance built from a JSON object. Results
// are JSON, with dataclasses as objects, enums as their values, bytes as
// base64 and iterators as lists. A Google-style "Args:" section of the
// docstring describes the parameters. An async function runs on asyncio's
// loop (where snakepit.acall awaits host tools).
//
// Calls go through a runtime.Runner: a *runtime.Instance, a *pool.Pool or
// a *pool.Session. The code
// defining the functions must have run in the interpreter: in a pool, put
// the package in runtime.Options.Packages and its module in
// pool.Options.Preload, so that every worker (in ModeFresh, the snapshot)
// has imported it before it serves.
//
// # Errors
//
// A call to a name that no function was exported under fails with an
// *Error wrapping ErrUnknownFunction, arguments that do not match the
// signature with ErrArguments (the message names the argument and the
// mismatch), and a result that does not decode into T with ErrResult.
// Exceptions raised by the function itself are *runtime.PythonError, and
// every other error is the Runner's (deadline, pool saturation, ...).
package adapter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/errkind"
	"github.com/snakepit-wasm/snakepit/runtime"
)

var (
	// ErrUnknownFunction means no function is exported under the name.
	// Kind bad_request.
	ErrUnknownFunction = errkind.New(errkind.BadRequest, "unknown function")
	// ErrArguments means the arguments do not match the function's
	// signature or type hints (or Go could not encode them); the function
	// did not run. A function may also raise snakepit.ArgumentError itself
	// to refuse a value that its hints cannot describe. Kind bad_request.
	ErrArguments = errkind.New(errkind.BadRequest, "bad arguments")
	// ErrResult means the result, or a streamed item, does not decode into
	// the Go type asked for.
	ErrResult = errors.New("bad result")
)

// Error is a call that failed for one of the reasons above.
type Error struct {
	Func   string // the function's name
	Err    error  // ErrUnknownFunction, ErrArguments or ErrResult
	Reason string // what was wrong, e.g. "argument text: expected string, got integer"
	// Cause is the guest's exception (a *runtime.PythonError of type
	// snakepit.ArgumentError or snakepit.UnknownFunctionError) or the JSON
	// decoding error; nil when Go refused the arguments.
	Cause error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s: %s", e.Func, e.Err, e.Reason) }

// Unwrap lets errors.Is match Err and errors.As find Cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// Function is one exported function, as the catalog lists it.
type Function struct {
	Name        string  `json:"name"`
	Description string  `json:"description"` // the docstring up to its first section
	Params      []Param `json:"params"`      // in the signature's order
	// Input is the JSON Schema (draft 2020-12) of the arguments as an
	// object keyed by parameter name; Output that of the result, or of
	// each item when Stream is set.
	Input  json.RawMessage `json:"input"`
	Output json.RawMessage `json:"output"`
	// Stream is set for generators and functions whose return hint is an
	// iterator: call them with Stream (Call gets a list of the items).
	Stream bool `json:"stream"`
}

// Param is one parameter of a Function.
type Param struct {
	Name     string          `json:"name"`
	Required bool            `json:"required"`
	Default  json.RawMessage `json:"default,omitempty"` // the default, when JSON can hold it
	Schema   json.RawMessage `json:"schema"`
	// PositionalOnly and KeywordOnly follow Python's signature; by name, a
	// JSON object may fill a positional-only parameter too.
	PositionalOnly bool `json:"positional_only,omitempty"`
	KeywordOnly    bool `json:"keyword_only,omitempty"`
}

// Catalog lists the functions exported in r's interpreter, by name.
func Catalog(ctx context.Context, r runtime.Runner) ([]Function, error) {
	res, err := r.Run(ctx, runtime.Call(abi.AdapterCatalog))
	if err != nil {
		return nil, err
	}
	var fs []Function
	if err := json.Unmarshal(res.Bytes, &fs); err != nil {
		return nil, fmt.Errorf("decoding the catalog: %w", err)
	}
	return fs, nil
}

// Call calls the exported function name with args and decodes its result
// into a T. args is nil (no arguments), a value that encodes as a JSON
// object (keyword arguments: a struct or a map) or array (positional
// arguments: a slice), or a json.RawMessage holding either (as an LLM's
// tool call gives them).
func Call[T any](ctx context.Context, r runtime.Runner, name string, args any) (T, error) {
	var v T
	a, err := encodeArgs(name, args)
	if err != nil {
		return v, err
	}
	res, err := r.Run(ctx, runtime.CallJSON(abi.AdapterCall, a))
	if err != nil {
		return v, classify(name, err)
	}
	data := res.Bytes // the guest's JSON, or the host's (res.Value)
	if data == nil {
		data = res.Value
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, &Error{Func: name, Err: ErrResult, Reason: err.Error(), Cause: err}
	}
	return v, nil
}

// Stream calls the exported function name like Call and yields each item of
// the iterable it returns (a generator's, as it produces them), decoded
// into a T. A failure is yielded once, with the zero T, and ends the
// sequence. Breaking out of the loop stops the function: its iterator is
// closed inside Python (a generator's finally runs) before the loop
// statement returns, and the worker stays usable.
//
// The function runs while the loop body does: a body that calls the same
// Instance, or the same session, deadlocks.
func Stream[T any](ctx context.Context, r runtime.Runner, name string, args any) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		a, err := encodeArgs(name, args)
		if err != nil {
			yield(zero, err)
			return
		}
		// The call runs in a coroutine and the loop body on the caller's
		// goroutine, so that a panic or runtime.Goexit in the body (t.Fatal)
		// unwinds only the caller: stop then ends the call cleanly.
		var runErr error
		chunks, stop := iter.Pull(func(put func(json.RawMessage) bool) {
			_, runErr = r.Run(ctx, runtime.Request{Op: runtime.OpCall, Code: abi.AdapterStream, Args: a,
				OnChunk: func(c json.RawMessage) error {
					if !put(c) {
						return errStopped
					}
					return nil
				}})
		})
		defer stop()
		for {
			c, ok := chunks()
			if !ok {
				break
			}
			var v T
			if err := json.Unmarshal(c, &v); err != nil {
				stop()
				yield(zero, &Error{Func: name, Err: ErrResult, Reason: err.Error(), Cause: err})
				return
			}
			if !yield(v, nil) {
				return
			}
		}
		if runErr != nil {
			yield(zero, classify(name, runErr))
		}
	}
}

var errStopped = errors.New("stream stopped by its consumer")

// encodeArgs makes the AdapterCall arguments [name, args].
func encodeArgs(name string, args any) (json.RawMessage, error) {
	var a []byte
	switch v := args.(type) {
	case nil:
		a = []byte("null")
	case json.RawMessage:
		a = v
	default:
		var err error
		if a, err = json.Marshal(args); err != nil {
			return nil, &Error{Func: name, Err: ErrArguments, Reason: err.Error(), Cause: err}
		}
	}
	t := bytes.TrimSpace(a)
	if !json.Valid(t) || (t[0] != '[' && t[0] != '{' && !bytes.Equal(t, []byte("null"))) {
		return nil, &Error{Func: name, Err: ErrArguments, Reason: "arguments must encode as a JSON object, array or null"}
	}
	n, _ := json.Marshal(name)
	out := make([]byte, 0, len(n)+len(t)+3)
	out = append(append(append(append(append(out, '['), n...), ','), t...), ']')
	return out, nil
}

// classify turns the guest's adapter exceptions into *Error.
func classify(name string, err error) error {
	var pe *runtime.PythonError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Type {
	case "snakepit.UnknownFunctionError":
		return &Error{Func: name, Err: ErrUnknownFunction, Reason: pe.Message, Cause: pe}
	case "snakepit.ArgumentError":
		return &Error{Func: name, Err: ErrArguments, Reason: pe.Message, Cause: pe}
	}
	return err
}
