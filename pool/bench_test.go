package pool_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/pool"
)

// BenchmarkTrivialCall measures a trivial call (`x = 1`) through a pool of
// the default size, per mode and number of concurrent callers: ns/op is
// the inverse of throughput; p50-µs and p99-µs are the latency each caller
// sees, queueing included.
func BenchmarkTrivialCall(b *testing.B) {
	for _, mode := range []string{"fresh", "warm", "session"} {
		b.Run(mode, func(b *testing.B) {
			runner, stats := modeRunner(b, mode, pool.Options{})
			size := stats().Size
			for _, callers := range []int{1, 2, 4, 16} {
				b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
					lat := make([]time.Duration, b.N)
					var wg sync.WaitGroup
					b.ResetTimer()
					for c := range callers {
						wg.Go(func() {
							key := fmt.Sprint(c % size)
							for i := c; i < b.N; i += callers {
								start := time.Now()
								_, err := runner(key).Run(ctx, exec("x = 1"))
								lat[i] = time.Since(start)
								if err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
					b.StopTimer()
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
				})
			}
		})
	}
}
