package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/bench/programs"
	"github.com/snakepit-wasm/snakepit/internal/knobs"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// latencies records one duration per operation and reports p50/p99.
type latencies []time.Duration

func (l *latencies) time(f func()) {
	t := time.Now()
	f()
	*l = append(*l, time.Since(t))
}

func (l latencies) report(b *testing.B, unit string) { l.reportAs(b, "", unit) }

// reportAs reports p50/p99 with a prefix, for several series in one
// benchmark.
func (l latencies) reportAs(b *testing.B, prefix, unit string) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	div := float64(time.Microsecond)
	if unit == "ms" {
		div = float64(time.Millisecond)
	}
	b.ReportMetric(float64(s[len(s)/2])/div, prefix+"p50-"+unit)
	b.ReportMetric(float64(s[len(s)*99/100])/div, prefix+"p99-"+unit)
}

func BenchmarkNewInstance(b *testing.B) {
	var l latencies
	for b.Loop() {
		l.time(func() {
			i, err := rt(b).NewInstance(ctx, runtime.Options{})
			require.NoError(b, err)
			i.Close(ctx)
		})
	}
	l.report(b, "ms")
}

// BenchmarkFreshInterpreter compares, side by side, the ways to get a fresh
// interpreter: a snapshot clone (ready, and with a first `x = 1`) with
// recycled or copy-on-write memory, a freshly initialised instance, and a
// native `python3.13 -I -S -c 'x = 1'` subprocess.
func BenchmarkFreshInterpreter(b *testing.B) {
	for _, cow := range []bool{false, true} {
		s, err := rt(b).NewSnapshot(ctx, runtime.SnapshotOptions{CopyOnWrite: cow})
		require.NoError(b, err)
		defer s.Close()
		name := map[bool]string{false: "recycled", true: "copy-on-write"}[cow]
		for _, src := range []string{"", "x = 1"} {
			b.Run(name+"/clone"+map[string]string{"": "-ready", "x = 1": "-exec"}[src], func(b *testing.B) {
				var l latencies
				for b.Loop() {
					var i *runtime.Instance
					l.time(func() {
						i, err = s.NewInstance(ctx, runtime.CloneOptions{})
						if err == nil && src != "" {
							_, err = i.Run(ctx, runtime.Exec(src))
						}
					})
					require.NoError(b, err)
					i.Close(ctx)
				}
				l.report(b, "us")
			})
		}
		// The same clone reset in place after each call: Reset plus the
		// call is what a fresh call then costs. Its cell's code comes from
		// the snapshot's code cache, or, with the cache off, is compiled
		// by each call.
		noCache, err := rt(b).NewSnapshot(knobs.With(ctx, knobs.Knobs{NoCodeCache: true}), runtime.SnapshotOptions{CopyOnWrite: cow})
		require.NoError(b, err)
		defer noCache.Close()
		newStack, err := rt(b).NewSnapshot(knobs.With(ctx, knobs.Knobs{NewCallStack: true}), runtime.SnapshotOptions{CopyOnWrite: cow})
		require.NoError(b, err)
		defer newStack.Close()
		for _, c := range []struct {
			name string
			s    *runtime.Snapshot
		}{{"reset-exec", s}, {"reset-exec-nocache", noCache}, {"reset-exec-newstack", newStack}} {
			b.Run(name+"/"+c.name, func(b *testing.B) {
				i, err := c.s.NewInstance(ctx, runtime.CloneOptions{})
				require.NoError(b, err)
				defer i.Close(ctx)
				var l latencies
				for b.Loop() {
					l.time(func() {
						if err = i.Reset(ctx); err == nil {
							_, err = i.Run(ctx, runtime.Exec("x = 1"))
						}
					})
					require.NoError(b, err)
				}
				l.report(b, "us")
			})
		}
	}
	b.Run("fresh-init-exec", func(b *testing.B) {
		var l latencies
		for b.Loop() {
			var i *runtime.Instance
			var err error
			l.time(func() {
				i, err = rt(b).NewInstance(ctx, runtime.Options{})
				require.NoError(b, err)
				_, err = i.Run(ctx, runtime.Exec("x = 1"))
			})
			require.NoError(b, err)
			i.Close(ctx)
		}
		l.report(b, "us")
	})
	b.Run("native-subprocess", func(b *testing.B) {
		py := filepath.Join(artifact.DefaultDir(), "native", "bin", "python3.13")
		var l latencies
		for b.Loop() {
			var err error
			l.time(func() { err = exec.Command(py, "-I", "-S", "-c", "x = 1").Run() })
			require.NoError(b, err)
		}
		l.report(b, "us")
	})
}

// BenchmarkFreshCodeCache measures a fresh call (Reset, then Exec) of a new
// source at each step of the code cache, all four in turn in each
// iteration so that a noisy moment hits them alike: its first call
// (compiled in the call, as without the cache), its second (the cache's
// compiler instance compiles it, then the call loads it), a later one (a
// hit), and the same source on a snapshot without the cache. small is
// `x = N`, cell a 31-line cell of ten functions. The times are of the
// call, the reset excluded.
func BenchmarkFreshCodeCache(b *testing.B) {
	cached, err := rt(b).NewSnapshot(ctx, runtime.SnapshotOptions{CopyOnWrite: true})
	require.NoError(b, err)
	defer cached.Close()
	plain, err := rt(b).NewSnapshot(knobs.With(ctx, knobs.Knobs{NoCodeCache: true}), runtime.SnapshotOptions{CopyOnWrite: true})
	require.NoError(b, err)
	defer plain.Close()
	i, err := cached.NewInstance(ctx, runtime.CloneOptions{})
	require.NoError(b, err)
	defer i.Close(ctx)
	j, err := plain.NewInstance(ctx, runtime.CloneOptions{})
	require.NoError(b, err)
	defer j.Close(ctx)
	n := 0 // every source new, also across -count's repetitions
	for _, size := range []string{"small", "cell"} {
		b.Run(size, func(b *testing.B) {
			var steps [4]latencies
			for b.Loop() {
				n++
				src := fmt.Sprintf("x = %d", n)
				if size == "cell" {
					var sb strings.Builder
					for k := range 10 {
						fmt.Fprintf(&sb, "def f%d_%d(a, b):\n    c = [a * i for i in range(b)]\n    return sum(c) + %d\n", n, k, k)
					}
					sb.WriteString("f1_0 if False else None\n")
					src = sb.String()
				}
				for k, inst := range []*runtime.Instance{i, i, i, j} {
					require.NoError(b, inst.Reset(ctx))
					steps[k].time(func() { _, err = inst.Run(ctx, runtime.Exec(src)) })
					require.NoError(b, err)
				}
			}
			for k, name := range []string{"first", "second", "hit", "nocache"} {
				steps[k].reportAs(b, name+"-", "us")
			}
		})
	}
}

// BenchmarkCloneMemory reports what idle clones cost: the process's RSS and
// private (written) memory per clone.
func BenchmarkCloneMemory(b *testing.B) {
	for _, cow := range []bool{false, true} {
		b.Run(map[bool]string{false: "recycled", true: "copy-on-write"}[cow], func(b *testing.B) {
			benchCloneMemory(b, cow)
		})
	}
}

func benchCloneMemory(b *testing.B, cow bool) {
	s, err := rt(b).NewSnapshot(ctx, runtime.SnapshotOptions{Preload: []string{"json"}, CopyOnWrite: cow})
	require.NoError(b, err)
	defer s.Close()
	const n = 50
	for b.Loop() {
		goruntime.GC()
		rss0, priv0 := memStats(b)
		var is []*runtime.Instance
		for range n {
			i, err := s.NewInstance(ctx, runtime.CloneOptions{})
			require.NoError(b, err)
			_, err = i.Run(ctx, runtime.Exec("x = 1"))
			require.NoError(b, err)
			is = append(is, i)
		}
		goruntime.GC()
		rss1, priv1 := memStats(b)
		b.ReportMetric(float64(rss1-rss0)/n/1024, "rss-KiB/clone")
		b.ReportMetric(float64(priv1-priv0)/n/1024, "private-KiB/clone")
		b.ReportMetric(float64(s.Bytes())/(1<<20), "snapshot-MiB")
		for _, i := range is {
			i.Close(ctx)
		}
	}
}

func BenchmarkExec(b *testing.B) {
	i := newInstance(b, runtime.Options{})
	for _, src := range []string{"pass", "x = 1"} {
		b.Run(src, func(b *testing.B) {
			var l latencies
			for b.Loop() {
				l.time(func() { _, err := i.Run(ctx, runtime.Exec(src)); require.NoError(b, err) })
			}
			l.report(b, "us")
		})
	}
}

func BenchmarkCallJSON(b *testing.B) {
	i := newInstance(b, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec("def echo(x):\n    return x\n"))
	require.NoError(b, err)
	for _, size := range []int{1 << 10, 100 << 10} {
		arg, _ := json.Marshal([]string{strings.Repeat("a", size-6)})
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			var l latencies
			for b.Loop() {
				l.time(func() {
					_, err := i.Run(ctx, runtime.CallJSON("echo", arg))
					require.NoError(b, err)
				})
			}
			l.report(b, "us")
		})
	}
}

func BenchmarkHostCallRoundTrip(b *testing.B) {
	i := newInstance(b, runtime.Options{
		Limits: runtime.Limits{MaxHostCalls: 1 << 30},
		Host: map[string]runtime.HostFunc{
			"one": func(context.Context, json.RawMessage) (any, error) { return 1, nil },
		},
	})
	_, err := i.Run(ctx, runtime.Exec("import snakepit\ndef loop(n):\n    for _ in range(n):\n        snakepit.call('one')\n"))
	require.NoError(b, err)
	b.ResetTimer()
	_, err = i.Run(ctx, runtime.Call("loop", b.N))
	require.NoError(b, err)
}

// BenchmarkCancelLatency measures how long after its deadline a spinning
// call returns, for Python-level and C-level loops.
func BenchmarkCancelLatency(b *testing.B) {
	s, err := rt(b).NewSnapshot(ctx, runtime.SnapshotOptions{Options: runtime.Options{Limits: runtime.Limits{MaxMemory: 1 << 30}}, Preload: []string{"re"}})
	require.NoError(b, err)
	defer s.Close()
	for _, tc := range spinners {
		b.Run(tc.name, func(b *testing.B) {
			var l latencies
			for b.Loop() {
				i, err := s.NewInstance(ctx, runtime.CloneOptions{})
				require.NoError(b, err)
				_, err = i.Run(ctx, runtime.Exec(tc.setup))
				require.NoError(b, err)
				c, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
				deadline, _ := c.Deadline()
				_, err = i.Run(c, runtime.Exec(tc.src))
				l = append(l, time.Since(deadline))
				cancel()
				require.ErrorIs(b, err, context.DeadlineExceeded)
				i.Close(ctx)
			}
			l.report(b, "ms")
		})
	}
}

// BenchmarkTickerLateness spins one guest per core and measures how late a
// 1 ms ticker in the same process fires (the host must stay responsive),
// plain and with a forced garbage collection every tick. A forced collection
// runs on the ticker's goroutine, so its lateness then includes the whole
// collection; stw-stop-max-ms is what the guests control: the longest wait
// for every goroutine to stop for a stop-the-world (runtime/metrics, to its
// histogram bucket's upper bound).
func BenchmarkTickerLateness(b *testing.B) {
	for _, gc := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "gc-every-tick"}[gc], func(b *testing.B) {
			var late latencies
			before := stwStopping()
			for b.Loop() {
				late = append(late, tickerLateness(b, rt(b), 500*time.Millisecond, gc)...)
			}
			after := stwStopping()
			late.report(b, "ms")
			b.ReportMetric(float64(slices.Max(late))/float64(time.Millisecond), "max-late-ms")
			for i := len(after.Counts) - 1; i >= 0; i-- {
				if after.Counts[i] > before.Counts[i] {
					b.ReportMetric(after.Buckets[i+1]*1000, "stw-stop-max-ms")
					break
				}
			}
		})
	}
}

// stwStopping reads the histogram of the time the runtime waited for all
// goroutines to stop, for every stop-the-world.
func stwStopping() *metrics.Float64Histogram {
	m := []metrics.Sample{{Name: "/sched/pauses/stopping/gc:seconds"}, {Name: "/sched/pauses/stopping/other:seconds"}}
	metrics.Read(m)
	h := m[0].Value.Float64Histogram()
	o := m[1].Value.Float64Histogram()
	sum := &metrics.Float64Histogram{Buckets: h.Buckets, Counts: slices.Clone(h.Counts)}
	for i := range sum.Counts {
		sum.Counts[i] += o.Counts[i]
	}
	return sum
}

// tickerLateness returns how late each tick of a 1 ms ticker was while a guest
// per core spun for d.
func tickerLateness(t testing.TB, r *runtime.Runtime, d time.Duration, forceGC bool) []time.Duration {
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for range goruntime.GOMAXPROCS(0) {
		i, err := r.NewInstance(ctx, runtime.Options{})
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer i.Close(ctx)
			i.Run(c, runtime.Exec("while True:\n    x = [1] * 10"))
		}()
	}
	var late []time.Duration
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for done := false; !done; {
		select {
		case <-tick.C:
		case <-c.Done():
			done = true
		}
		now := time.Now()
		late = append(late, max(0, now.Sub(last)-time.Millisecond))
		last = now
		if forceGC {
			goruntime.GC() // a stop-the-world must not wait for the guests
		}
	}
	wg.Wait()
	return late
}

func TestHostStaysResponsiveWhileGuestsSpin(t *testing.T) {
	worst := slices.Max(tickerLateness(t, rt(t), 300*time.Millisecond, true))
	t.Logf("worst ticker lateness with %d spinning guests: %v", goruntime.GOMAXPROCS(0), worst)
	// Not a latency target (BenchmarkTickerLateness measures that): without a
	// preemption point, one GC alone stalls for seconds.
	require.Less(t, worst, time.Second)
}

// memStats returns the process's RSS and private dirty memory in bytes.
func memStats(t testing.TB) (rss, private uint64) {
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		var kb uint64
		if _, err := fmt.Sscanf(line, "Rss: %d kB", &kb); err == nil {
			rss = kb << 10
		} else if _, err := fmt.Sscanf(line, "Private_Dirty: %d kB", &kb); err == nil {
			private = kb << 10
		}
	}
	return rss, private
}

// holeCases are the guests that used to outlive their deadline (issue 19):
// a destructor run when the host released a large result, a loop of bulk
// memory copies, and sleeps.
var holeCases = []struct{ name, setup, src string }{
	{"release-del", hostileResult(70000), "1"},
	{"bulk-copy", "b = bytearray(32 << 20)\nc = bytearray(len(b))", "for _ in range(10**6):\n    c[:] = b"},
	{"sleep", "import select", "select.select([], [], [], 1e9)"},
}

// BenchmarkHoleStops runs a guest per core in each hole case, each call with
// a 50 ms deadline, and reports how late the calls return (p50/p99) and,
// while they run, the worst lateness of a 1 ms ticker, the longest
// runtime.GC() (forced every 20 ms), and the longest wait for every goroutine
// to stop for a stop-the-world (what the guests control; to the runtime
// histogram's bucket bound). Instances are created and set up before each
// measured window: instantiation copies megabytes in runtime.memmove, which
// a stop-the-world cannot interrupt either, but that is the host's doing.
func BenchmarkHoleStops(b *testing.B) {
	for _, tc := range holeCases {
		b.Run(tc.name, func(b *testing.B) {
			var (
				stops, gcs latencies
				ticks      []time.Duration
				stwMax     float64
			)
			n := goruntime.GOMAXPROCS(0)
			for b.Loop() {
				insts := make([]*runtime.Instance, n)
				for k := range insts {
					i, err := rt(b).NewInstance(ctx, runtime.Options{})
					require.NoError(b, err)
					_, err = i.Run(ctx, runtime.Exec(tc.setup))
					require.NoError(b, err)
					insts[k] = i
				}
				before := stwStopping()
				stopGC := collectEvery(20 * time.Millisecond)
				done := make(chan struct{})
				var bg sync.WaitGroup
				bg.Go(func() {
					t := time.NewTicker(time.Millisecond)
					defer t.Stop()
					last := time.Now()
					for {
						select {
						case <-done:
							return
						case now := <-t.C:
							ticks = append(ticks, max(0, now.Sub(last)-time.Millisecond))
							last = now
						}
					}
				})
				late := make([]time.Duration, n)
				var wg sync.WaitGroup
				for k, i := range insts {
					wg.Go(func() {
						c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
						defer cancel()
						deadline, _ := c.Deadline()
						_, err := i.Run(c, runtime.Exec(tc.src))
						late[k] = time.Since(deadline)
						require.ErrorIs(b, err, context.DeadlineExceeded)
					})
				}
				wg.Wait()
				gcs = append(gcs, stopGC()...)
				close(done)
				bg.Wait()
				after := stwStopping()
				for k := len(after.Counts) - 1; k >= 0; k-- {
					if after.Counts[k] > before.Counts[k] {
						stwMax = max(stwMax, after.Buckets[k+1]*1000)
						break
					}
				}
				stops = append(stops, late...)
				for _, i := range insts {
					i.Close(ctx)
				}
			}
			stops.report(b, "ms")
			b.ReportMetric(float64(slices.Max(ticks))/float64(time.Millisecond), "tick-max-late-ms")
			b.ReportMetric(float64(slices.Max(gcs))/float64(time.Millisecond), "gc-max-ms")
			b.ReportMetric(stwMax, "stw-stop-max-ms")
		})
	}
}

// BenchmarkRuntimeNew measures a runtime's start with a warm compilation
// cache: the embedded interpreter (decompressed from the binary) against the
// same one read from a local build's files.
func BenchmarkRuntimeNew(b *testing.B) {
	dirs := map[string]string{"embedded": ""}
	if local := artifact.DefaultDir(); func() bool { _, err := os.Stat(filepath.Join(local, "python.wasm")); return err == nil }() {
		dirs["local"] = local
	}
	for _, name := range []string{"embedded", "local"} {
		dir, ok := dirs[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			r, err := runtime.New(ctx, runtime.Config{Dir: dir}) // fills the cache
			require.NoError(b, err)
			r.Close(ctx)
			var l latencies
			for b.Loop() {
				l.time(func() {
					r, err = runtime.New(ctx, runtime.Config{Dir: dir})
				})
				require.NoError(b, err)
				r.Close(ctx)
			}
			l.report(b, "ms")
		})
	}
}

// BenchmarkScratch measures the scratch file system from Python: writing
// 10 MB in 64 KB chunks and reading it back, and a fresh clone (with a
// first call that reads its files) of a snapshot holding 1 MB of scratch
// files, which its clones share copy-on-write.
func BenchmarkScratch(b *testing.B) {
	b.Run("write-read-10MB", func(b *testing.B) {
		i, err := rt(b).NewInstance(ctx, runtime.Options{})
		require.NoError(b, err)
		defer i.Close(ctx)
		_, err = i.Run(ctx, runtime.Exec(programs.ScratchRoundtrip))
		require.NoError(b, err)
		b.SetBytes(2 * programs.ScratchBytes)
		for b.Loop() {
			r, err := i.Run(ctx, runtime.Call("roundtrip"))
			require.NoError(b, err)
			require.JSONEq(b, fmt.Sprint(programs.ScratchBytes), string(r.Value))
		}
	})
	// clone-empty is the same without files (its Setup allocates and frees
	// as much, so that the two snapshots' memories are alike): the
	// difference is what the snapshot's files cost a clone.
	for _, c := range []struct{ name, setup string }{{"clone-empty", `
import os
os.makedirs('data', exist_ok=True)
open('data/7.bin', 'wb').close()
for k in range(16):
    open('data/x', 'wb').write(bytes([k]) * 65536)
os.unlink('data/x')
`}, {"clone-with-1MB", `
import os
os.makedirs('data', exist_ok=True)
for k in range(16):
    open('data/%d.bin' % k, 'wb').write(bytes([k]) * 65536)
`}} {
		b.Run(c.name, func(b *testing.B) {
			snap, err := rt(b).NewSnapshot(ctx, runtime.SnapshotOptions{Setup: c.setup})
			require.NoError(b, err)
			defer snap.Close()
			// The first clones of a process pay for its warm-up: not measured.
			for range 5 {
				c, err := snap.NewInstance(ctx, runtime.CloneOptions{})
				require.NoError(b, err)
				c.Close(ctx)
			}
			var ready, first latencies
			for b.Loop() {
				var c *runtime.Instance
				ready.time(func() {
					c, err = snap.NewInstance(ctx, runtime.CloneOptions{})
					require.NoError(b, err)
				})
				first.time(func() {
					_, err = c.Run(ctx, runtime.Exec("len(open('data/7.bin', 'rb').read())"))
					require.NoError(b, err)
				})
				c.Close(ctx)
			}
			ready.report(b, "µs")
			b.ReportMetric(float64(snap.Bytes())/(1<<20), "snapshot-MiB")
			slices.Sort(first)
			b.ReportMetric(float64(first[len(first)/2])/float64(time.Microsecond), "first-call-p50-µs")
		})
	}
}
