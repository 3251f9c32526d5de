// Command stdlib-tests runs every test module of CPython's Lib/test inside
// the sandbox, in a fresh instance and in a snapshot clone, and writes the
// results (JSON) and their table (Markdown). `make stdlib-tests` runs it.
//
//	stdlib-tests [-parallel 1] [-timeout 10m] [-memory 1024] [-modules a,b] [-json F] [-md F] [-logs DIR]
//	stdlib-tests -table   # rewrites the Markdown from the JSON only
//
// $SNAKEPIT_STDLIB_DIR selects the interpreter (package stdlibtest).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/stdlibtest"
)

func main() {
	parallel := flag.Int("parallel", 1, "module runs at once (1 or 2)")
	timeout := flag.Duration("timeout", 10*time.Minute, "deadline of each module run")
	memory := flag.Int64("memory", 1024, "memory cap of each module run, MiB")
	modules := flag.String("modules", "", "comma-separated modules to run (default: all)")
	jsonOut := flag.String("json", "wasm/stdlib-tests.json", "results, machine-readable")
	mdOut := flag.String("md", "wasm/STDLIB-TESTS.md", "the table")
	logs := flag.String("logs", "", "directory for each run's full record (tracebacks, output)")
	tableOnly := flag.Bool("table", false, "only rewrite -md from -json")
	update := flag.Bool("update", false, "run -modules again and replace their entries in -json")
	flag.Parse()
	if err := run(*parallel, *timeout, *memory<<20, *modules, *jsonOut, *mdOut, *logs, *tableOnly, *update); err != nil {
		fmt.Fprintln(os.Stderr, "stdlib-tests:", err)
		os.Exit(1)
	}
}

func run(parallel int, timeout time.Duration, memory int64, modules, jsonOut, mdOut, logs string, tableOnly, update bool) error {
	if tableOnly {
		rep, err := stdlibtest.ReadReport(jsonOut)
		if err != nil {
			return err
		}
		return os.WriteFile(mdOut, []byte(stdlibtest.Markdown(rep)), 0o644)
	}
	parallel = min(max(parallel, 1), 2)
	ctx := context.Background()
	dir, testlib, err := stdlibtest.Dirs()
	if err != nil {
		return err
	}
	mods, err := stdlibtest.Modules(testlib)
	if err != nil {
		return err
	}
	if modules != "" {
		mods = strings.Split(modules, ",")
	}
	r, err := stdlibtest.NewRunner(ctx, stdlibtest.Config{Dir: dir, Testlib: testlib, Timeout: timeout, MaxMemory: memory})
	if err != nil {
		return err
	}
	defer r.Close(ctx)
	if logs != "" {
		if err := os.MkdirAll(logs, 0o755); err != nil {
			return err
		}
	}
	b := r.Build()
	rep := &stdlibtest.Report{
		Interpreter: stdlibtest.Interpreter{Dir: dir, PythonVersion: b.PythonVersion, SHA256: b.SHA256},
		Started:     time.Now().UTC(),
		Timeout:     timeout.String(),
		MemoryMiB:   uint64(memory >> 20),
		Parallel:    parallel,
		LoadBefore:  loadavg(),
	}
	byName := map[string]*stdlibtest.Module{}
	if update {
		// The run keeps its header; the modules run again say when.
		if rep, err = stdlibtest.ReadReport(jsonOut); err != nil {
			return err
		}
		for _, m := range rep.Modules {
			byName[m.Module] = m
		}
	}
	for _, m := range mods {
		if byName[m] == nil {
			rep.Modules = append(rep.Modules, &stdlibtest.Module{Module: m})
			byName[m] = rep.Modules[len(rep.Modules)-1]
		}
		if update {
			*byName[m] = stdlibtest.Module{Module: m, Rerun: time.Now().UTC().Format(time.DateTime)}
		}
	}
	start := time.Now()
	type job struct {
		module string
		mode   stdlibtest.Mode
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	done := 0
	for range parallel {
		wg.Go(func() {
			for j := range jobs {
				res, err := r.Run(ctx, j.module, j.mode)
				mu.Lock()
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
					continue
				}
				if logs != "" {
					writeLog(filepath.Join(logs, j.module+"."+string(j.mode)+".json"), res)
				}
				m := byName[j.module]
				if j.mode == stdlibtest.Fresh {
					m.Fresh = res
				} else {
					m.Clone = res
				}
				done++
				fmt.Printf("[%d/%d] %-40s %-5s %-10s run %4d fail %3d err %3d skip %4d %6.1fs %s\n", done, 2*len(mods), j.module, j.mode, res.Status, res.Run, res.Failures, res.Errors, res.Skipped, res.Seconds, res.Reason)
				if m.Fresh != nil && m.Clone != nil && !update {
					rep.Finish(time.Now().UTC(), loadavg())
					if err := rep.Write(jsonOut); err != nil {
						firstErr = cmpOr(firstErr, err)
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, m := range mods {
		// Both modes of a module back to back: with -parallel 2 they run
		// side by side under the same load.
		jobs <- job{m, stdlibtest.Fresh}
		jobs <- job{m, stdlibtest.Clone}
	}
	close(jobs)
	wg.Wait()
	if !update {
		rep.Finish(time.Now().UTC(), loadavg())
	}
	if err := rep.Write(jsonOut); err != nil {
		return err
	}
	if err := os.WriteFile(mdOut, []byte(stdlibtest.Markdown(rep)), 0o644); err != nil {
		return err
	}
	s := rep.Summary()
	fmt.Printf("%d modules: %d clean in both modes, %d disagree; %s\n", len(rep.Modules), s.CleanBoth, len(s.Disagree), time.Since(start).Round(time.Second))
	return firstErr
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func writeLog(path string, res *stdlibtest.Result) {
	b, _ := json.MarshalIndent(struct {
		*stdlibtest.Result
		Stdout string `json:"stdout"`
		Stderr string `json:"stderr"`
	}{res, res.Stdout, res.Stderr}, "", " ")
	_ = os.WriteFile(path, b, 0o644)
}

// loadavg is the machine's load average as uptime prints it, for the report.
func loadavg() string {
	out, err := exec.Command("uptime").Output()
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(out))
	if i := strings.Index(s, "load average"); i >= 0 {
		return s[i:]
	}
	return s
}
