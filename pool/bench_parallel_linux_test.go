//go:build linux

package pool_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

const addSetup = "def add(a, b):\n    return a + b"

// BenchmarkWarmCallCallers is BenchmarkWarmCall's add(1, 2) from 1, 2 and 4
// callers on a ModeWarm pool of min(callers, 2) workers: how the call path
// scales over the cores (make bench's "warm add(1, 2)" rows). two-pools is
// 2 callers each on a pool of its own, the bound the shared pool can reach
// (no shared lock, each worker on one core). cpu-µs/op is the process's
// CPU time per call.
func BenchmarkWarmCallCallers(b *testing.B) {
	for _, callers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			p := newPool(b, pool.Options{Mode: pool.ModeWarm, Size: min(callers, 2), Setup: addSetup})
			callersLoop(b, callers, func(int) *pool.Pool { return p })
		})
	}
	b.Run("two-pools", func(b *testing.B) {
		ps := []*pool.Pool{newPool(b, pool.Options{Mode: pool.ModeWarm, Size: 1, Setup: addSetup}),
			newPool(b, pool.Options{Mode: pool.ModeWarm, Size: 1, Setup: addSetup})}
		callersLoop(b, 2, func(k int) *pool.Pool { return ps[k] })
	})
}

// callersLoop makes b.N warm add calls from n goroutines, caller k on
// pool(k).
func callersLoop(b *testing.B, n int, pool func(k int) *pool.Pool) {
	req := runtime.CallJSON("add", []byte("[1, 2]"))
	b.ResetTimer()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	per := b.N / n
	for k := range n {
		wg.Go(func() {
			for range per {
				if _, err := pool(k).Run(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(per*n), "cpu-µs/op")
}
