package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"github.com/snakepit-wasm/snakepit/internal/knobs"
	"io"
	"os/exec"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/bench/native"
	"github.com/snakepit-wasm/snakepit/internal/bench/programs"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// Sides, as named in the results.
const (
	ours      = "snakepit"
	oursClone = "snakepit raw clone" // snapshot.NewInstance + Exec, no pool
	nat       = "native"
	deb       = "Debian" // Debian trixie's own python3.13 (PGO and LTO)
)

// cpuMemoryLimit is the guest memory cap for the CPU suite (a reservation:
// it costs nothing until used).
const cpuMemoryLimit = 1 << 30

// funcsSetup defines the functions of workloads 2 and 3, on both sides.
const funcsSetup = "def add(a, b):\n    return a + b\n\ndef echo(x):\n    return x\n"

// askSource is workload 6's loop; CALL is the side's way to call the host.
const askSource = `
def ask(n):
    total = 0
    for i in range(n):
        total += CALL(i)
    return total
`

type bench struct {
	progress
	cfg    config
	rt     *runtime.Runtime  // the default runtime (InterruptLoops, default cache)
	snap   *runtime.Snapshot // no preloads: raw clones and the import-heavy script
	python native.Python     // the native python3.13 built from python.wasm's source
	debian native.Python     // Debian's python3.13; nil when not installed
	site   string            // the real-code workloads' libraries (with debian)
	progs  []programs.Program
	ncpu   int
	res    *Results
}

func newBench(ctx context.Context, cfg config, logw io.Writer) (*bench, error) {
	b := &bench{progress: progress{w: logw, start: time.Now()}, cfg: cfg, ncpu: goruntime.NumCPU()}
	b.res = &Results{Meta: machineMeta(cfg)}
	for _, p := range programs.All() {
		if len(cfg.Programs) == 0 || slices.Contains(cfg.Programs, p.Name) {
			b.progs = append(b.progs, p)
		}
	}
	if len(b.progs) == 0 {
		return nil, fmt.Errorf("no CPU program matches %v", cfg.Programs)
	}
	var err error
	if b.python, err = native.PythonPath(); err != nil {
		return nil, err
	}
	if b.debian, b.site, err = native.Debian(native.DebianDir()); err != nil {
		b.logf("no Debian baseline: %v", err)
		b.note("Debian's python3.13 is missing (%v): there are no ratios against it and no real-code workloads; `make bench` installs it.", err)
	}
	b.logf("compiling python.wasm (default cache)")
	if b.rt, err = runtime.New(ctx, runtime.Config{}); err != nil {
		return nil, err
	}
	if b.snap, err = b.rt.NewSnapshot(ctx, runtime.SnapshotOptions{}); err != nil {
		b.close()
		return nil, err
	}
	if err := b.versions(ctx); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *bench) close() {
	if b.snap != nil {
		b.snap.Close()
		b.snap = nil
	}
	if b.rt != nil {
		b.rt.Close(context.Background())
	}
}

// pyInfoSource sets _info to the interpreter's version and build; both
// sides run it.
const pyInfoSource = `import sys, sysconfig
_a = sysconfig.get_config_var('CONFIG_ARGS') or ''
_info = {'Version': sys.version, 'CC': (sysconfig.get_config_var('CC') or '?').split()[0],
         'Opt': sysconfig.get_config_var('OPT') or '',
         'PGO': '--enable-optimizations' in _a or '-fprofile-use' in (sysconfig.get_config_var('PY_CFLAGS_NODIST') or ''),
         'LTO': '--with-lto' in _a}
`

// versions records both CPython versions and builds, and warns if the
// versions differ.
func (b *bench) versions(ctx context.Context) error {
	inst, err := b.snap.NewInstance(ctx, runtime.CloneOptions{})
	if err != nil {
		return err
	}
	defer inst.Close(ctx)
	m := &b.res.Meta
	if _, err := inst.Run(ctx, runtime.Exec(pyInfoSource)); err != nil {
		return err
	}
	r, err := inst.Run(ctx, runtime.Eval("_info"))
	if err != nil {
		return err
	}
	if err := r.Decode(&m.Ours); err != nil {
		return err
	}
	if err := pyInfo(ctx, b.python, &m.Native); err != nil {
		return err
	}
	m.NativePath, m.Interrupt = b.python.String(), knobs.Loops.String()
	if firstField(m.Ours.Version) != firstField(m.Native.Version) {
		b.note("WARNING: the CPython versions differ (%s vs %s): the comparison is not like for like", m.Ours.Version, m.Native.Version)
	}
	b.logf("CPython: ours %s | native %s", m.Ours, m.Native)
	if b.debian == nil {
		return nil
	}
	m.Debian = &PyInfo{}
	if err := pyInfo(ctx, b.debian, m.Debian); err != nil {
		return err
	}
	// sysconfig describes Debian's shared libpython build; debian/rules
	// builds the python3.13 executable apart, with profile-opt and -flto.
	m.Debian.PGO, m.Debian.LTO = true, true
	m.DebianPath = b.debian.String()
	if firstField(m.Debian.Version) != firstField(m.Native.Version) {
		b.note("WARNING: Debian's CPython is %s, the same-source build %s", m.Debian.Version, m.Native.Version)
	}
	b.logf("CPython: Debian %s", m.Debian)
	return nil
}

func pyInfo(ctx context.Context, py native.Python, info *PyInfo) error {
	out, err := exec.CommandContext(ctx, py[0], append(py[1:len(py):len(py)], "-I", "-S", "-c", pyInfoSource+"import json; print(json.dumps(_info))")...).Output()
	if err != nil {
		return fmt.Errorf("%s: %w", py, err)
	}
	if err := json.Unmarshal(out, info); err != nil {
		return fmt.Errorf("%s: %w", py, err)
	}
	return nil
}

func (b *bench) note(format string, args ...any) {
	b.res.Notes = append(b.res.Notes, fmt.Sprintf(format, args...))
}

// sizeFor is the pool size for a number of callers, on both sides.
func (b *bench) sizeFor(callers int) int { return min(callers, b.ncpu) }

// inTurn returns xs, reversed on odd repetitions, so that no side is always
// measured first.
func inTurn[T any](xs []T, rep int) []T {
	xs = slices.Clone(xs)
	if rep%2 == 1 {
		slices.Reverse(xs)
	}
	return xs
}

// op is one measured operation; cleanup, if not nil, runs untimed after it.
type op func(ctx context.Context) (cleanup func(), err error)

// closedLoop runs op from callers goroutines, each calling again as soon
// as its call returns, for d; it returns the latency percentiles and the
// throughput.
func closedLoop(ctx context.Context, callers int, d time.Duration, f op) (LatencyRep, error) {
	lats := make([][]time.Duration, callers)
	errs := make([]error, callers)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				cleanup, err := f(ctx)
				lats[i] = append(lats[i], time.Since(t))
				if cleanup != nil {
					cleanup()
				}
				if err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return LatencyRep{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return LatencyRep{}, err
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	return LatencyRep{
		Ops:       len(all),
		P50us:     us(percentile(all, 0.50)),
		P99us:     us(percentile(all, 0.99)),
		OpsPerSec: float64(len(all)) / elapsed.Seconds(),
	}, nil
}

// timeOp runs f once and returns its duration.
func timeOp(ctx context.Context, f op) (float64, error) {
	t := time.Now()
	cleanup, err := f(ctx)
	d := time.Since(t)
	if cleanup != nil {
		cleanup()
	}
	return us(d), err
}

func poolOp(p *pool.Pool, req runtime.Request, check func([]byte) error) op {
	return func(ctx context.Context) (func(), error) {
		r, err := p.Run(ctx, req)
		if err == nil && check != nil {
			err = check(r.Value)
		}
		return nil, err
	}
}

func nativeOp(p *native.Pool, fn string, args []byte, check func([]byte) error) op {
	return func(ctx context.Context) (func(), error) {
		r, err := p.Call(ctx, fn, args)
		if err == nil && check != nil {
			err = check(r)
		}
		return nil, err
	}
}

func call(fn string, args []byte) runtime.Request {
	return runtime.CallJSON(fn, args)
}

func equals(want string) func([]byte) error {
	return func(got []byte) error {
		if string(got) != want {
			return fmt.Errorf("got %.80s, want %.80s", got, want)
		}
		return nil
	}
}

func sized(n int) func([]byte) error {
	return func(got []byte) error {
		if len(got) != n {
			return fmt.Errorf("got %d bytes, want %d", len(got), n)
		}
		return nil
	}
}

// canonical re-encodes a JSON value so that two encoders' outputs compare.
func canonical(v []byte) string {
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return "invalid JSON: " + string(v)
	}
	out, _ := json.Marshal(x)
	return string(out)
}

// latency measures workloads 1-3 for every caller count.
func (b *bench) latency(ctx context.Context) error {
	var sizes []int
	for _, c := range b.cfg.Callers {
		if s := b.sizeFor(c); !slices.Contains(sizes, s) {
			sizes = append(sizes, s)
		}
	}
	fresh, warm, natp, debp := map[int]*pool.Pool{}, map[int]*pool.Pool{}, map[int]*native.Pool{}, map[int]*native.Pool{}
	defer func() {
		for _, p := range debp {
			p.Close()
		}
		for _, p := range fresh {
			p.Close(context.Background())
		}
		for _, p := range warm {
			p.Close(context.Background())
		}
		for _, p := range natp {
			p.Close()
		}
	}()
	for _, s := range sizes {
		b.logf("starting pools of %d workers", s)
		var err error
		if fresh[s], err = pool.New(ctx, b.rt, pool.Options{Mode: pool.ModeFresh, Size: s}); err != nil {
			return err
		}
		if warm[s], err = pool.New(ctx, b.rt, pool.Options{Mode: pool.ModeWarm, Size: s, Setup: funcsSetup}); err != nil {
			return err
		}
		if natp[s], err = native.New(ctx, b.python, s); err != nil {
			return err
		}
		if err := natp[s].Exec(ctx, funcsSetup); err != nil {
			return err
		}
		if b.debian != nil {
			if debp[s], err = native.New(ctx, b.debian, s); err != nil {
				return err
			}
			if err := debp[s].Exec(ctx, funcsSetup); err != nil {
				return err
			}
		}
	}

	// Both sides must echo the same value; their encoders are CPython's.
	args := map[string][]byte{"json-1KB": programs.JSONArg(1 << 10), "json-100KB": programs.JSONArg(100 << 10)}
	echoLen := map[string]int{}
	s0 := sizes[0]
	for name, arg := range args {
		r, err := warm[s0].Run(ctx, call("echo", arg))
		if err != nil {
			return err
		}
		n, err := natp[s0].Call(ctx, "echo", arg)
		if err != nil {
			return err
		}
		if !bytes.Equal(r.Value, n) || canonical(r.Value) != canonical(arg[1:len(arg)-1]) {
			return fmt.Errorf("%s: the two sides echo different values", name)
		}
		if d := debp[s0]; d != nil {
			if dv, err := d.Call(ctx, "echo", arg); err != nil || !bytes.Equal(dv, n) {
				return fmt.Errorf("%s: Debian's python echoes a different value (%v)", name, err)
			}
		}
		echoLen[name] = len(n)
	}

	type series struct {
		workload, side string
		op             func(size int) op
	}
	execX := runtime.Exec("x = 1")
	groups := [][]series{
		{
			{"fresh x = 1", ours, func(s int) op { return poolOp(fresh[s], execX, nil) }},
			{"fresh x = 1", oursClone, func(int) op {
				return func(ctx context.Context) (func(), error) {
					inst, err := b.snap.NewInstance(ctx, runtime.CloneOptions{})
					if err != nil {
						return nil, err
					}
					_, err = inst.Run(ctx, runtime.Exec("x = 1"))
					return func() { inst.Close(ctx) }, err
				}
			}},
			{"fresh x = 1", nat, func(int) op {
				return func(ctx context.Context) (func(), error) { return nil, native.RunFresh(ctx, b.python, "x = 1") }
			}},
		},
		{
			{"warm add(1, 2)", ours, func(s int) op { return poolOp(warm[s], call("add", []byte("[1,2]")), equals("3")) }},
			{"warm add(1, 2)", nat, func(s int) op { return nativeOp(natp[s], "add", []byte("[1,2]"), equals("3")) }},
		},
	}
	for _, name := range []string{"json-1KB", "json-100KB"} {
		arg, check := args[name], sized(echoLen[name])
		w := fmt.Sprintf("echo %s JSON", strings.TrimPrefix(name, "json-"))
		groups = append(groups, []series{
			{w, ours, func(s int) op { return poolOp(warm[s], call("echo", arg), check) }},
			{w, nat, func(s int) op { return nativeOp(natp[s], "echo", arg, check) }},
		})
		if b.debian != nil {
			groups[len(groups)-1] = append(groups[len(groups)-1], series{w, deb, func(s int) op { return nativeOp(debp[s], "echo", arg, check) }})
		}
	}
	if b.debian != nil {
		groups[0] = append(groups[0], series{"fresh x = 1", deb, func(int) op {
			return func(ctx context.Context) (func(), error) { return nil, native.RunFresh(ctx, b.debian, "x = 1") }
		}})
		groups[1] = append(groups[1], series{"warm add(1, 2)", deb, func(s int) op { return nativeOp(debp[s], "add", []byte("[1,2]"), equals("3")) }})
	}

	b.logf("warming up every series (%s each)", b.cfg.Warmup)
	for _, g := range groups {
		for _, s := range g {
			for _, size := range sizes {
				if _, err := closedLoop(ctx, size, b.cfg.Warmup, s.op(size)); err != nil {
					return fmt.Errorf("%s %s warm-up: %w", s.workload, s.side, err)
				}
			}
		}
	}

	rows := map[string]*LatencyResult{}
	for rep := range b.cfg.Reps {
		for _, g := range groups {
			for _, c := range b.cfg.Callers {
				for _, s := range inTurn(g, rep) {
					key := fmt.Sprintf("%s|%s|%d", s.workload, s.side, c)
					row := rows[key]
					if row == nil {
						row = &LatencyResult{Workload: s.workload, Side: s.side, Callers: c, PoolSize: b.sizeFor(c)}
						if s.side == oursClone || (s.side != ours && g[0].workload == "fresh x = 1") {
							row.PoolSize = 0 // no pool: one interpreter per call
						}
						rows[key] = row
						b.res.Latency = append(b.res.Latency, row)
					}
					lr, err := closedLoop(ctx, c, b.cfg.Duration, s.op(b.sizeFor(c)))
					if err != nil {
						return fmt.Errorf("%s %s: %w", s.workload, s.side, err)
					}
					row.Reps = append(row.Reps, lr)
					b.logf("rep %d/%d %-18s %-18s callers=%d  p50 %s  p99 %s  %.0f calls/s",
						rep+1, b.cfg.Reps, s.workload, s.side, c, fmtUs(lr.P50us), fmtUs(lr.P99us), lr.OpsPerSec)
				}
			}
		}
	}
	for _, r := range b.res.Latency {
		r.P50us = median(mapf(r.Reps, func(x LatencyRep) float64 { return x.P50us }))
		r.P99us = median(mapf(r.Reps, func(x LatencyRep) float64 { return x.P99us }))
		r.OpsPerSec = median(mapf(r.Reps, func(x LatencyRep) float64 { return x.OpsPerSec }))
	}
	return nil
}

// pairs times ours and theirs Iters times per repetition, in turns, after
// one untimed warm-up each, and adds the per-repetition medians to the
// results (scaled by scale, e.g. 1/N for a per-callback time).
// debOp, Debian's side, is left out when nil.
func (b *bench) pairs(ctx context.Context, name, unit string, scale float64, ourOp, natOp, debOp op) error {
	sides := []struct {
		side string
		f    op
	}{{ours, ourOp}, {nat, natOp}}
	if debOp != nil {
		sides = append(sides, struct {
			side string
			f    op
		}{deb, debOp})
	}
	res := map[string]*Sample{}
	for _, s := range sides {
		if _, err := timeOp(ctx, s.f); err != nil {
			return fmt.Errorf("%s warm-up: %w", s.side, err)
		}
		res[s.side] = &Sample{Name: name, Side: s.side, Unit: unit}
	}
	for rep := range b.cfg.Reps {
		times := map[string][]float64{}
		for i := range b.cfg.Iters {
			for _, s := range inTurn(sides, rep+i) {
				t, err := timeOp(ctx, s.f)
				if err != nil {
					return fmt.Errorf("%s: %w", s.side, err)
				}
				times[s.side] = append(times[s.side], t*scale)
			}
		}
		for _, s := range sides {
			res[s.side].Reps = append(res[s.side].Reps, median(times[s.side]))
		}
		b.logf("rep %d/%d %s: ours %s, native %s, Debian %s", rep+1, b.cfg.Reps, name,
			fmtUs(median(times[ours])), fmtUs(median(times[nat])), fmtUs(median(times[deb])))
	}
	for _, s := range sides {
		r := res[s.side]
		r.Median = median(r.Reps)
		b.res.Samples = append(b.res.Samples, r)
	}
	return nil
}

// imports is workload 5: the import-heavy script in a fresh interpreter,
// a clone of a snapshot without preloads against a new process.
func (b *bench) imports(ctx context.Context) error {
	src := programs.ImportHeavy().Source
	if err := b.preloaded(ctx, src); err != nil {
		return err
	}
	return b.pairs(ctx, "import-heavy script, fresh interpreter", "us", 1,
		func(ctx context.Context) (func(), error) {
			inst, err := b.snap.NewInstance(ctx, runtime.CloneOptions{})
			if err != nil {
				return nil, err
			}
			_, err = inst.Run(ctx, runtime.Exec(src))
			return func() { inst.Close(ctx) }, err
		},
		func(ctx context.Context) (func(), error) { return nil, native.RunFresh(ctx, b.python, src) },
		b.debianOp(func(ctx context.Context) (func(), error) { return nil, native.RunFresh(ctx, b.debian, src) }))
}

// debianOp is f when Debian's python is installed, else nil.
func (b *bench) debianOp(f op) op {
	if b.debian == nil {
		return nil
	}
	return f
}

// preloaded notes which modules a fresh clone holds that a fresh native
// interpreter does not (snakepit's guest imports them), and which of the
// script's imports are among them.
func (b *bench) preloaded(ctx context.Context, src string) error {
	const list = "sorted(__import__('sys').modules)"
	inst, err := b.snap.NewInstance(ctx, runtime.CloneOptions{})
	if err != nil {
		return err
	}
	defer inst.Close(ctx)
	r, err := inst.Run(ctx, runtime.Eval(list))
	if err != nil {
		return err
	}
	var ourMods, natMods []string
	if err := r.Decode(&ourMods); err != nil {
		return err
	}
	// sys is built in: listing imports nothing.
	out, err := exec.CommandContext(ctx, b.python[0], append(b.python[1:len(b.python):len(b.python)], "-I", "-S", "-c", "import sys; print(' '.join("+list+"))")...).Output()
	if err != nil {
		return fmt.Errorf("native python: %w", err)
	}
	natMods = strings.Fields(string(out))
	var extra, used []string
	for _, m := range ourMods {
		if !slices.Contains(natMods, m) {
			extra = append(extra, m)
		}
	}
	for _, line := range strings.Split(src, "\n") {
		if m, ok := strings.CutPrefix(line, "import "); ok && slices.Contains(extra, strings.TrimSpace(m)) {
			used = append(used, strings.TrimSpace(m))
		}
	}
	b.res.Preloaded = extra
	b.note("A fresh snakepit interpreter (clone or new instance) already holds %d modules that a fresh native one does not, imported by snakepit's guest side of the ABI (json, random, traceback, importlib and their dependencies; the list is in results.json); %d of the import-heavy script's %d imports are among them (%s), which favours snakepit in workload 5.",
		len(extra), len(used), strings.Count(src, "\nimport "), strings.Join(used, ", "))
	return nil
}

// warmPair starts the sides of a one-worker comparison: a ModeWarm pool of
// one worker, a native pool of one process and, when installed, a pool of
// one Debian python process (else nil), each loaded with its setup source.
func (b *bench) warmPair(ctx context.Context, inst runtime.Options, setup, nativeSetup string) (*pool.Pool, *native.Pool, *native.Pool, error) {
	p, err := pool.New(ctx, b.rt, pool.Options{Mode: pool.ModeWarm, Size: 1, Instance: inst, Setup: setup})
	if err != nil {
		return nil, nil, nil, err
	}
	start := func(py native.Python) (*native.Pool, error) {
		np, err := native.New(ctx, py, 1)
		if err == nil {
			if err = np.Exec(ctx, nativeSetup); err != nil {
				np.Close()
			}
		}
		return np, err
	}
	np, err := start(b.python)
	if err != nil {
		p.Close(context.Background())
		return nil, nil, nil, err
	}
	if b.debian == nil {
		return p, np, nil, nil
	}
	dp, err := start(b.debian)
	if err != nil {
		p.Close(context.Background())
		np.Close()
		return nil, nil, nil, err
	}
	return p, np, dp, nil
}

// callbacks is workload 6: Python calls the host N times in one call.
func (b *bench) callbacks(ctx context.Context) error {
	n := b.cfg.Callbacks
	tools := map[string]runtime.HostFunc{"tool": func(context.Context, json.RawMessage) (any, error) { return 1, nil }}
	p, np, dp, err := b.warmPair(ctx, runtime.Options{Limits: runtime.Limits{MaxHostCalls: n + 1}},
		"import snakepit\n"+strings.Replace(askSource, "CALL(", "snakepit.call('tool', ", 1),
		strings.Replace(askSource, "CALL(", "host_call(", 1))
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	defer np.Close()
	defer closeNil(dp)
	args := fmt.Appendf(nil, "[%d]", n)
	want := equals(fmt.Sprint(n))
	req := call("ask", args)
	req.Host = tools
	cb := func([]byte) []byte { return []byte("1") }
	return b.pairs(ctx, fmt.Sprintf("host callback (per callback, %d per call)", n), "us", 1/float64(n),
		poolOp(p, req, want), callbackOp(np, args, cb, want), b.debianOp(callbackOp(dp, args, cb, want)))
}

func callbackOp(np *native.Pool, args []byte, cb func([]byte) []byte, want func([]byte) error) op {
	return func(ctx context.Context) (func(), error) {
		r, err := np.CallWithCallback(ctx, "ask", args, cb)
		if err == nil {
			err = want(r)
		}
		return nil, err
	}
}

// closeNil closes np unless it is nil.
func closeNil(np *native.Pool) {
	if np != nil {
		np.Close()
	}
}

// scratchFiles is workload 7 (programs.ScratchRoundtrip on both sides):
// file I/O in the working directory, which is snakepit's in-memory scratch
// (/tmp) and, natively, a directory on tmpfs (/dev/shm when there is one).
func (b *bench) scratchFiles(ctx context.Context) error {
	p, np, dp, err := b.warmPair(ctx, runtime.Options{}, programs.ScratchRoundtrip,
		"import os, tempfile\nos.chdir(tempfile.mkdtemp(dir='/dev/shm' if os.path.isdir('/dev/shm') else None))\n"+programs.ScratchRoundtrip)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	defer func() {
		for _, np := range []*native.Pool{np, dp} {
			if np != nil {
				_ = np.Exec(context.Background(), "import os, shutil\nshutil.rmtree(os.getcwd(), ignore_errors=True)")
				np.Close()
			}
		}
	}()
	want := equals(fmt.Sprint(programs.ScratchBytes))
	return b.pairs(ctx, "scratch files: write 10 MB in 64 KB chunks, read it back", "us", 1,
		poolOp(p, call("roundtrip", []byte("[]")), want), nativeOp(np, "roundtrip", []byte("[]"), want),
		b.debianOp(nativeOp(dp, "roundtrip", []byte("[]"), want)))
}

// cpuSuite is workload 4, with the memory of one worker before and after
// it, and optionally the other interrupt mechanisms.
func (b *bench) cpuSuite(ctx context.Context) error {
	setup := programs.Setup(b.progs)
	base := selfMemory()
	p, np, dp, err := b.warmPair(ctx, runtime.Options{Limits: runtime.Limits{MaxMemory: cpuMemoryLimit}}, setup, setup)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	defer np.Close()
	defer closeNil(dp)
	if err := b.memory(ctx, "1 warm worker, suite loaded, idle", 1, base, np); err != nil {
		return err
	}
	rows := map[string]*CPUResult{}
	var names []string
	for _, prog := range b.progs {
		rows[prog.Name] = &CPUResult{Program: prog.Name, Match: true}
		b.res.CPU = append(b.res.CPU, rows[prog.Name])
		names = append(names, prog.Name)
	}
	err = b.warmTurns(ctx, b.cfg.CPUReps, names, warmSides(p, np, dp), func(prog, side string, rep int, wall, cpu float64, sum string) {
		row := rows[prog]
		b.check(prog, side, sum, &row.Checksum, &row.Match)
		if rep < 0 {
			return
		}
		switch side {
		case nat:
			row.NativeUs, row.NativeCPUUs = append(row.NativeUs, wall), append(row.NativeCPUUs, cpu)
		case deb:
			row.DebianUs, row.DebianCPUUs = append(row.DebianUs, wall), append(row.DebianCPUUs, cpu)
		default:
			row.OursUs, row.OursCPUUs = append(row.OursUs, wall), append(row.OursCPUUs, cpu)
		}
	})
	if err != nil {
		return err
	}
	for _, row := range b.res.CPU {
		row.OursMedianUs, row.NativeMedianUs = median(row.OursUs), median(row.NativeUs)
		row.OursCPUMedianUs, row.NativeCPUMedianUs = median(row.OursCPUUs), median(row.NativeCPUUs)
		row.Ratio = row.OursCPUMedianUs / row.NativeCPUMedianUs
		row.WallRatio = row.OursMedianUs / row.NativeMedianUs
		if dp != nil {
			row.DebianMedianUs, row.DebianCPUMedianUs = median(row.DebianUs), median(row.DebianCPUUs)
			row.RatioDebian = row.OursCPUMedianUs / row.DebianCPUMedianUs
			row.WallRatioDebian = row.OursMedianUs / row.DebianMedianUs
		}
	}
	if err := b.memory(ctx, "1 warm worker, after the CPU suite", 1, base, np); err != nil {
		return err
	}

	np.Close()
	if b.cfg.VariantReps == 0 {
		return nil
	}
	// The other stop mechanisms, each in a runtime of its own, measured in
	// turns with the default one.
	def := knobs.Loops // b.rt's
	mechs := []knobs.Interrupt{def}
	pools := map[knobs.Interrupt]*pool.Pool{def: p}
	for _, m := range []knobs.Interrupt{knobs.Loops, knobs.None, knobs.CloseOnDone} {
		if m == def {
			continue
		}
		b.logf("starting a runtime with interrupt=%s (compiles unless cached)", m)
		rt, err := runtime.New(knobs.With(ctx, knobs.Knobs{Interrupt: m}), runtime.Config{})
		if err != nil {
			return err
		}
		defer rt.Close(context.Background())
		if pools[m], err = pool.New(ctx, rt, pool.Options{Mode: pool.ModeWarm, Size: 1, Setup: setup,
			Instance: runtime.Options{Limits: runtime.Limits{MaxMemory: cpuMemoryLimit}}}); err != nil {
			return err
		}
		defer pools[m].Close(context.Background())
		mechs = append(mechs, m)
	}
	for rep := range b.cfg.VariantReps {
		for i, prog := range b.progs {
			row := rows[prog.Name]
			if row.Interrupt == nil {
				row.Interrupt = map[string][]float64{}
			}
			for _, m := range inTurn(mechs, rep+i) {
				_, t, sum, err := oursSide(pools[m]).time(ctx, prog.Name)
				if err != nil {
					return fmt.Errorf("%s with interrupt=%s: %w", prog.Name, m, err)
				}
				if sum != row.Checksum {
					row.Match = false
					b.note("CHECKSUM MISMATCH in %s (interrupt=%s)", prog.Name, m)
				}
				row.Interrupt[m.String()] = append(row.Interrupt[m.String()], t)
			}
			var parts []string
			for _, m := range mechs {
				parts = append(parts, fmt.Sprintf("%s %s", m, fmtUs(row.Interrupt[m.String()][rep])))
			}
			b.logf("interrupt rep %d/%d %-15s %s", rep+1, b.cfg.VariantReps, prog.Name, strings.Join(parts, "  "))
		}
	}
	return nil
}

// warmSide is one side of a warm comparison: a worker whose globals hold
// _run_<name> for each program.
type warmSide struct {
	name string
	call func(ctx context.Context, fn string) ([]byte, error)
	cpu  func() (time.Duration, error) // the CPU time the side has used so far
	pids []int                         // the side's processes, pinned with ours
}

func oursSide(p *pool.Pool) warmSide {
	return warmSide{name: ours,
		call: func(ctx context.Context, fn string) ([]byte, error) {
			r, err := p.Run(ctx, call(fn, []byte("[]")))
			if err != nil {
				return nil, err
			}
			return r.Value, nil
		},
		// Ours is the whole process's: the guest, the pool, the Go runtime.
		cpu: func() (time.Duration, error) { return processCPU(), nil }}
}

func nativeSide(name string, np *native.Pool) warmSide {
	return warmSide{name: name,
		call: func(ctx context.Context, fn string) ([]byte, error) { return np.Call(ctx, fn, nil) },
		cpu:  np.CPUTime, pids: np.PIDs()}
}

// warmSides is ours, the same-source native build and, when not nil,
// Debian's.
func warmSides(p *pool.Pool, np, dp *native.Pool) []warmSide {
	sides := []warmSide{oursSide(p), nativeSide(nat, np)}
	if dp != nil {
		sides = append(sides, nativeSide(deb, dp))
	}
	return sides
}

// time calls _run_<prog> once and returns its wall and CPU time and its
// result, canonical.
func (s warmSide) time(ctx context.Context, prog string) (wall, cpu float64, sum string, err error) {
	c0, err := s.cpu()
	if err != nil {
		return 0, 0, "", err
	}
	t := time.Now()
	v, err := s.call(ctx, "_run_"+prog)
	wall = us(time.Since(t))
	c1, cerr := s.cpu()
	return wall, us(c1 - c0), canonical(v), cmp.Or(err, cerr)
}

// warmTurns runs each program on every side, in turns, once as a warm-up
// (rep -1) and then reps times, and hands every time to record. In each
// repetition all sides run on the same one CPU, the next one each
// repetition: the two virtual CPUs of the VM this was written on differ in
// speed from time to time, and a side that stayed on the slower one made
// the ratio swing between runs.
func (b *bench) warmTurns(ctx context.Context, reps int, progs []string, sides []warmSide,
	record func(prog, side string, rep int, wall, cpu float64, sum string)) error {
	var pids []int
	for _, s := range sides {
		pids = append(pids, s.pids...)
	}
	for rep := -1; rep < reps; rep++ {
		cpu, unpin, err := pinTo(rep+1, pids...)
		if err != nil {
			return err
		}
		b.logf("rep %d/%d on CPU %d (load %s)", rep+1, reps, cpu, loadAvg())
		for i, prog := range progs {
			var line []string
			for _, s := range inTurn(sides, rep+1+i) {
				wall, cpuT, sum, err := s.time(ctx, prog)
				if err != nil {
					unpin()
					return fmt.Errorf("%s on %s: %w", prog, s.name, err)
				}
				record(prog, s.name, rep, wall, cpuT, sum)
				line = append(line, fmt.Sprintf("%s %s (CPU %s)", s.name, fmtUs(wall), fmtUs(cpuT)))
			}
			b.logf("rep %d/%d %-15s %s", rep+1, reps, prog, strings.Join(line, "  "))
		}
		unpin()
	}
	return nil
}

// check compares a side's checksum of what with the first one seen, kept
// in *first, and clears *match (and says so) when they differ.
func (b *bench) check(what, side, sum string, first *string, match *bool) {
	switch {
	case *first == "":
		*first = sum
	case sum != *first:
		*match = false
		b.note("CHECKSUM MISMATCH in %s (%s): %.100s vs %.100s", what, side, sum, *first)
	}
}
