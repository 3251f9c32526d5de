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

	"github.com/snakepit-wasm/snakepit/bench/programs"
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
// worker at once, held by a barrier, so that each is touched).
func BenchmarkWorkerDensity(b *testing.B) {
	const size = 8
	setup := programs.Setup(programs.All())
	for _, mode := range []pool.Mode{pool.ModeWarm, pool.ModeSession, pool.ModeFresh} {
		b.Run(mode.String(), func(b *testing.B) {
			var newTimes, starts, idle, used []float64
			for b.Loop() {
				var mu sync.Mutex
				var ready []float64
				base := pss(b)
				t0 := time.Now()
				p, err := pool.New(ctx, rt(b), pool.Options{Mode: mode, Size: size, Setup: setup,
					Instance: runtime.Options{MemoryLimit: 512 << 20},
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
				if mode != pool.ModeFresh {
					touchEveryWorker(b, p, size)
					used = append(used, float64(pss(b)-base)/size/(1<<20))
				}
				require.NoError(b, p.Close(ctx))
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
func touchEveryWorker(b *testing.B, p *pool.Pool, size int) {
	req := atOnce(size, "x = sorted(str(i) for i in range(1000))")
	var wg sync.WaitGroup
	for k := range size {
		wg.Go(func() {
			var err error
			if p.Stats().Mode == pool.ModeSession {
				_, err = p.RunSession(ctx, fmt.Sprint(k), req)
			} else {
				_, err = p.Run(ctx, req)
			}
			require.NoError(b, err)
		})
	}
	wg.Wait()
}
