package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/snakepit-wasm/snakepit/internal/bench/libs"
	"github.com/snakepit-wasm/snakepit/internal/bench/native"
	"github.com/snakepit-wasm/snakepit/internal/bench/programs"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// LibResult is one real-code workload in one mode: "warm" (run() on a warm
// worker that imported the library during setup; CPU time) or "fresh" (a
// new interpreter imports the library and calls run() once; wall time).
type LibResult struct {
	Name, Library, Mode string
	Times               map[string][]float64 // side: one time a repetition
	Median              map[string]float64
	Ratio               float64 // ours / the same-source native build, medians
	RatioDebian         float64 // ours / Debian's python3.13, medians
	Checksum            string
	Match               bool
}

// LibGeo is the geometric mean of a mode's ratios ("all": both modes).
type LibGeo struct {
	Mode           string
	Native, Debian float64
	Workloads      int
}

// nativeLibSetup puts the libraries on sys.path: the native sides run with
// -I, which ignores PYTHONPATH.
func (b *bench) nativeLibSetup() string {
	return "import sys\nsys.path.insert(0, " + strconv.Quote(b.site) + ")\n"
}

// realCode measures the real-code workloads (internal/bench/libs) warm and
// fresh, on every side, over the libraries unpacked beside Debian's python.
func (b *bench) realCode(ctx context.Context) error {
	if b.debian == nil {
		b.logf("skipped: Debian's python3.13 and the libraries are not installed (make bench-debian)")
		return nil
	}
	var progs []programs.Program
	var names []string
	for _, p := range libs.All() {
		if len(b.cfg.Libs) == 0 || slices.Contains(b.cfg.Libs, p.Name) {
			progs, names = append(progs, p), append(names, p.Name)
		}
	}
	if len(progs) == 0 {
		return fmt.Errorf("no real-code workload matches %v", b.cfg.Libs)
	}
	inst := runtime.Options{Limits: runtime.Limits{MaxMemory: cpuMemoryLimit}, Packages: []runtime.Package{{HostDir: b.site}}}
	setup := programs.Setup(progs)
	rows := map[string]*LibResult{}
	row := func(name, mode string) *LibResult {
		k := name + "|" + mode
		if rows[k] == nil {
			rows[k] = &LibResult{Name: name, Library: libs.Library[name], Mode: mode, Match: true,
				Times: map[string][]float64{}, Median: map[string]float64{}}
			b.res.Libs = append(b.res.Libs, rows[k])
		}
		return rows[k]
	}

	b.logf("warm: loading %d workloads on every side", len(progs))
	p, np, dp, err := b.warmPair(ctx, inst, setup, b.nativeLibSetup()+setup)
	if err != nil {
		return err
	}
	err = b.warmTurns(ctx, b.cfg.CPUReps, names, warmSides(p, np, dp), func(prog, side string, rep int, _, cpu float64, sum string) {
		r := row(prog, "warm")
		b.check("real-code workload "+prog, side, sum, &r.Checksum, &r.Match)
		if rep >= 0 {
			r.Times[side] = append(r.Times[side], cpu)
		}
	})
	p.Close(context.Background())
	np.Close()
	dp.Close()
	if err != nil {
		return err
	}

	// Fresh: ours clones a snapshot taken without preloads, with the
	// libraries mounted (clone included in the time, its close not);
	// natives start a process. Both import from the same .pyc files.
	snap, err := b.rt.NewSnapshot(ctx, runtime.SnapshotOptions{Options: inst})
	if err != nil {
		return err
	}
	defer snap.Close()
	for _, prog := range progs {
		src := libs.Fresh(prog)
		sides := []struct {
			side string
			f    op
		}{
			{ours, func(ctx context.Context) (func(), error) {
				c, err := snap.NewInstance(ctx, runtime.CloneOptions{})
				if err != nil {
					return nil, err
				}
				_, err = c.Run(ctx, runtime.Exec(src))
				return func() { c.Close(ctx) }, err
			}},
			{nat, freshOp(b.python, b.nativeLibSetup()+src)},
			{deb, freshOp(b.debian, b.nativeLibSetup()+src)},
		}
		r := row(prog.Name, "fresh")
		for rep := -1; rep < b.cfg.Reps; rep++ {
			for _, s := range inTurn(sides, rep+1) {
				t, err := timeOp(ctx, s.f)
				if err != nil {
					return fmt.Errorf("%s fresh on %s: %w", prog.Name, s.side, err)
				}
				if rep >= 0 {
					r.Times[s.side] = append(r.Times[s.side], t)
				}
			}
			if rep >= 0 {
				b.logf("fresh rep %d/%d %-10s ours %s  native %s  Debian %s (load %s)", rep+1, b.cfg.Reps, prog.Name,
					fmtUs(r.Times[ours][rep]), fmtUs(r.Times[nat][rep]), fmtUs(r.Times[deb][rep]), loadAvg())
			}
		}
	}
	for _, r := range b.res.Libs {
		for side, ts := range r.Times {
			r.Median[side] = median(ts)
		}
		r.Ratio, r.RatioDebian = r.Median[ours]/r.Median[nat], r.Median[ours]/r.Median[deb]
	}
	b.res.LibGeo = libGeos(b.res.Libs)
	for _, g := range b.res.LibGeo {
		b.logf("real code, %s: geometric mean %s of the same-source build, %s of Debian's", g.Mode, fmtRatio(g.Native), fmtRatio(g.Debian))
	}
	return nil
}

func freshOp(py native.Python, src string) op {
	return func(ctx context.Context) (func(), error) { return nil, native.RunFresh(ctx, py, src) }
}

func libGeos(rows []*LibResult) []LibGeo {
	var out []LibGeo
	for _, mode := range []string{"warm", "fresh", "all"} {
		var n, d []float64
		for _, r := range rows {
			if mode == "all" || r.Mode == mode {
				n, d = append(n, r.Ratio), append(d, r.RatioDebian)
			}
		}
		if len(n) > 0 {
			out = append(out, LibGeo{Mode: mode, Native: geomean(n), Debian: geomean(d), Workloads: len(n)})
		}
	}
	return out
}
