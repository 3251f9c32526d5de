package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Results is everything measured; results.json is its encoding. Times are
// in microseconds, memory in bytes.
type Results struct {
	Meta       Meta
	Latency    []*LatencyResult // workloads 1-3
	Samples    []*Sample        // workloads 5, 6 and 7
	CPU        []*CPUResult     // workload 4
	CPUGeo     float64          // geometric mean of the CPU suite's ratios ours/native (CPU time)
	CPUGeoWall float64          // the same of wall time
	// The same against Debian's python3.13, when it was measured.
	CPUGeoDebian, CPUGeoWallDebian float64
	Libs                           []*LibResult // the real-code workloads
	LibGeo                         []LibGeo
	Levers                         []*LeverResult   // programs.Levers, per operation
	FreshCode                      []*LatencyResult // fresh calls: code cache vs compile
	ColdStart                      []*Sample
	Memory                         []*MemoryResult
	Notes                          []string
	Preloaded                      []string // modules in a fresh snakepit interpreter but not in a fresh native one
}

// PyInfo is a CPython's version and build.
type PyInfo struct {
	Version string
	CC, Opt string
	PGO     bool // built with --enable-optimizations or a -fprofile-use of its own
	LTO     bool // built with --with-lto
}

// builtWith says which of PGO and LTO p was built with, for a sentence.
func (p PyInfo) builtWith() string {
	opts := map[[2]bool]string{{false, false}: "without PGO or LTO", {false, true}: "with LTO, without PGO", {true, false}: "with PGO, without LTO", {true, true}: "with PGO and LTO"}
	return opts[[2]bool{p.PGO, p.LTO}]
}

func (p PyInfo) String() string {
	return fmt.Sprintf("CPython %s, built by %s %s %s", firstField(p.Version), p.CC, p.Opt, p.builtWith())
}

// Meta describes the run and the machine.
type Meta struct {
	Date               string
	Mode               string
	Config             config
	GoVersion          string
	CPUModel           string
	Cores              int
	GOMAXPROCS         int
	MemoryBytes        uint64
	Kernel             string
	LoadStart, LoadEnd string
	PhaseLoads         []string // each phase's key and the load average as it began
	Ours, Native       PyInfo
	NativePath         string
	Debian             *PyInfo // nil: not installed, not measured
	DebianPath         string
	Interrupt          string
	Seconds            float64
	start              time.Time
}

type LatencyResult struct {
	Workload string
	Side     string
	Callers  int
	PoolSize int // 0: no pool, an interpreter or process per call
	Reps     []LatencyRep
	// Medians across repetitions.
	P50us, P99us, OpsPerSec float64
}

type LatencyRep struct {
	Ops                     int
	P50us, P99us, OpsPerSec float64
}

// Sample is a measure repeated Reps times; Median is quoted.
type Sample struct {
	Name, Side, Unit string
	Reps             []float64
	Median           float64
}

type CPUResult struct {
	Program                      string
	OursUs, NativeUs             []float64 // wall time of each call
	OursMedianUs, NativeMedianUs float64
	// CPU time of each call: ours is the whole measuring process's,
	// native the worker process's.
	OursCPUUs, NativeCPUUs             []float64
	OursCPUMedianUs, NativeCPUMedianUs float64
	Ratio                              float64 // ours / native, CPU time medians
	WallRatio                          float64 // ours / native, wall time medians
	// Debian's python3.13, when measured (in the same turns).
	DebianUs, DebianCPUUs             []float64
	DebianMedianUs, DebianCPUMedianUs float64
	RatioDebian, WallRatioDebian      float64
	// Interrupt holds the runs under each stop mechanism (the default
	// too), measured in turns after the main repetitions.
	Interrupt map[string][]float64
	Checksum  string
	Match     bool
}

// MemoryResult is our process's memory (Base*: just before the workers
// started) or, for the native side, the sum over its worker processes.
type MemoryResult struct {
	Name             string
	Side             string
	Workers          int
	RSS, PSS         uint64
	BaseRSS, BasePSS uint64
}

func machineMeta(cfg config) Meta {
	m := Meta{
		Date: time.Now().Format("2006-01-02 15:04 MST"), Mode: cfg.Mode, Config: cfg,
		GoVersion: goruntime.Version(), Cores: goruntime.NumCPU(), GOMAXPROCS: goruntime.GOMAXPROCS(0),
		LoadStart: loadAvg(), start: time.Now(),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb uint64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryBytes = kb << 10
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// finish completes the results once everything is measured.
func (b *bench) finish() {
	m := &b.res.Meta
	m.LoadEnd = loadAvg()
	m.Seconds = time.Since(m.start).Seconds()
	var ratios, wall, dr, dw []float64
	for _, r := range b.res.CPU {
		ratios, wall = append(ratios, r.Ratio), append(wall, r.WallRatio)
		if r.RatioDebian > 0 {
			dr, dw = append(dr, r.RatioDebian), append(dw, r.WallRatioDebian)
		}
	}
	b.res.CPUGeo, b.res.CPUGeoWall = geomean(ratios), geomean(wall)
	b.res.CPUGeoDebian, b.res.CPUGeoWallDebian = geomean(dr), geomean(dw)
	if b.cfg.ShortenNote != "" {
		b.res.Notes = append(b.res.Notes, b.cfg.ShortenNote)
	}
}

// selfMemory returns our process's RSS and PSS after a garbage collection
// that returns free heap to the OS (so that Go garbage is not counted).
func selfMemory() Mem {
	goruntime.GC()
	debug.FreeOSMemory()
	var m Mem
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return m
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "Rss":
			m.RSS = kb << 10
		case "Pss":
			m.PSS = kb << 10
		}
	}
	return m
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func geomean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += math.Log(x)
	}
	return math.Exp(sum / float64(len(xs)))
}

func mapf[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// fmtUs formats microseconds with a unit fitting the magnitude.
func fmtUs(v float64) string {
	switch {
	case v == 0:
		return "–"
	case v < 10:
		return fmt.Sprintf("%.2f µs", v)
	case v < 1000:
		return fmt.Sprintf("%.0f µs", v)
	case v < 10_000:
		return fmt.Sprintf("%.2f ms", v/1e3)
	case v < 1_000_000:
		return fmt.Sprintf("%.1f ms", v/1e3)
	}
	return fmt.Sprintf("%.2f s", v/1e6)
}

func fmtBytes(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func fmtRatio(r float64) string {
	switch {
	case r == 0 || math.IsNaN(r) || math.IsInf(r, 0):
		return "–"
	case r < 0.1:
		return fmt.Sprintf("%.3f×", r)
	case r < 10:
		return fmt.Sprintf("%.2f×", r)
	}
	return fmt.Sprintf("%.0f×", r)
}

// render rewrites results.md and chart.svg from the results.json in dir.
func render(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	return writeResults(dir, &r)
}

func writeResults(dir string, r *Results) error {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"results.json": append(js, '\n'),
		"results.md":   []byte(markdown(r)),
		"chart.svg":    []byte(chart(r)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// nativeOf finds the native row matching an ours row.
func nativeOf(rows []*LatencyResult, r *LatencyResult) *LatencyResult { return sideOf(rows, r, nat) }

// sideOf finds side's row matching r.
func sideOf(rows []*LatencyResult, r *LatencyResult, side string) *LatencyResult {
	for _, n := range rows {
		if n.Side == side && n.Workload == r.Workload && n.Callers == r.Callers {
			return n
		}
	}
	return nil
}

func sampleOf(rows []*Sample, name, side string) *Sample {
	for _, s := range rows {
		if s.Name == name && s.Side == side {
			return s
		}
	}
	return nil
}

func markdown(r *Results) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	m := r.Meta
	cfg := m.Config
	p("# snakepit-wasm vs native CPython")
	p("")
	cmd := strings.Join(append([]string{"go run ./bench/cmd/bench"}, cfg.Args...), " ")
	if cfg.Args == nil && m.Mode != "full" {
		cmd += " -" + m.Mode
	}
	p("Generated by `%s` on %s, in %s.", cmd, m.Date, time.Duration(m.Seconds*float64(time.Second)).Round(time.Second))
	p("")
	p("| | |")
	p("| --- | --- |")
	p("| machine | %s, %d cores (GOMAXPROCS %d), %.1f GiB RAM, %s |", m.CPUModel, m.Cores, m.GOMAXPROCS, float64(m.MemoryBytes)/(1<<30), m.Kernel)
	p("| load average (1, 5, 15 min) | at start %s, at end %s |", m.LoadStart, m.LoadEnd)
	if len(m.PhaseLoads) > 0 {
		p("| load average as each phase began | %s |", strings.Join(m.PhaseLoads, "; "))
	}
	p("| Go | %s |", m.GoVersion)
	p("| snakepit-wasm | %s; python.wasm on wazero, interrupt=%s |", m.Ours, m.Interrupt)
	p("| native baseline | %s; same source tree; run as `python3.13 -I -S`, internal/bench/native pool over pipes |", m.Native)
	if m.Debian != nil {
		p("| Debian baseline | %s (sysconfig's flags are those of Debian's shared libpython; debian/rules builds the executable with profile-opt and `-O3 -flto`): Debian trixie's python3.13-minimal, what the distribution's users run; `%s -I -S` |", m.Debian, m.DebianPath)
	} else {
		p("| Debian baseline | not measured: Debian's python3.13 was not installed (`make bench-debian`) |")
	}
	p("| method | %d repetitions (CPU suite: %d after a warm-up pass), medians across repetitions quoted; latency measurements of %s per side and caller count, after a %s warm-up; sides measured in turns, order alternating |",
		cfg.Reps, cfg.CPUReps, cfg.Duration, cfg.Warmup)
	p("")
	for _, n := range r.Notes {
		p("> %s", n)
		p("")
	}
	p("## How to read")
	p("")
	p("Each workload runs the same Python source on both sides. *snakepit* is this library: CPython compiled to WebAssembly, each worker a wazero instance inside the Go process. *native* is the baseline a careful Go engineer would otherwise write: a pool of long-lived native `python3.13` processes spoken to over pipes (or a new process per call), built from the same CPython source as python.wasm; *Debian* is the same pool running Debian's own python3.13 (PGO and LTO), what users run, and the *vs Debian* columns are the ratios against it. Latencies are per call as a caller sees it, queueing included; p50/p99 are taken over all calls of one measurement, then the median across repetitions is quoted (a p99 over fewer than 100 calls is close to the maximum). Throughput is completed calls per second over all callers. *p50 ratio* (and every time ratio) is snakepit / native: below 1 snakepit is faster, above 1 native is; *calls/s ratio* is snakepit / native throughput: above 1 snakepit serves more. The CPU suite shows the cost of running Python bytecode in WebAssembly; the other workloads show the cost of getting a call into and out of an interpreter. On this %d-core machine, pools have min(callers, %d) workers on both sides; more callers than workers queue.", m.Cores, m.Cores)
	p("")

	p("## Workloads 1-3: call latency and throughput")
	p("")
	p("1. *fresh x = 1*: a new interpreter per call running `x = 1`. snakepit: a ModeFresh pool (`Run` of an exec on a clean snapshot clone; used clones are reset in place in the background, `Instance.Reset`); snakepit raw clone: `snapshot.NewInstance` + `Exec` on the caller's goroutine, no pool (closing the clone is untimed); native: `python3.13 -I -S -c 'x = 1'`, a process per call.")
	p("2. *warm add(1, 2)*: a call with tiny JSON arguments on a warm worker (ModeWarm pool; native pool `Call`).")
	p("3. *echo 1KB/100KB JSON*: `echo(x)` returning its argument, a list of records of about 1 KB or 100 KB as JSON, decoded and re-encoded by CPython's json on both sides.")
	p("")
	p("| workload | callers | side | workers | p50 | p99 | calls/s | p50 ratio | calls/s ratio | p50 vs Debian | calls/s vs Debian |")
	p("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, row := range r.Latency {
		ratio, tratio, dratio, dtratio := "", "", "", ""
		if row.Side != nat && row.Side != deb {
			if n := nativeOf(r.Latency, row); n != nil {
				ratio, tratio = fmtRatio(row.P50us/n.P50us), fmtRatio(row.OpsPerSec/n.OpsPerSec)
			}
			if d := sideOf(r.Latency, row, deb); d != nil {
				dratio, dtratio = fmtRatio(row.P50us/d.P50us), fmtRatio(row.OpsPerSec/d.OpsPerSec)
			}
		}
		workers := fmt.Sprint(row.PoolSize)
		if row.PoolSize == 0 {
			workers = "per call"
		}
		p("| %s | %d | %s | %s | %s | %s | %.0f | %s | %s | %s | %s |", row.Workload, row.Callers, row.Side, workers,
			fmtUs(row.P50us), fmtUs(row.P99us), row.OpsPerSec, ratio, tratio, dratio, dtratio)
	}
	p("")

	p("## Workload 4: CPU-bound suite")
	p("")
	p("Each program's `run()` on a warm worker (snakepit: a ModeWarm pool of 1 worker; native: a pool of 1 process), loaded by the same setup source on both sides, the two sides in turns and, in each repetition, on the same one CPU (the next CPU each repetition: a VM's virtual CPUs need not be equally fast); the checksums `run()` returns must agree. Time of one `run()` call, median of %d repetitions after one warm-up pass. The ratio is of CPU time: snakepit's is the whole measuring process's (guest, pool, Go runtime), native's the worker process's; wall time, which on a shared VM also counts the time a side waited for a CPU, is in the next columns.", cfg.CPUReps)
	variants := cfg.VariantReps > 0 && len(r.CPU) > 0 && r.CPU[0].Interrupt != nil
	vmed := func(c *CPUResult, m string) float64 { return median(c.Interrupt[m]) }
	if variants {
		p("The last two columns are snakepit under the other stop mechanisms, median CPU time of %d run(s) each, measured in turns with as many runs of the default (`%s`), which are the reference of their geometric-mean row: `none` compiles no stop mechanism (a guest can then be neither stopped nor preempted), `close-on-done` is wazero's `WithCloseOnContextDone` (a check at every loop and function entry).", cfg.VariantReps, m.Interrupt)
	}
	p("")
	// The interrupt columns sit before the last (checksums) when measured.
	row := func(cells []string, extra ...string) {
		last := len(cells) - 1
		if variants {
			cells = append(slices.Clone(cells[:last]), append(extra, cells[last])...)
		}
		line := "|"
		for _, c := range cells {
			line += strings.TrimSuffix(" "+c, " ") + " |"
		}
		p("%s", line)
	}
	row([]string{"program", "snakepit CPU", "native CPU", "ratio", "Debian CPU", "ratio vs Debian", "snakepit wall", "native wall", "wall ratio", "checksums"},
		"interrupt=none", "interrupt=close-on-done")
	row([]string{"---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---"}, "---:", "---:")
	var noneR, codR []float64
	for _, c := range r.CPU {
		ok := "match"
		if !c.Match {
			ok = "**MISMATCH**"
		}
		var extra []string
		if variants {
			def := vmed(c, m.Interrupt)
			noneR, codR = append(noneR, vmed(c, "none")/def), append(codR, vmed(c, "close-on-done")/def)
			extra = []string{fmtUs(vmed(c, "none")), fmtUs(vmed(c, "close-on-done"))}
		}
		row([]string{c.Program, fmtUs(c.OursCPUMedianUs), fmtUs(c.NativeCPUMedianUs), fmtRatio(c.Ratio),
			fmtUs(c.DebianCPUMedianUs), fmtRatio(c.RatioDebian),
			fmtUs(c.OursMedianUs), fmtUs(c.NativeMedianUs), fmtRatio(c.WallRatio), ok}, extra...)
	}
	var extra []string
	if variants {
		extra = []string{fmtRatio(geomean(noneR)) + " of " + m.Interrupt, fmtRatio(geomean(codR)) + " of " + m.Interrupt}
	}
	row([]string{"**geometric mean**", "", "", "**" + fmtRatio(r.CPUGeo) + "**", "", "**" + fmtRatio(r.CPUGeoDebian) + "**", "", "", fmtRatio(r.CPUGeoWall), ""}, extra...)
	p("")
	var fastest []float64
	for _, c := range r.CPU {
		if len(c.OursCPUUs) > 0 && len(c.NativeCPUUs) > 0 {
			fastest = append(fastest, slices.Min(c.OursCPUUs)/slices.Min(c.NativeCPUUs))
		}
	}
	p("Of each side's fastest call instead of its median (CPU time), the geometric mean is %s (on this VM a side's CPU time per call can vary between repetitions, and the two summaries then differ).", fmtRatio(geomean(fastest)))
	p("")

	p("## Workloads 5, 6 and 7")
	p("")
	p("5. *import-heavy script*: internal/bench/programs/imports.py (argparse, email, decimal, json, logging, pathlib, tomllib, ...) executed in a fresh interpreter: snakepit clones a snapshot taken **without** preloads and execs the script (clone included in the time); native starts `python3.13 -I -S -c <script>` and waits for it to exit. Median of %d runs per repetition.", cfg.Iters)
	p("6. *host callback*: one call whose Python loop calls the host %d times (`snakepit.call('tool', i)` answered by a Go `HostFunc` via `Request.Host`; native: `host_call(i)` answered by the `CallWithCallback` callback); the call's time divided by %d. Median of %d calls per repetition.", cfg.Callbacks, cfg.Callbacks, cfg.Iters)
	p("7. *scratch files*: one call that writes a 10 MB file in the working directory in 64 KB chunks and reads it back in 64 KB reads: snakepit's in-memory scratch file system (/tmp, the default), native a directory on tmpfs (/dev/shm). Median of %d calls per repetition.", cfg.Iters)
	p("")
	p("| workload | snakepit | native | ratio | Debian | ratio vs Debian | snakepit per repetition | native per repetition |")
	p("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
	for _, s := range r.Samples {
		if s.Side != ours {
			continue
		}
		n := sampleOf(r.Samples, s.Name, nat)
		dm, dratio := "–", "–"
		if d := sampleOf(r.Samples, s.Name, deb); d != nil {
			dm, dratio = fmtUs(d.Median), fmtRatio(s.Median/d.Median)
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s |", s.Name, fmtUs(s.Median), fmtUs(n.Median), fmtRatio(s.Median/n.Median), dm, dratio, fmtList(s.Reps), fmtList(n.Reps))
	}
	p("")

	realCodeSection(p, r)
	leverSection(p, r)

	p("## Start-up")
	p("")
	p("Pools have %d workers (one per core). `runtime.New` compiles python.wasm to machine code, or loads it from the compilation cache; with an empty cache (a fresh temporary directory) the first ModeFresh pool also compiles the module variant that clones use. The native interpreter needs no compilation, and its binary is in the OS page cache (so is python.wasm). `pool.New` returns when every worker is ready; in every mode it includes taking the snapshot its workers are cloned from (one interpreter initialised and frozen). Median across repetitions%s.", m.Cores, coldNote(cfg))
	p("")
	p("| what | side | median | per repetition |")
	p("| --- | --- | ---: | --- |")
	for _, s := range r.ColdStart {
		p("| %s | %s | %s | %s |", s.Name, s.Side, fmtUs(s.Median), fmtList(s.Reps))
	}
	p("")

	p("## Memory per worker")
	p("")
	p("snakepit: the RSS and PSS of the whole Go process (read from /proc/self/smaps_rollup after a GC that returns free heap to the OS) divided by the workers; it includes the Go runtime, the compiled python.wasm code and this harness, which one worker must carry alone. *Δ PSS* is the growth of the process's PSS since just before the pool started, divided by the workers: the marginal cost of a worker. In the ModeSession row, the workers are the parked sessions' interpreters (and the pool's 2 spare workers count with them). native: the sum over the worker processes (internal/bench/native `Pool.Memory`), divided by the workers; PSS splits the pages they share (the interpreter's code), the Go process driving them is not counted.")
	p("")
	p("| state | workers | snakepit RSS/worker | snakepit PSS/worker | snakepit Δ PSS/worker | native RSS/worker | native PSS/worker |")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	var names []string
	for _, mr := range r.Memory {
		if !slices.Contains(names, mr.Name) {
			names = append(names, mr.Name)
		}
	}
	for _, name := range names {
		cells := []string{"–", "–", "–", "–", "–"}
		var workers int
		for _, mr := range r.Memory {
			if mr.Name != name {
				continue
			}
			workers = mr.Workers
			per := func(v uint64) string { return fmtBytes(v / uint64(mr.Workers)) }
			if mr.Side == nat {
				cells[3], cells[4] = per(mr.RSS), per(mr.PSS)
			} else {
				cells[0], cells[1] = per(mr.RSS), per(mr.PSS)
				cells[2] = fmt.Sprintf("%.1f MiB", (float64(mr.PSS)-float64(mr.BasePSS))/float64(mr.Workers)/(1<<20))
			}
		}
		p("| %s | %d | %s |", name, workers, strings.Join(cells, " | "))
	}
	p("")
	p("## Fairness notes")
	p("")
	p("- snakepit and the native baseline are CPython %s from the same source, both `-O3`; python.wasm is built %s, the native baseline %s (see the table at the top): that ratio compares the compilers. Debian's python3.13 is what users run (PGO and LTO by Debian); its ratio is the one a user sees. Its interpreter is started through trixie's own dynamic loader with `--library-path` when the host's glibc is older than trixie's, which changes how it is loaded, not the code it runs.", firstField(m.Native.Version), m.Ours.builtWith(), m.Native.builtWith())
	p("- Latencies are measured in a closed loop (each caller calls again as soon as its call returns). A ModeFresh pool's ready clones are then used up at once, so its replacement clone (made in the background) is on the call path; with gaps between calls it would not be.")
	p("- snakepit runs in the measuring process: its garbage collector and the harness share the CPUs with the guests. The native workers are separate processes, whose Go driver is in the same process as snakepit's; on %d cores neither side has a core to itself.", m.Cores)
	p("- A fresh native interpreter is a new process (`fork`/`exec`, dynamic loading, interpreter start-up); a fresh snakepit interpreter is a clone of a snapshot taken after start-up (by default its memory is the snapshot copied into a reservation recycled from a closed clone; `SnapshotOptions.CopyOnWrite` maps it copy-on-write instead, smaller but paying page faults on the first call). A ModeFresh pool's clones are copy-on-write and, once used, reset in place: the pages a call wrote are copied back from the snapshot, and the next call takes no page fault.")
	p("- Memory: snakepit's numbers are for the whole process divided by its workers (and the marginal Δ); native's leave out the Go process driving the workers.")
	p("")
	p("Raw numbers: results.json. Chart: chart.svg.")
	return w.String()
}

func coldNote(cfg config) string {
	if cfg.ColdReps == 0 {
		return "; the empty-cache compile was skipped"
	}
	return fmt.Sprintf("; the empty-cache rows from %d repetition(s)", cfg.ColdReps)
}

func fmtList(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmtUs(x))
	}
	return strings.Join(s, ", ")
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// realCodeSection renders the real-code workloads, if measured.
func realCodeSection(p func(string, ...any), r *Results) {
	if len(r.Libs) == 0 {
		return
	}
	cfg := r.Meta.Config
	p("## Real code: pure-Python libraries")
	p("")
	p("internal/bench/libs: workloads over pure-Python libraries from Debian trixie's .debs (bench/debian/fetch.sh), the same files on every side: the guest mounts them as a `runtime.Package{HostDir}`, the native sides put them on `sys.path`; both import the same .pyc files, compiled once by the fetch. *warm*: `run()` on a warm worker that imported the library during setup, the sides in turns on one CPU, CPU time, median of %d repetitions after a warm-up pass. *fresh*: a new interpreter imports the library and calls `run()` once (snakepit: a clone of a snapshot taken without preloads, with the libraries mounted; native: a new process), wall time, median of %d repetitions after a warm-up pass, sides in turns.", cfg.CPUReps, cfg.Reps)
	p("")
	p("| workload | library | mode | snakepit | native | Debian | ratio | ratio vs Debian | checksums |")
	p("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, l := range r.Libs {
		ok := "match"
		if l.Mode == "fresh" {
			ok = "–"
		} else if !l.Match {
			ok = "**MISMATCH**"
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s |", l.Name, l.Library, l.Mode, fmtUs(l.Median[ours]), fmtUs(l.Median[nat]), fmtUs(l.Median[deb]),
			fmtRatio(l.Ratio), fmtRatio(l.RatioDebian), ok)
	}
	for _, g := range r.LibGeo {
		p("| **geometric mean, %s** | | | | | | %s | **%s** | |", g.Mode, fmtRatio(g.Native), fmtRatio(g.Debian))
	}
	p("")
}

// leverSection renders the levers, if measured.
func leverSection(p func(string, ...any), r *Results) {
	if len(r.Levers) == 0 {
		return
	}
	p("## Levers: single operations")
	p("")
	p("internal/bench/programs/levers.go: each row repeats one operation; CPU time per operation, median of %d repetitions after a warm-up pass, all sides in turns on one CPU. *compile* is `compile()` of a 150-line module; *parse* only its parser (source to AST objects); *codegen* only its compiler (AST objects to code: symtable, codegen, optimiser, assembler); *unmarshal* `marshal.loads` of the compiled module; *\\_small* the same of `x = 1` (unmarshal_small includes its exec); *dataclass* `make_dataclass` of 6 fields; *alloc* building and freeing 5,000 small tuples and lists; *calls* a Python function call. `none` is snakepit compiled without a stop mechanism: ours/none is what the tick and loop checks cost.", r.Meta.Config.CPUReps)
	p("")
	p("| operation | snakepit | snakepit interrupt=none | native | Debian | ratio | ratio vs Debian | ours / none |")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, l := range r.Levers {
		m := l.Median
		p("| %s | %s | %s | %s | %s | %s | %s | %s |", l.Name, fmtUs(m[ours]), fmtUs(m[oursNone]), fmtUs(m[nat]), fmtUs(m[deb]),
			fmtRatio(m[ours]/m[nat]), fmtRatio(m[ours]/m[deb]), fmtRatio(m[ours]/m[oursNone]))
	}
	p("")
	if len(r.FreshCode) == 0 {
		return
	}
	p("Fresh calls on a ModeFresh pool of one worker (one caller, closed loop, median of %d repetitions): the first row loads its cell's code from the snapshot's code cache (compiled once by the snapshot's compiler instance, which runs no user code), the second has the cache off and compiles its cell in the guest, as every fresh Exec did before it; the last two call functions of the snapshot that compile `x = 1`, or do nothing (the floor).", r.Meta.Config.Reps)
	p("")
	p("| fresh call | p50 | p99 | calls/s |")
	p("| --- | ---: | ---: | ---: |")
	for _, f := range r.FreshCode {
		p("| %s | %s | %s | %.0f |", f.Workload, fmtUs(f.P50us), fmtUs(f.P99us), f.OpsPerSec)
	}
	p("")
}
