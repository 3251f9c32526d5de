package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
)

const runDoc = `Run runs Python code in a fresh sandbox: a CPython interpreter inside this
process that sees nothing of the host but the standard library and what the
flags grant. The code comes from -c, from FILE, or from stdin ("-").
Python packages come from --package: a directory (a site-packages, Debian's
dist-packages) or a pure-Python wheel; --preload imports modules first.
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
	outDir := fs.String("out", "", "write the files the code created or changed in its scratch directory (/tmp) into `dir`")
	var lim limits
	lim.timeout = time.Minute
	lim.register(fs, "stop the code after this `duration`; 0 means no limit")
	fs.Var(&lim.preload, "preload", "import module `name` before the code (its time counts in --timeout); repeatable")
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

	out, files, err := runOnce(ctx, string(src), lim, *asJSON, stdout, stderr)
	if *outDir != "" {
		if werr := writeFiles(*outDir, files); werr != nil {
			fmt.Fprintf(stderr, "snakepit run: %v\n", werr)
			return exitFailure
		}
	}
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
func runOnce(ctx context.Context, src string, lim limits, asJSON bool, stdout, stderr io.Writer) (runOutcome, map[string][]byte, error) {
	t0 := time.Now()
	rt, err := startRuntime(ctx, stderr, lim.numpy)
	if err != nil {
		return runOutcome{outcome: newOutcome(nil, err)}, nil, err
	}
	defer rt.Close(context.WithoutCancel(ctx))
	t1 := time.Now()
	inst, err := rt.NewInstance(ctx, lim.options())
	if err != nil {
		return runOutcome{outcome: newOutcome(nil, err)}, nil, err
	}
	defer inst.Close(context.WithoutCancel(ctx))
	t2 := time.Now()

	req := runtime.Exec(src)
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
	var res *runtime.Result
	if setup := lim.setup(); setup != "" {
		sreq := req
		sreq.Code = setup
		res, err = inst.Run(cctx, sreq)
	}
	if err == nil {
		res, err = inst.Run(cctx, req)
	}
	out := runOutcome{outcome: newOutcome(res, err)}
	out.Timings = &timings{Runtime: ms(t1.Sub(t0)), Instance: ms(t2.Sub(t1)), Exec: ms(time.Since(t2))}
	if !asJSON && (out.StdoutTruncated || out.StderrTruncated) {
		fmt.Fprintln(stderr, "snakepit: output cut at its cap (--max-stdout, --max-stderr)")
	}
	var files map[string][]byte
	if res != nil {
		files = res.Files
	}
	return out, files, err
}

// writeFiles writes a call's files under dir. Their names are the guest's
// choice: each is checked for this host before anything is written.
func writeFiles(dir string, files map[string][]byte) error {
	paths := map[string]string{}
	for name := range files {
		p, err := runtime.HostPath(dir, name)
		if err != nil {
			return err
		}
		paths[name] = p
	}
	for name, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}
