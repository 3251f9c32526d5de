// Command numpy runs numpy inside the sandbox: the numpy variant of the
// interpreter, embedded by package wasm/numpy, in a pool whose workers are
// reset to a snapshot that imported numpy, so that every call starts on a
// clean interpreter with numpy ready. Nothing else is installed.
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
	"github.com/snakepit-wasm/snakepit/wasm/numpy"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	rt, err := runtime.New(ctx, runtime.Config{Variant: numpy.Files()})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)

	p, err := pool.New(ctx, rt, pool.Options{
		Size:        1,
		MaxCallTime: 5 * time.Second,
		// numpy imports numpy.random lazily: preload it too.
		Preload:  []string{"numpy", "numpy.random"},
		Instance: runtime.Options{Limits: runtime.Limits{MaxMemory: 256 << 20}},
	})
	if err != nil {
		return err
	}
	defer p.Close(ctx)

	res, err := p.Run(ctx, runtime.Exec(`
import numpy as np
a = np.array([[3.0, 1.0], [1.0, 2.0]])
x = np.linalg.solve(a, np.array([9.0, 8.0]))
print("solve:", x, "check:", np.allclose(a @ x, [9.0, 8.0]))
`))
	if err != nil {
		return err
	}
	fmt.Fprint(out, string(res.Stdout))

	// Each call is fresh: the previous call's `np` binding is gone.
	_, err = p.Run(ctx, runtime.Eval("np.pi"))
	var pe *runtime.PythonError
	fmt.Fprintf(out, "a fresh call does not see the last one's names: %v\n", errors.As(err, &pe) && pe.Type == "NameError")

	res, err = p.Run(ctx, runtime.Eval("__import__('numpy').random.default_rng(1).integers(0, 10, 3).tolist()"))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "three draws: %s\n", res.Value)
	return nil
}
