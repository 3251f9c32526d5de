package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	i, err := r.NewInstance(ctx, runtime.Options{Limits: runtime.Limits{MaxMemory: 64 << 20, MaxStdout: 1 << 10}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer i.Close(ctx)

	res, _ := i.Run(ctx, runtime.Exec("def area(w, h):\n    return w * h\nprint('defined')"))
	fmt.Print(string(res.Stdout))
	res, _ = i.Run(ctx, runtime.Call("area", 3, 4))
	fmt.Println(string(res.Value))

	_, err = i.Run(ctx, runtime.Exec("1 / 0"))
	var pe *runtime.PythonError
	fmt.Println(errors.As(err, &pe), pe.Type, i.Err() == nil)

	c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	// Past its deadline the call is interrupted; it unwinds, and the
	// interpreter keeps its state.
	_, err = i.Run(c, runtime.Exec("while True: pass"))
	fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.Is(err, runtime.ErrInterrupted), i.Err() == nil)

	// Past its memory cap Python raises MemoryError, and the interpreter
	// keeps its state too.
	_, err = i.Run(ctx, runtime.Exec("big = bytearray(100 << 20)"))
	fmt.Println(runtime.KindOf(err), errors.As(err, &pe), pe.Type, i.Err() == nil)
	res, _ = i.Run(ctx, runtime.Call("area", 5, 6))
	fmt.Println(string(res.Value))
	// Output:
	// defined
	// 12
	// true ZeroDivisionError true
	// true true true
	// memory_limit true MemoryError true
	// 30
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
		c, err := s.NewInstance(ctx, runtime.CloneOptions{})
		if err != nil {
			fmt.Println(err)
			return
		}
		res, _ := c.Run(ctx, runtime.Eval("(seen.append(1), len(seen))[1]"))
		fmt.Println(string(res.Value)) // each clone starts from the snapshot
		c.Close(ctx)
	}
	// Output:
	// 1
	// 1
}

// A fresh call (a clone reset to its snapshot, then one call) takes the
// code of a source the snapshot has met before from its code cache,
// instead of compiling it.
func ExampleSnapshot_CodeCache() {
	ctx := context.Background()
	r, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close(ctx)
	s, err := r.NewSnapshot(ctx, runtime.SnapshotOptions{CopyOnWrite: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	c, err := s.NewInstance(ctx, runtime.CloneOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	for range 3 {
		if err := c.Reset(ctx); err != nil {
			fmt.Println(err)
			return
		}
		res, _ := c.Run(ctx, runtime.Exec("x = 6 * 7\nx"))
		st := s.CodeCache()
		fmt.Println(string(res.Value), st.Hits, st.Misses)
	}
	// Output:
	// 42 0 1
	// 42 0 2
	// 42 1 2
}

// Files go into the scratch file system with a request, and the files the
// call wrote come back with its result.
func ExampleInstance_Run_files() {
	ctx := context.Background()
	r, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close(ctx)
	i, err := r.NewInstance(ctx, runtime.Options{Limits: runtime.Limits{MaxScratchBytes: 16 << 20}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer i.Close(ctx)

	res, err := i.Run(ctx, runtime.Request{
		Op: runtime.OpExec,
		Code: `
import csv, json, os
rows = list(csv.DictReader(open("data.csv")))
total = sum(float(r["amount"]) for r in rows)
json.dump({"rows": len(rows), "total": total}, open("report.json", "w"))
os.getcwd()`,
		Files: map[string][]byte{"data.csv": []byte("item,amount\napple,1.5\npear,2\n")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(res.Value))
	fmt.Println(string(res.Files["report.json"]))
	// The uploaded file stays in the instance's scratch for its later calls.
	data, _ := fs.ReadFile(i.Scratch(), "data.csv")
	fmt.Println(len(data))
	// Output:
	// "/tmp"
	// {"rows": 2, "total": 3.5}
	// 29
}

// Packages ship Python code with the program; Preload imports it into a
// snapshot, so that every clone starts with it loaded.
func ExamplePackage() {
	ctx := context.Background()
	r, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close(ctx)
	s, err := r.NewSnapshot(ctx, runtime.SnapshotOptions{
		Options: runtime.Options{Packages: []runtime.Package{{Files: map[string]string{
			"units/__init__.py": "from .length import inches\n",
			"units/length.py":   "def inches(cm):\n    return round(cm / 2.54, 2)\n",
		}}}},
		Preload: []string{"units"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	clone, err := s.NewInstance(ctx, runtime.CloneOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer clone.Close(ctx)
	res, _ := clone.Run(ctx, runtime.Call("units.inches", 30))
	fmt.Println(string(res.Value))
	res, _ = clone.Run(ctx, runtime.Eval("__import__('units').__file__"))
	fmt.Println(string(res.Value))
	// Output:
	// 11.81
	// "/packages/0/units/__init__.py"
}
