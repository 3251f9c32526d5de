package pool_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/bench/programs"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// pss returns the process's proportional set size in bytes, after a
// collection that returns free heap to the system (Go garbage is not a
// worker's cost).
func pss(tb testing.TB) uint64 {
	goruntime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		tb.Skipf("no PSS on this system: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		if k == "Pss" {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(tb, err)
			return kb << 10
		}
	}
	tb.Fatal("no Pss line in smaps_rollup")
	return 0
}

// BenchmarkWorkerDensity measures what a worker costs, per mode, in a pool
// of 8 workers whose Setup defines the CPU suite's programs (as
// `make bench`'s idle-memory rows do): pool.New's time, the median worker
// start (WorkerReady's Duration), and the process's marginal PSS per worker
// while idle after New and again after each worker served one call (every
// worker at once, held by a barrier, so that each is touched; in
// ModeSession, per interpreter: the sessions' and the spares that replaced
// them).
func BenchmarkWorkerDensity(b *testing.B) {
	const size = 8
	setup := programs.Setup(programs.All())
	// The runtime's compilation and the clones' module variant are the
	// process's, not the workers': done before any measure.
	newPool(b, pool.Options{Size: 1}).Close(ctx)
	for _, mode := range []string{"warm", "session", "fresh"} {
		b.Run(mode, func(b *testing.B) {
			var newTimes, starts, idle, used []float64
			for b.Loop() {
				var mu sync.Mutex
				var ready []float64
				base := pss(b)
				t0 := time.Now()
				p, err := startAny(b, mode, pool.Options{Size: size, Setup: setup,
					Instance: runtime.Options{Limits: runtime.Limits{MaxMemory: 512 << 20}},
					OnEvent: func(e pool.Event) {
						if e.Type == pool.WorkerReady {
							mu.Lock()
							ready = append(ready, float64(e.Duration)/float64(time.Millisecond))
							mu.Unlock()
						}
					}})
				require.NoError(b, err)
				newTimes = append(newTimes, float64(time.Since(t0))/float64(time.Millisecond))
				mu.Lock()
				starts = append(starts, ready...)
				mu.Unlock()
				idle = append(idle, float64(pss(b)-base)/size/(1<<20))
				if mode != "fresh" {
					touchEveryWorker(b, p, size)
					// In ModeSession the sessions keep their workers and
					// spares replace them: count every interpreter.
					waitIdle(p.stats, size)
					st := p.stats()
					used = append(used, float64(pss(b)-base)/float64(st.Idle+st.Parked)/(1<<20))
				}
				require.NoError(b, p.close(ctx))
			}
			report := func(xs []float64, unit string) {
				if len(xs) > 0 {
					slices.Sort(xs)
					b.ReportMetric(xs[len(xs)/2], unit)
				}
			}
			report(newTimes, "new-ms")
			report(starts, "worker-start-ms")
			report(idle, "idle-MiB/worker")
			report(used, "used-MiB/worker")
		})
	}
}

// touchEveryWorker runs one small call on each of p's size workers at
// once (a session per worker in ModeSession).
func touchEveryWorker(b *testing.B, p *anyPool, size int) {
	req := atOnce(size, "x = sorted(str(i) for i in range(1000))")
	var wg sync.WaitGroup
	for k := range size {
		wg.Go(func() {
			_, err := p.run(fmt.Sprint(k)).Run(ctx, req)
			require.NoError(b, err)
		})
	}
	wg.Wait()
}

// BenchmarkParkedSessions measures sessions parked on a pool of 2 workers:
// the marginal PSS per idle session (each has run one small call), and the
// latency of a trivial call on a parked session (the sessions called in
// turn, so that each call finds its session parked since the last round)
// against the same call repeated on one session and on a ModeWarm pool.
func BenchmarkParkedSessions(b *testing.B) {
	n := 200
	req := exec("x = 1")
	for b.Loop() {
		warm := newPool(b, pool.Options{Mode: pool.ModeWarm, Size: 2})
		base := pss(b)
		p, err := pool.NewSessions(ctx, rt(b), pool.Options{Size: 2, MaxSessions: n, MaxQueue: n})
		require.NoError(b, err)
		for k := range n {
			_, err := p.Session(fmt.Sprint(k)).Run(ctx, exec(fmt.Sprintf("me = %d\nseen = [me] * 10", k)))
			require.NoError(b, err)
		}
		waitIdle(p.Stats, 2)
		perSession := float64(pss(b)-base) / float64(n) / (1 << 20)
		var parked, one, warmLat []time.Duration
		timed := func(out *[]time.Duration, f func() error) {
			t := time.Now()
			require.NoError(b, f())
			*out = append(*out, time.Since(t))
		}
		for round := range 5 {
			for k := range n {
				timed(&parked, func() error { _, err := p.Session(fmt.Sprint(k)).Run(ctx, req); return err })
				// Interleaved, so that the machine's load hits all three alike.
				if k%4 == round%4 {
					timed(&one, func() error { _, err := p.Session("0").Run(ctx, req); return err })
					timed(&warmLat, func() error { _, err := warm.Run(ctx, req); return err })
				}
			}
		}
		require.NoError(b, p.Close(ctx))
		for _, m := range []struct {
			unit string
			d    []time.Duration
		}{{"parked-p50-µs", parked}, {"same-session-p50-µs", one}, {"warm-p50-µs", warmLat}} {
			slices.Sort(m.d)
			b.ReportMetric(float64(m.d[len(m.d)/2])/float64(time.Microsecond), m.unit)
		}
		slices.Sort(parked)
		b.ReportMetric(float64(parked[len(parked)*99/100])/float64(time.Microsecond), "parked-p99-µs")
		b.ReportMetric(perSession, "MiB/parked-session")
	}
}

// waitIdle waits (a little) for a pool to have w spare workers ready.
func waitIdle(stats func() pool.Stats, w int) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st := stats(); st.Idle >= w && st.Starting == 0 {
			return
		}
	}
}
