// Command untrusted serves snippets the way a code interpreter serves a
// model: each runs in a fresh sandbox under hard limits, some are hostile,
// every failure is a typed error, and the pool keeps serving.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// The snippets a model might send, friendly and not.
var snippets = []struct{ name, code string }{
	{"arithmetic", "sum(i * i for i in range(10))"},
	{"bad input", "int('forty-two')"},
	{"host file", "open('/etc/passwd').read()"},
	{"write stdlib", "open('/usr/lib/python3.13/os.py', 'a')"},
	{"subprocess", "import subprocess; subprocess.run(['sh', '-c', 'id'])"},
	{"thread", "import threading; threading.Thread(target=print).start()"},
	{"network", "import socket; socket.create_connection(('example.com', 80))"},
	{"runaway loop", "while True: pass"},
	{"memory bomb", "hog = bytearray(1 << 30)"},
	{"output flood", `print('spam\n' * 100_000, end='')`},
	{"still serving", "import statistics; statistics.mean([1, 2, 3, 4])"},
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	p, err := pool.New(ctx, rt, pool.Options{
		Size:        2,               // calls running at once; more wait in a FIFO queue
		Mode:        pool.ModeFresh,  // the default: a clean interpreter per call
		MaxCallTime: 2 * time.Second, // covers the wait in the queue and the run
		Instance: runtime.Options{
			Limits: runtime.Limits{MaxMemory: 64 << 20, MaxStdout: 1 << 10},
		},
	})
	if err != nil {
		return err
	}
	defer p.Close(ctx)

	for _, s := range snippets {
		res, err := p.Run(ctx, runtime.Exec(s.code))
		fmt.Fprintf(out, "%-14s %s\n", s.name, describe(res, err))
	}
	st := p.Stats()
	fmt.Fprintf(out, "calls: %d, Python errors: %d, deadlines: %d, memory limits: %d\n", st.Calls,
		st.Errors[runtime.KindPython], st.Errors[runtime.KindDeadline], st.Errors[runtime.KindMemoryLimit])
	return nil
}

// describe tells what became of a call, by the type of its error.
func describe(res *runtime.Result, err error) string {
	var pe *runtime.PythonError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		// Stopped at MaxCallTime: interrupted (a KeyboardInterrupt, which
		// the error also wraps), or, if the code would not unwind, stopped
		// hard and its interpreter replaced.
		return "stopped at the deadline"
	case errors.Is(err, runtime.ErrMemoryLimit):
		// Past Limits.MaxMemory: Python raised MemoryError (which the
		// error also wraps), and the interpreter is intact unless the
		// memory stayed full; then the pool replaced it.
		return "stopped at the memory limit"
	case errors.As(err, &pe):
		// An exception in the code: the interpreter is intact.
		return "Python error: " + pe.Type + ": " + pe.Message
	case err != nil:
		return fmt.Sprintf("failed (%s): %v", runtime.KindOf(err), err)
	case res.StdoutTruncated:
		return fmt.Sprintf("ok, stdout cut at the cap: %d bytes kept", len(res.Stdout))
	}
	return "ok: " + string(res.Value)
}
