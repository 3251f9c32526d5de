package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
)

const runDoc = `Run runs Python code in a fresh sandbox: a CPython interpreter inside this
process that sees nothing of the host but the standard library and what the
flags grant. The code comes from -c, from FILE, or from stdin ("-").
Its stdout and stderr are printed as it writes them; a Python exception
prints its traceback on stderr and exits with status 1, and so does a limit
reached (--timeout, --memory).

With --json, nothing is printed but one JSON object on stdout: the value of
the code's last expression (if it is one, as in a notebook cell), stdout,
stderr, whether the caps cut them, the error with its kind (python,
deadline, memory_limit, crash, ...) and the timings.
`

func runCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "[flags] [-c CODE | FILE | -]", runDoc, stderr)
	code := fs.String("c", "", "the `code` to run")
	asJSON := fs.Bool("json", false, "print the whole result as one JSON object")
	var lim limits
	lim.timeout = time.Minute
	lim.register(fs, "stop the code after this `duration`; 0 means no limit")
	if st := fs.parse(args, stdout); st >= 0 {
		return st
	}
	var src []byte
	hasC := false // -c '' is code too
	fs.Visit(func(f *flag.Flag) { hasC = hasC || f.Name == "c" })
	switch {
	case fs.NArg() > 1:
		return fs.usageError("too many arguments (flags go before FILE; the code sees no arguments)")
	case hasC == (fs.NArg() == 1):
		return fs.usageError("give the code one way: -c CODE, a FILE, or - for stdin")
	case hasC:
		src = []byte(*code)
	case fs.Arg(0) == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "snakepit run: reading stdin: %v\n", err)
			return exitFailure
		}
		src = b
	default:
		b, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			fmt.Fprintf(stderr, "snakepit run: %v\n", err)
			return exitFailure
		}
		src = b
	}

	out, err := runOnce(ctx, string(src), lim, *asJSON, stdout, stderr)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else if err != nil {
		fmt.Fprintln(stderr, explain(err))
	}
	if err != nil {
		return exitFailure
	}
	return exitOK
}

// runOnce runs src in a new instance. Without asJSON its output streams to
// stdout and stderr as the guest writes it.
func runOnce(ctx context.Context, src string, lim limits, asJSON bool, stdout, stderr io.Writer) (*outcome, error) {
	t0 := time.Now()
	rt, err := startRuntime(ctx, stderr)
	if err != nil {
		return newOutcome(nil, err), err
	}
	defer rt.Close(context.WithoutCancel(ctx))
	t1 := time.Now()
	inst, err := rt.NewInstance(ctx, lim.options())
	if err != nil {
		return newOutcome(nil, err), err
	}
	defer inst.Close(context.WithoutCancel(ctx))
	t2 := time.Now()

	req := runtime.Request{Op: runtime.OpExec, Code: src}
	if !asJSON {
		req.OnOutput = func(s runtime.Stream, p []byte) {
			if s == runtime.Stdout {
				stdout.Write(p)
			} else {
				stderr.Write(p)
			}
		}
	}
	cctx := ctx
	if lim.timeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, lim.timeout)
		defer cancel()
	}
	res, err := inst.Run(cctx, req)
	out := newOutcome(res, err)
	out.Timings = &timings{Runtime: ms(t1.Sub(t0)), Instance: ms(t2.Sub(t1)), Exec: ms(time.Since(t2))}
	if !asJSON && (out.StdoutTruncated || out.StderrTruncated) {
		fmt.Fprintln(stderr, "snakepit: output cut at its cap (--max-stdout, --max-stderr)")
	}
	return out, err
}
