// Command hello runs Python through a snakepit pool: a fresh, sandboxed
// interpreter per call, a host tool, a Python exception and a runaway loop
// stopped at its deadline.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

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
		Size:        2,
		MaxCallTime: 2 * time.Second,
		Instance: runtime.Options{
			Limits: runtime.Limits{MaxMemory: 64 << 20},
			Host: map[string]runtime.HostFunc{
				// Python calls this with snakepit.call("price", "apple").
				"price": func(_ context.Context, args json.RawMessage) (any, error) {
					var a []string
					if err := json.Unmarshal(args, &a); err != nil || len(a) != 1 {
						return nil, errors.New("price wants one item name")
					}
					return map[string]float64{"apple": 0.5, "pear": 0.75}[a[0]], nil
				},
			},
		},
	})
	if err != nil {
		return err
	}
	defer p.Close(ctx)

	res, err := p.Run(ctx, runtime.Exec(`
import snakepit, statistics
prices = [snakepit.call("price", f) for f in ("apple", "pear", "apple")]
print("basket:", sum(prices), "mean:", statistics.mean(prices))
`))
	if err != nil {
		return err
	}
	fmt.Fprint(out, string(res.Stdout))

	// Untrusted code gets a typed error, and the pool keeps serving.
	_, err = p.Run(ctx, runtime.Exec("open('/etc/passwd').read()"))
	var pe *runtime.PythonError
	if errors.As(err, &pe) {
		fmt.Fprintf(out, "denied: %s\n", pe.Type)
	}
	c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = p.Run(c, runtime.Exec("while True: pass"))
	fmt.Fprintf(out, "runaway loop stopped: %v\n", errors.Is(err, context.DeadlineExceeded))

	res, err = p.Run(ctx, runtime.Eval("sum(i * i for i in range(10))"))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "still serving: %s\n", res.Value)
	return nil
}
