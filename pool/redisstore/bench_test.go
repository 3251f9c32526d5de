package redisstore_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/pool/redisstore"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// smallSession is a session holding a few variables, an import and a
// small file (issue #29's "small session"), on a pool the benchmark's
// cleanup closes.
func smallSession(b *testing.B) *pool.Session {
	ss, err := pool.NewSessions(ctx, testrt.Runtime(b), pool.Options{Size: 1})
	require.NoError(b, err)
	b.Cleanup(func() { ss.Close(ctx) })
	s := ss.Session("s")
	_, err = s.Run(ctx, runtime.Exec("import json\nx = 41\nnames = {i: str(i) for i in range(100)}\n"+
		"open('note.txt', 'w').write(json.dumps(names))"))
	require.NoError(b, err)
	return s
}

// timed runs op b.N times and reports its p50 and p99.
func timed(b *testing.B, op func() error) {
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Microsecond), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Microsecond), "p99-µs")
}

// BenchmarkStore puts and gets a small session's image in Redis (a real
// redis-server on loopback) and, side by side, in a DirStore: the latency
// of one call at a time, then the throughput of 16 callers at once (ns/op
// is then wall time over all of them). Save is the session's image taken,
// which with Put is what --store-sync adds to each call; redis/memory is
// what Redis holds per stored session (used_memory over b.N keys).
func BenchmarkStore(b *testing.B) {
	s := smallSession(b)
	img, err := s.Save(ctx)
	require.NoError(b, err)
	b.Run("session/Save", func(b *testing.B) {
		timed(b, func() error { _, err := s.Save(ctx); return err })
		b.ReportMetric(float64(len(img)), "image-bytes")
	})

	rs, srv := open(b, redisstore.Options{})
	ds, err := pool.NewDirStore(b.TempDir())
	require.NoError(b, err)
	for _, st := range []struct {
		name string
		s    pool.Store
	}{{"redis", rs}, {"dir", ds}} {
		require.NoError(b, st.s.Put(ctx, "get", img))
		ops := []struct {
			name string
			do   func(key string) error
		}{
			{"Put", func(key string) error { return st.s.Put(ctx, key, img) }},
			{"Get", func(string) error { _, err := st.s.Get(ctx, "get"); return err }},
		}
		for _, op := range ops {
			b.Run(st.name+"/"+op.name, func(b *testing.B) {
				b.SetBytes(int64(len(img)))
				timed(b, func() error { return op.do("put") })
			})
			b.Run(st.name+"/"+op.name+"-parallel", func(b *testing.B) {
				b.SetParallelism(8) // 16 callers on the 2-core VM
				b.SetBytes(int64(len(img)))
				var n atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					key := fmt.Sprint("put-", n.Add(1))
					for pb.Next() {
						if err := op.do(key); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}

	b.Run("redis/memory", func(b *testing.B) {
		c := client(b, srv)
		require.NoError(b, c.FlushDB(ctx).Err())
		used := func() float64 {
			info, err := c.Info(ctx, "memory").Result()
			require.NoError(b, err)
			for line := range strings.Lines(info) {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
					n, err := strconv.ParseFloat(v, 64)
					require.NoError(b, err)
					return n
				}
			}
			b.Fatal("no used_memory in INFO memory")
			return 0
		}
		before, n := used(), 0
		for b.Loop() {
			require.NoError(b, rs.Put(ctx, fmt.Sprint("mem-", n), img))
			n++
		}
		b.ReportMetric((used()-before)/float64(n), "redis-bytes/session")
		b.ReportMetric(float64(len(img)), "image-bytes")
	})
}
