package adapter_test

import (
	"context"
	"fmt"

	"github.com/snakepit-wasm/snakepit/adapter"
	"github.com/snakepit-wasm/snakepit/runtime"
)

var exampleRuntime *runtime.Runtime

// exampleInstance is an interpreter that has imported a package from source.
func exampleInstance(ctx context.Context) *runtime.Instance {
	if exampleRuntime == nil {
		rt, err := runtime.New(ctx, runtime.Config{})
		if err != nil {
			panic(err)
		}
		exampleRuntime = rt
	}
	inst, err := exampleRuntime.NewInstance(ctx, runtime.Options{Packages: []runtime.Package{{Files: map[string]string{
		"greet.py": `
import snakepit
from typing import Iterator

@snakepit.export
def greet(name: str, excited: bool = False) -> str:
    """Greets someone."""
    return "Hello, " + name + ("!" if excited else ".")

@snakepit.export
def count(n: int) -> Iterator[int]:
    yield from range(n)
`}}}})
	if err != nil {
		panic(err)
	}
	if _, err := inst.Run(ctx, runtime.Exec("import greet")); err != nil {
		panic(err)
	}
	return inst
}

func Example() {
	ctx := context.Background()
	inst := exampleInstance(ctx)
	defer inst.Close(ctx)

	cat, err := adapter.Catalog(ctx, inst)
	if err != nil {
		panic(err)
	}
	for _, f := range cat {
		fmt.Printf("%s: %s %s\n", f.Name, f.Description, f.Input)
	}
	s, err := adapter.Call[string](ctx, inst, "greet", map[string]any{"name": "Ada", "excited": true})
	fmt.Println(s, err)
	_, err = adapter.Call[string](ctx, inst, "greet", map[string]any{"name": 42})
	fmt.Println(err)
	// Output:
	// count:  {"type":"object","properties":{"n":{"type":"integer"}},"required":["n"],"additionalProperties":false}
	// greet: Greets someone. {"type":"object","properties":{"name":{"type":"string"},"excited":{"type":"boolean","default":false}},"required":["name"],"additionalProperties":false}
	// Hello, Ada! <nil>
	// greet: bad arguments: argument name: expected string, got integer
}
