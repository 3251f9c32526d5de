//go:build linux

package pool_test

import (
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// BenchmarkWarmCallCallers is BenchmarkWarmCall's add(1, 2) from 1, 2 and 4
// callers on a ModeWarm pool of min(callers, 2) workers: how the call path
// scales over the cores (make bench's "warm add(1, 2)" rows). cpu-µs/op is
// the process's CPU time per call.
func BenchmarkWarmCallCallers(b *testing.B) {
	for _, callers := range []int{1, 2, 4} {
		b.Run(map[int]string{1: "callers=1", 2: "callers=2", 4: "callers=4"}[callers], func(b *testing.B) {
			p := newPool(b, pool.Options{Mode: pool.ModeWarm, Size: min(callers, 2), Setup: "def add(a, b):\n    return a + b"})
			req := runtime.CallJSON("add", []byte("[1, 2]"))
			b.ResetTimer()
			cpu0 := cpuTime()
			var wg sync.WaitGroup
			per := b.N / callers
			for range callers {
				wg.Go(func() {
					for range per {
						if _, err := p.Run(ctx, req); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(per*callers), "cpu-µs/op")
		})
	}
}

func BenchmarkWarmCallTwoPools(b *testing.B) {
	ps := []*pool.Pool{
		newPool(b, pool.Options{Mode: pool.ModeWarm, Size: 1, Setup: "def add(a, b):\n    return a + b"}),
		newPool(b, pool.Options{Mode: pool.ModeWarm, Size: 1, Setup: "def add(a, b):\n    return a + b"}),
	}
	req := runtime.CallJSON("add", []byte("[1, 2]"))
	b.ResetTimer()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	per := b.N / 2
	for _, p := range ps {
		wg.Go(func() {
			for range per {
				if _, err := p.Run(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(per*2), "cpu-µs/op")
}
