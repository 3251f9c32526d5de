// Command readme is the program of README.md's "Use" section, kept here so
// that it compiles; main_test.go checks that the two are the same.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

func main() {
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		log.Fatal(err) // `snakepit doctor` tells why
	}
	defer rt.Close(ctx)
	p, err := pool.New(ctx, rt, pool.Options{}) // a fresh interpreter per call by default
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)
	res, err := p.Run(ctx, runtime.Exec("print(sum(range(10)))"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(res.Stdout)) // 45
}
