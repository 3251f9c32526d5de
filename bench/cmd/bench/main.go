// Command bench compares snakepit-wasm with two native baselines, pools of
// CPython processes (internal/bench/native): one built from python.wasm's
// own CPython source (the compiler-to-compiler comparison), and Debian
// trixie's python3.13, built with PGO and LTO, what users run (installed by
// `make bench-debian`; without it the run says so and leaves its ratios
// out). Besides the call, CPU, start-up and memory workloads it runs real
// code over pure-Python libraries (internal/bench/libs) and single
// operations (levers: compile, unmarshal, the tick). It writes results.md,
// results.json and chart.svg to -out: by default
// bench/results for a full run (the published results), bench/results/quick
// for -quick (so that a quick check never overwrites them) and a temporary
// directory for -smoke.
//
// Both sides run the same Python source for each workload, are warmed the
// same way, and are measured in turns (ours, native, native, ours, ...) so
// that the noise of a shared machine hits both. Every measure is repeated
// and the median across repetitions is quoted.
//
//	go run ./bench/cmd/bench          # the full run: about 9 minutes on 2 cores
//	go run ./bench/cmd/bench -quick   # about 70 s: fewer repetitions and callers, into bench/results/quick
//	go run ./bench/cmd/bench -render  # rewrite results.md and chart.svg from results.json
//	go run ./bench/cmd/bench -phases cpu,libs   # some phases only, into a temporary directory
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config says what to measure and how many times.
type config struct {
	Mode        string        // "full", "quick" or "smoke"
	Args        []string      // the command line's flags, for the report
	Out         string        // output directory
	Reps        int           // repetitions of the latency, start-up, import and callback measures
	CPUReps     int           // repetitions of the CPU-bound suite (after one warm-up pass)
	ColdReps    int           // repetitions (among Reps) that also compile with an empty cache; 0 skips
	Callers     []int         // concurrent callers for workloads 1-3
	Duration    time.Duration // length of one latency measurement (one side, one caller count)
	Warmup      time.Duration // warm-up of each latency series before the first repetition
	Programs    []string      // CPU programs to run; empty means all
	Libs        []string      // real-code workloads to run; empty means all
	Phases      []string      // phases to run (see phaseNames); empty means all
	VariantReps int           // runs of the CPU suite under each other interrupt mechanism (and the default, in turns); 0 skips
	Iters       int           // import-heavy runs and callback calls per side and repetition
	Callbacks   int           // host callbacks per call in workload 6
	MemWorkers  int           // workers of the idle-memory pools
	Sessions    int           // parked sessions on a ModeSession pool of 2, for the idle-memory rows
	ShortenNote string        // what the mode leaves out, for the report
}

func presetConfig(mode string) config {
	switch mode {
	case "quick":
		return config{Mode: mode, Reps: 2, CPUReps: 1, ColdReps: 1, Callers: []int{1, 4},
			Duration: 250 * time.Millisecond, Warmup: 100 * time.Millisecond,
			VariantReps: 1, Iters: 3, Callbacks: 1000, MemWorkers: 4, Sessions: 200,
			ShortenNote: "quick mode: 200 parked sessions (1,000 in the full run), 2 repetitions (1 for the CPU suite, its interrupt variants and the empty-cache compile), callers 1 and 4 only, 250 ms per latency measurement; the full run uses 5 repetitions (3 for the interrupt variants and the empty-cache compile), callers 1, 2, 4, 8 and 2 s per measurement"}
	case "smoke":
		return config{Mode: mode, Reps: 1, CPUReps: 1, ColdReps: 0, Callers: []int{1},
			Duration: 30 * time.Millisecond, Warmup: 10 * time.Millisecond,
			Programs: []string{"fib"}, Libs: []string{"classes"}, Iters: 1, Callbacks: 50, MemWorkers: 1, Sessions: 4,
			ShortenNote: "smoke mode (a test of the harness, not a benchmark): 1 repetition, 1 caller, 30 ms measurements, only the fib program, no empty-cache compile, no interrupt variants"}
	}
	return config{Mode: "full", Reps: 5, CPUReps: 5, ColdReps: 3, Callers: []int{1, 2, 4, 8},
		Duration: 2 * time.Second, Warmup: 300 * time.Millisecond,
		VariantReps: 3, Iters: 5, Callbacks: 1000, MemWorkers: 4, Sessions: 1000}
}

func main() {
	quick := flag.Bool("quick", false, "a short run (under 2 minutes): fewer repetitions and caller counts")
	smoke := flag.Bool("smoke", false, "a tiny run that only checks the harness works (used by the test)")
	out := flag.String("out", "", "directory for results.md, results.json and chart.svg (default bench/results, -quick bench/results/quick, -smoke a temporary directory)")
	reps := flag.Int("reps", 0, "repetitions of each measure (default 5, -quick 2)")
	cpuReps := flag.Int("cpu-reps", 0, "repetitions of the CPU-bound suite (default 5, -quick 1)")
	callers := flag.String("callers", "", "comma-separated concurrent caller counts (default 1,2,4,8, -quick 1,4)")
	duration := flag.Duration("duration", 0, "length of each latency measurement (default 2s, -quick 250ms)")
	progs := flag.String("programs", "", "comma-separated CPU programs to run (default all)")
	libsFlag := flag.String("libs", "", "comma-separated real-code workloads to run (default all)")
	phases := flag.String("phases", "", "comma-separated phases to run, of "+strings.Join(phaseNames, ",")+" (default all; a partial run writes to a temporary directory unless -out says otherwise)")
	noVariants := flag.Bool("no-variants", false, "skip the CPU suite under the other interrupt mechanisms")
	noCold := flag.Bool("no-cold", false, "skip runtime.New with an empty compilation cache")
	renderOnly := flag.Bool("render", false, "measure nothing: rewrite results.md and chart.svg from -out's results.json")
	flag.Parse()
	if *renderOnly {
		if err := render(cmp.Or(*out, defaultOut("full"))); err != nil {
			fatalf("%v", err)
		}
		return
	}

	mode := "full"
	switch {
	case *smoke:
		mode = "smoke"
	case *quick:
		mode = "quick"
	}
	cfg := presetConfig(mode)
	cfg.Out, cfg.Args = cmp.Or(*out, defaultOut(mode)), os.Args[1:]
	if *reps > 0 {
		cfg.Reps, cfg.ColdReps = *reps, min(cfg.ColdReps, *reps)
	}
	if *cpuReps > 0 {
		cfg.CPUReps = *cpuReps
	}
	if *callers != "" {
		cs, err := parseInts(*callers)
		if err != nil {
			fatalf("-callers: %v", err)
		}
		cfg.Callers = cs
	}
	if *duration > 0 {
		cfg.Duration = *duration
	}
	if *progs != "" {
		cfg.Programs = strings.Split(*progs, ",")
	}
	if *libsFlag != "" {
		cfg.Libs = strings.Split(*libsFlag, ",")
	}
	if *phases != "" {
		cfg.Phases = strings.Split(*phases, ",")
		for _, ph := range cfg.Phases {
			if !slices.Contains(phaseNames, ph) {
				fatalf("-phases: no phase %q (%s)", ph, strings.Join(phaseNames, ","))
			}
		}
	}
	if len(cfg.Phases) > 0 && *out == "" {
		// A partial run never replaces a mode's results.
		cfg.Out = filepath.Join(os.TempDir(), "snakepit-bench-partial")
	}
	if *noVariants {
		cfg.VariantReps = 0
	}
	if *noCold {
		cfg.ColdReps = 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, cfg, os.Stderr)
	if err != nil {
		fatalf("%v", err)
	}
	fmt.Fprintf(os.Stderr, "done in %s: %s\n", time.Duration(res.Meta.Seconds*float64(time.Second)).Round(time.Second),
		filepath.Join(cfg.Out, "results.md"))
}

// defaultOut is where a mode writes without -out: only a full run replaces
// the published results.
func defaultOut(mode string) string {
	switch mode {
	case "quick":
		return filepath.Join("bench", "results", "quick")
	case "smoke":
		return filepath.Join(os.TempDir(), "snakepit-bench-smoke")
	}
	return filepath.Join("bench", "results")
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// run measures everything cfg asks for, writes the three files to cfg.Out
// and returns the results. Progress goes to logw.
func run(ctx context.Context, cfg config, logw io.Writer) (*Results, error) {
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	b, err := newBench(ctx, cfg, logw)
	if err != nil {
		return nil, err
	}
	defer b.close()
	phases := []struct {
		key, name string
		f         func(context.Context) error
	}{
		{"start", "cold start", b.coldStart},
		{"latency", "latency (workloads 1-3)", b.latency},
		{"imports", "import-heavy script (workload 5)", b.imports},
		{"callbacks", "host callbacks (workload 6)", b.callbacks},
		{"scratch", "scratch files (workload 7)", b.scratchFiles},
		{"memory", "idle memory", b.idleMemory},
		{"cpu", "CPU-bound suite (workload 4)", b.cpuSuite},
		{"libs", "real code (pure-Python libraries)", b.realCode},
		{"levers", "levers: single operations, fresh calls without compiling", b.levers},
	}
	for _, ph := range phases {
		if len(cfg.Phases) > 0 && !slices.Contains(cfg.Phases, ph.key) {
			continue
		}
		load := loadAvg()
		b.res.Meta.PhaseLoads = append(b.res.Meta.PhaseLoads, ph.key+" "+load)
		b.logf("== %s (load %s)", ph.name, load)
		if err := ph.f(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", ph.name, err)
		}
	}
	b.finish()
	if err := writeResults(cfg.Out, b.res); err != nil {
		return nil, err
	}
	return b.res, nil
}

// phaseNames are the keys of -phases, in the order they run.
var phaseNames = []string{"start", "latency", "imports", "callbacks", "scratch", "memory", "cpu", "libs", "levers"}

// progress prints what runs, with the time since the start, to stderr.
type progress struct {
	w     io.Writer
	start time.Time
}

func (p *progress) logf(format string, args ...any) {
	fmt.Fprintf(p.w, "[%7.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}
