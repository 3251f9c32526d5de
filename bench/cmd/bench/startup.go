package main

import (
	"context"
	"fmt"
	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"os"
	"path/filepath"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/bench/native"
	"github.com/snakepit-wasm/snakepit/internal/bench/programs"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// timeStart times start, which returns what to close afterwards (untimed).
func timeStart(start func() (func(), error)) (float64, error) {
	t := time.Now()
	closer, err := start()
	d := time.Since(t)
	if closer != nil {
		closer()
	}
	return us(d), err
}

// coldStart times starting a pool and a worker on both sides.
func (b *bench) coldStart(ctx context.Context) error {
	bg := context.Background()
	n := b.ncpu
	add := func(name, side string, v float64) {
		for _, s := range b.res.ColdStart {
			if s.Name == name && s.Side == side {
				s.Reps = append(s.Reps, v)
				return
			}
		}
		b.res.ColdStart = append(b.res.ColdStart, &Sample{Name: name, Side: side, Unit: "us", Reps: []float64{v}})
	}
	newPool := func(rt *runtime.Runtime, mode pool.Mode) func() (func(), error) {
		return func() (func(), error) {
			p, err := pool.New(ctx, rt, pool.Options{Mode: mode, Size: n})
			if err != nil {
				return nil, err
			}
			return func() { p.Close(bg) }, nil
		}
	}
	measure := func(name, side string, start func() (func(), error)) error {
		t, err := timeStart(start)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		add(name, side, t)
		return nil
	}
	for rep := range b.cfg.Reps {
		if rep < b.cfg.ColdReps {
			// A runtime compiling into an empty cache, and its first
			// ModeFresh pool, which compiles the clones' module variant.
			b.logf("rep %d/%d: runtime.New with an empty compilation cache", rep+1, b.cfg.Reps)
			dir, err := os.MkdirTemp("", "snakepit-bench-cache-")
			if err != nil {
				return err
			}
			var rt *runtime.Runtime
			err = measure("runtime.New, empty compilation cache", ours, func() (func(), error) {
				var err error
				rt, err = runtime.New(ctx, runtime.Config{CompilationCacheDir: dir})
				return nil, err
			})
			if err == nil {
				err = measure(fmt.Sprintf("pool.New ModeFresh (%d workers), empty cache", n), ours, newPool(rt, pool.ModeFresh))
				rt.Close(bg)
			}
			os.RemoveAll(dir)
			if err != nil {
				return err
			}
		}
		// The default cache, which newBench has filled.
		var rt *runtime.Runtime
		if err := measure("runtime.New, warm compilation cache", ours, func() (func(), error) {
			var err error
			rt, err = runtime.New(ctx, runtime.Config{})
			return nil, err
		}); err != nil {
			return err
		}
		// The same interpreter read from a local build's files instead of
		// the module's embedded copy.
		if local := artifact.DefaultDir(); fileExists(filepath.Join(local, "python.wasm")) {
			if err := measure("runtime.New, warm compilation cache, local build", ours, func() (func(), error) {
				lrt, err := runtime.New(ctx, runtime.Config{Dir: local})
				return func() { lrt.Close(bg) }, err
			}); err != nil {
				return err
			}
		}
		err := measure(fmt.Sprintf("pool.New ModeWarm (%d workers)", n), ours, newPool(rt, pool.ModeWarm))
		if err == nil {
			// The first ModeFresh pool of a runtime also loads the clones'
			// module variant from the cache.
			err = measure(fmt.Sprintf("pool.New ModeFresh (%d workers)", n), ours, newPool(rt, pool.ModeFresh))
		}
		rt.Close(bg)
		if err != nil {
			return err
		}
		startNative := func(size int) func() (func(), error) {
			return func() (func(), error) {
				p, err := native.New(ctx, b.python, size)
				if err != nil {
					return nil, err
				}
				return func() { p.Close() }, nil
			}
		}
		if err := measure(fmt.Sprintf("native.New (%d workers)", n), nat, startNative(n)); err != nil {
			return err
		}
		// One worker: a fresh interpreter, a clone, a process.
		workerStarts := []struct {
			name, side string
			start      func() (func(), error)
		}{
			{"worker: fresh interpreter (rt.NewInstance)", ours, func() (func(), error) {
				inst, err := b.rt.NewInstance(ctx, runtime.Options{})
				return func() { inst.Close(bg) }, err
			}},
			{"worker: snapshot clone (snap.NewInstance)", ours, func() (func(), error) {
				inst, err := b.snap.NewInstance(ctx, runtime.CloneOptions{})
				return func() { inst.Close(bg) }, err
			}},
			{"worker: native process, start to ready", nat, startNative(1)},
		}
		for _, ws := range inTurn(workerStarts, rep) {
			if err := measure(ws.name, ws.side, ws.start); err != nil {
				return err
			}
		}
		b.logf("rep %d/%d start-up measured", rep+1, b.cfg.Reps)
	}
	for _, s := range b.res.ColdStart {
		s.Median = median(s.Reps)
		b.logf("%-45s %-9s %s", s.Name, s.Side, fmtUs(s.Median))
	}
	return nil
}

// idleMemory measures idle pools of MemWorkers workers on both sides, with
// the CPU suite's programs loaded.
func (b *bench) idleMemory(ctx context.Context) error {
	// The snapshot keeps the memory of closed clones for reuse: release it
	// so that it is not counted as the base of every later measure.
	b.snap.Close()
	b.snap = nil
	w := b.cfg.MemWorkers
	setup := programs.Setup(b.progs)
	for _, mode := range []pool.Mode{pool.ModeWarm, pool.ModeFresh} {
		base := selfMemory()
		p, err := pool.New(ctx, b.rt, pool.Options{Mode: mode, Size: w, Setup: setup,
			Instance: runtime.Options{Limits: runtime.Limits{MaxMemory: cpuMemoryLimit}}})
		if err != nil {
			return err
		}
		err = func() error {
			defer p.Close(ctx)
			if mode == pool.ModeWarm {
				return b.memory(ctx, idleWarm(w), w, base, nil)
			}
			if err := b.memory(ctx, fmt.Sprintf("ModeFresh: %d ready clone(s), suite in the snapshot, idle", w), w, base, nil); err != nil {
				return err
			}
			// Used clones are replaced by clones that reuse their memory.
			for range 2 * w {
				if _, err := p.Run(ctx, runtime.Exec("x = 1")); err != nil {
					return err
				}
			}
			waitIdle(p.Stats, w)
			return b.memory(ctx, fmt.Sprintf("ModeFresh: %d ready clone(s), idle after %d calls", w, 2*w), w, base, nil)
		}()
		if err != nil {
			return err
		}
	}
	if err := b.parkedSessions(ctx, setup); err != nil {
		return err
	}
	np, err := native.New(ctx, b.python, w)
	if err != nil {
		return err
	}
	defer np.Close()
	if err := np.Exec(ctx, setup); err != nil {
		return err
	}
	return b.memory(ctx, idleWarm(w), w, Mem{}, np)
}

// parkedSessions measures cfg.Sessions idle sessions on a ModeSession pool
// of 2 workers, each session having run one small call: what a parked
// session costs.
func (b *bench) parkedSessions(ctx context.Context, setup string) error {
	n := b.cfg.Sessions
	base := selfMemory()
	p, err := pool.NewSessions(ctx, b.rt, pool.Options{Size: 2, MaxSessions: n, MaxQueue: n, Setup: setup,
		Instance: runtime.Options{Limits: runtime.Limits{MaxMemory: cpuMemoryLimit}}})
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	for k := range n {
		req := runtime.Exec(fmt.Sprintf("me = %d\nseen = [me] * 10", k))
		if _, err := p.Session(fmt.Sprint("user-", k)).Run(ctx, req); err != nil {
			return err
		}
	}
	waitIdle(p.Stats, 2)
	return b.memory(ctx, fmt.Sprintf("ModeSession, Size 2: %d parked sessions, suite in the snapshot, one call each", n), n, base, nil)
}

// waitIdle waits (a little) for a pool to have its workers ready again.
func waitIdle(stats func() pool.Stats, w int) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st := stats(); st.Idle >= w && st.Starting == 0 {
			return
		}
	}
}

func idleWarm(w int) string { return fmt.Sprintf("%d warm worker(s), suite loaded, idle", w) }

// memory records our process's memory against base, and np's if not nil,
// under name.
func (b *bench) memory(ctx context.Context, name string, workers int, base Mem, np *native.Pool) error {
	if base.RSS > 0 {
		m := selfMemory()
		b.res.Memory = append(b.res.Memory, &MemoryResult{Name: name, Side: ours, Workers: workers,
			RSS: m.RSS, PSS: m.PSS, BaseRSS: base.RSS, BasePSS: base.PSS})
		b.logf("memory %s, ours: process PSS %s (%s before the workers)", name, fmtBytes(m.PSS), fmtBytes(base.PSS))
	}
	if np != nil {
		rss, pss, err := np.Memory()
		if err != nil {
			return err
		}
		b.res.Memory = append(b.res.Memory, &MemoryResult{Name: name, Side: nat, Workers: workers, RSS: rss, PSS: pss})
		b.logf("memory %s, native: children PSS %s", name, fmtBytes(pss))
	}
	return nil
}

// Mem is a process's resident and proportional set sizes, in bytes.
type Mem struct{ RSS, PSS uint64 }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
