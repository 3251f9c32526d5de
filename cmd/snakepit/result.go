package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/snakepit-wasm/snakepit/wasm/numpy"
)

// outcome is one call's result, as `run --json` prints it and the MCP tool
// run_python returns it.
type outcome struct {
	// Note says what happened to the session before this call (stateful MCP).
	Note string `json:"note,omitempty" jsonschema:"something to know before reading the result, e.g. that this session's earlier state is gone"`
	// Value is the guest's JSON as it came: decoding it (into any) and
	// encoding it again cost the MCP server about 80 times a large value.
	Value           json.RawMessage `json:"value,omitempty" jsonschema:"the value of the code's last expression, if it is one and not None"`
	ValueTruncated  bool            `json:"value_truncated,omitempty" jsonschema:"the value did not fit in the answer: value_preview holds the start of its JSON text"`
	ValuePreview    string          `json:"value_preview,omitempty" jsonschema:"the start of the value's JSON text, when value_truncated"`
	Stdout          string          `json:"stdout"`
	Stderr          string          `json:"stderr"`
	StdoutTruncated bool            `json:"stdout_truncated,omitempty" jsonschema:"stdout passed its cap and was cut"`
	StderrTruncated bool            `json:"stderr_truncated,omitempty" jsonschema:"stderr passed its cap and was cut"`
	Error           *callError      `json:"error,omitempty" jsonschema:"why the call failed; absent on success"`
}

type callError struct {
	// Kind is kindOf's classification: python, deadline, memory_limit,
	// crash, ...
	Kind      string `json:"kind" jsonschema:"the kind of failure: python is an exception the code raised; the others are limits and conditions of the sandbox"`
	Type      string `json:"type,omitempty" jsonschema:"the Python exception's type, for kind python"`
	Message   string `json:"message"`
	Traceback string `json:"traceback,omitempty"`
}

// runOutcome is what `run --json` prints: the outcome and its timings.
type runOutcome struct {
	*outcome
	Timings *timings `json:"timings,omitempty"`
}

// timings are in milliseconds.
type timings struct {
	Runtime  float64 `json:"runtime_ms"`  // loading and compiling python.wasm (from the cache when warm)
	Instance float64 `json:"instance_ms"` // starting the interpreter
	Exec     float64 `json:"exec_ms"`     // the call itself
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// newOutcome describes a call's result and error.
func newOutcome(res *runtime.Result, err error) *outcome {
	o := &outcome{}
	if res != nil {
		o.Stdout, o.Stderr = string(res.Stdout), string(res.Stderr)
		o.StdoutTruncated, o.StderrTruncated = res.StdoutTruncated, res.StderrTruncated
		o.Value = res.Value
	}
	if err != nil {
		o.Error = &callError{Kind: string(runtime.KindOf(err)), Message: err.Error()}
		var pe *runtime.PythonError
		if errors.As(err, &pe) {
			o.Error.Type, o.Error.Traceback = pe.Type, pe.Traceback
			if o.Error.Kind == string(runtime.KindPython) {
				// Else the exception is how the call ended (a
				// KeyboardInterrupt at its deadline): the message says so.
				o.Error.Message = pe.Message
			}
		}
	}
	return o
}

// cutNote ends a field that fit cut.
const cutNote = "\n[cut: the answer's cap is --max-answer]"

// fit cuts the outcome so that its fields take at most budget bytes as JSON
// text. The error goes first (it says what happened), then the value,
// stdout and stderr, each taking what the ones before left.
func (o *outcome) fit(budget int) {
	left := budget
	take := func(s *string) bool {
		n := jsonLen(*s)
		if n <= left {
			left -= n
			return false
		}
		*s = cutJSON(*s, max(left-jsonLen(cutNote), 0)) + cutNote
		left = 0
		return true
	}
	if e := o.Error; e != nil {
		take(&e.Message)
		take(&e.Traceback)
	}
	if len(o.Value) > left {
		// A prefix of left bytes is enough: escaping only lengthens.
		o.ValuePreview, o.ValueTruncated, o.Value = string(o.Value[:max(left, 0)]), true, nil
		take(&o.ValuePreview)
	} else {
		left -= len(o.Value)
	}
	o.StdoutTruncated = take(&o.Stdout) || o.StdoutTruncated
	o.StderrTruncated = take(&o.Stderr) || o.StderrTruncated
}

// jsonLen is the length of s encoded as a JSON string's content, as
// encoding/json writes it (HTML characters escaped).
func jsonLen(s string) int {
	n := 0
	for _, r := range s {
		n += runeJSONLen(r)
	}
	return n
}

func runeJSONLen(r rune) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029 || r == utf8.RuneError:
		return 6
	}
	return utf8.RuneLen(r)
}

// cutJSON returns the longest prefix of s, whole runes, whose JSON encoding
// takes at most n bytes.
func cutJSON(s string, n int) string {
	used := 0
	for i, r := range s {
		if used += runeJSONLen(r); used > n {
			return s[:i]
		}
	}
	return s
}

// explain is an error's text for people: a Python error's traceback, or the
// error with a hint for the limits a flag sets.
func explain(err error) string {
	var pe *runtime.PythonError
	if k := runtime.KindOf(err); k == runtime.KindPython && errors.As(err, &pe) && pe.Traceback != "" {
		return strings.TrimSuffix(pe.Traceback, "\n")
	}
	msg := "snakepit: " + err.Error()
	switch runtime.KindOf(err) {
	case runtime.KindDeadline:
		msg += " (the time limit is --timeout)"
	case runtime.KindMemoryLimit:
		msg += " (the cap is --memory)"
	}
	return msg
}

// startRuntime loads and compiles python.wasm, or its numpy variant. The
// first compilation on a machine takes seconds; on a terminal, a line says
// what is happening.
func startRuntime(ctx context.Context, stderr io.Writer, withNumpy bool) (*runtime.Runtime, error) {
	done := progress(stderr, "snakepit: compiling python.wasm (once per machine; then cached)")
	var cfg runtime.Config
	if withNumpy {
		cfg.Variant = numpy.Files()
	}
	rt, err := runtime.New(ctx, cfg)
	done()
	return rt, err
}

// progress shows msg and the time elapsed on stderr while a step runs, if
// stderr is a terminal; it returns the function that ends the step. Elsewhere
// (a pipe, a file, a test) it writes nothing.
func progress(stderr io.Writer, msg string) (done func()) {
	if !isTerminal(stderr) {
		return func() {}
	}
	// A warm start takes a fraction of a second: say nothing then.
	return showProgress(stderr, msg, 500*time.Millisecond, 100*time.Millisecond)
}

// showProgress rewrites one line with msg and the time elapsed, from after
// on, every tick, and clears it when done is called.
func showProgress(w io.Writer, msg string, after, tick time.Duration) (done func()) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		start := time.Now()
		t := time.NewTicker(tick)
		defer t.Stop()
		shown := false
		for {
			select {
			case <-stop:
				if shown {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case now := <-t.C:
				if d := now.Sub(start); d >= after {
					fmt.Fprintf(w, "\r%s... %.1fs", msg, d.Seconds())
					shown = true
				}
			}
		}
	})
	return func() {
		close(stop)
		wg.Wait()
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
