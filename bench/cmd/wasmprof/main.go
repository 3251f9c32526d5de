// Command wasmprof runs the benchmark's CPU suite inside python.wasm so that
// perf can attribute the time to wasm functions. Built with `-tags perfmap`,
// wazero writes /tmp/perf-PID.map naming each compiled function, from the
// module's name section: give it a python.wasm linked with --strip-debug
// rather than --strip-all (`make profile` does all of this).
//
//	wasmprof -dir BUILD [-rounds N] [-program NAME | -code FILE] [-none] [-budget N]
//
// -code runs a file of one's own instead of the suite: it must define run().
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/snakepit-wasm/snakepit/internal/knobs"
	"log"
	"os"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/bench/programs"
	"github.com/snakepit-wasm/snakepit/runtime"
)

func main() {
	dir := flag.String("dir", "", "a local build whose python.wasm keeps its name section")
	rounds := flag.Int("rounds", 3, "runs of each program")
	only := flag.String("program", "", "run only this program")
	budget := flag.Int("budget", 0, "the yield budget (knobs.YieldBudget; 0: the default)")
	code := flag.String("code", "", "a Python file defining run(), profiled instead of the suite")
	none := flag.Bool("none", false, "compile no stop mechanism (knobs.None), to see what the checks cost")
	flag.Parse()
	ctx := context.Background()
	// A fresh compilation cache: wazero names functions in the perf map only
	// when it compiles them.
	cache, err := os.MkdirTemp("", "wasmprof-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(cache)
	cfg := runtime.Config{Dir: *dir, CompilationCacheDir: cache}
	k := knobs.Knobs{YieldBudget: int32(*budget)}
	if *none {
		k.Interrupt = knobs.None
	}
	rt, err := runtime.New(knobs.With(ctx, k), cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)
	inst, err := rt.NewInstance(ctx, runtime.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer inst.Close(ctx)
	progs := programs.All()
	if *code != "" {
		src, err := os.ReadFile(*code)
		if err != nil {
			log.Fatal(err)
		}
		progs = []programs.Program{{Name: *code, Source: string(src)}}
	}
	for _, p := range progs {
		if *only != "" && p.Name != *only {
			continue
		}
		if _, err := inst.Run(ctx, runtime.Exec(p.Source)); err != nil {
			log.Fatalf("%s: %v", p.Name, err)
		}
		t0 := time.Now()
		for range *rounds {
			if _, err := inst.Run(ctx, runtime.Call("run")); err != nil {
				log.Fatalf("%s: %v", p.Name, err)
			}
		}
		fmt.Printf("%-16s %v per run\n", p.Name, time.Since(t0)/time.Duration(*rounds))
	}
}
