package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
)

// An instance runs Python with hard limits; a Python exception is a typed
// error and leaves the instance usable.
func ExampleRuntime_NewInstance() {
	ctx := context.Background()
	r, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close(ctx)
	i, err := r.NewInstance(ctx, runtime.Options{MemoryLimit: 64 << 20, StdoutLimit: 1 << 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer i.Close(ctx)

	res, _ := i.Exec(ctx, "def area(w, h):\n    return w * h\nprint('defined')")
	fmt.Print(string(res.Stdout))
	res, _ = i.Call(ctx, "area", 3, 4)
	fmt.Println(string(res.Value))

	_, err = i.Exec(ctx, "1 / 0")
	var pe *runtime.PythonError
	fmt.Println(errors.As(err, &pe), pe.Type, i.Err() == nil)

	c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = i.Exec(c, "while True: pass")
	fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.Is(i.Err(), context.DeadlineExceeded))
	// Output:
	// defined
	// 12
	// true ZeroDivisionError true
	// true true
}

// A snapshot starts fresh interpreters that already hold its setup.
func ExampleRuntime_NewSnapshot() {
	ctx := context.Background()
	r, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close(ctx)
	s, err := r.NewSnapshot(ctx, runtime.SnapshotOptions{Preload: []string{"json"}, Setup: "seen = []"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for range 2 {
		c, err := s.NewInstance(ctx, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		res, _ := c.Eval(ctx, "(seen.append(1), len(seen))[1]")
		fmt.Println(string(res.Value)) // each clone starts from the snapshot
		c.Close(ctx)
	}
	// Output:
	// 1
	// 1
}
