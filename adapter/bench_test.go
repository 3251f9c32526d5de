package adapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/adapter"
	"github.com/snakepit-wasm/snakepit/internal/bench/native"
	"github.com/snakepit-wasm/snakepit/internal/bench/programs"
	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// benchSrc is the Python both sides run: typed and exported for snakepit,
// plain for the native pool (where snakepit.export is a no-op).
const benchSrc = `
import asyncio
from typing import Iterator, TypedDict
try:
    import snakepit
    export, acall, call = snakepit.export, snakepit.acall, snakepit.call
except ImportError:
    export = lambda f: f

class Record(TypedDict):
    id: int
    name: str
    tags: list[str]
    score: float

@export
def size(recs: list[Record]) -> int:
    return len(recs)

def size_plain(recs):
    return len(recs)

@export
def count(n: int) -> Iterator[int]:
    yield from range(n)

def count_list(n):
    return list(range(n))

def count_host(n):  # the native pool's stream: a host callback per item
    for i in range(n):
        host_call(i)

@export
async def gather(n: int) -> int:
    return sum(await asyncio.gather(*(acall("io", i) for i in range(n))))

@export
def sequential(n: int) -> int:
    return sum(call("io", i) for i in range(n))

def sequential_native(n):
    return sum(host_call(i) for i in range(n))
`

// ioDelay is the latency of the host tool "io", standing for a network call.
const ioDelay = time.Millisecond

func ioTool(ctx context.Context, args json.RawMessage) (any, error) {
	if ioDelay > 0 {
		t := time.NewTimer(ioDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return 1, nil
}

// BenchmarkAdapter compares adapter calls with the native subprocess pool
// of internal/bench/native (same CPython source, built natively), sub-benchmark by
// sub-benchmark, so that -count=N interleaves the two sides.
//
//   - call-1KB: a typed call whose argument is 1 KB of JSON records
//     (checked against a TypedDict on snakepit's side); "untyped" is the
//     same call through runtime.OpCall without the adapter.
//   - stream-10k: 10,000 small items. Native has no stream: "callback" asks
//     Go once per item, "list" returns them all at once.
//   - host-100: a call making 100 host calls to a tool taking ioDelay:
//     with snakepit.acall and asyncio.gather, and one after another.
func BenchmarkAdapter(b *testing.B) {
	ctx := context.Background()
	p, err := pool.New(ctx, testrt.Runtime(b), pool.Options{Size: 1, Mode: pool.ModeWarm, Preload: []string{"bench"},
		Instance: runtime.Options{
			Limits:   runtime.Limits{MaxAsyncHostCalls: 100},
			Host:     map[string]runtime.HostFunc{"io": ioTool},
			Packages: []runtime.Package{{Files: map[string]string{"bench.py": benchSrc}}},
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)
	var np *native.Pool
	if py, err := native.PythonPath(); err == nil {
		if np, err = native.New(ctx, py, 1); err != nil {
			b.Fatal(err)
		}
		defer np.Close()
		if err := np.Exec(ctx, "import sys\nsys.modules['snakepit'] = None\n"+benchSrc); err != nil {
			b.Fatal(err)
		}
	}
	nativeRun := func(b *testing.B, f func()) {
		if np == nil {
			b.Skip("no native python3.13 (internal/bench/native.PythonPath)")
		}
		for b.Loop() {
			f()
		}
	}
	// run is b.Run that also reports the CPU time per op (this process and
	// the native workers).
	run := func(name string, f func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			start := cpuStart()
			f(b)
			if b.N > 0 {
				b.ReportMetric(float64(cpuEnd(start).Nanoseconds())/float64(b.N), "cpu-ns/op")
			}
		})
	}
	check := func(b *testing.B, err error) {
		if err != nil {
			b.Fatal(err)
		}
	}

	arg := programs.JSONArg(1 << 10)
	run("call-1KB/snakepit", func(b *testing.B) {
		b.SetBytes(int64(len(arg)))
		for b.Loop() {
			n, err := adapter.Call[int](ctx, p, "size", json.RawMessage(arg))
			check(b, err)
			if n == 0 {
				b.Fatal("no records")
			}
		}
	})
	run("call-1KB/snakepit-untyped", func(b *testing.B) {
		b.SetBytes(int64(len(arg)))
		for b.Loop() {
			res, err := p.Run(ctx, runtime.CallJSON("bench.size_plain", arg))
			check(b, err)
			var n int
			check(b, res.Decode(&n))
		}
	})
	run("call-1KB/native", func(b *testing.B) {
		b.SetBytes(int64(len(arg)))
		nativeRun(b, func() {
			res, err := np.Call(ctx, "size", arg)
			check(b, err)
			var n int
			check(b, json.Unmarshal(res, &n))
		})
	})

	const items = 10000
	run("stream-10k/snakepit", func(b *testing.B) {
		for b.Loop() {
			n := 0
			for v, err := range adapter.Stream[int](ctx, p, "count", []int{items}) {
				check(b, err)
				n += v
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
	})
	run("stream-10k/snakepit-untyped", func(b *testing.B) {
		for b.Loop() {
			n := 0
			_, err := p.Run(ctx, runtime.Request{Op: runtime.OpStream, Code: "bench.count", Args: fmt.Appendf(nil, "[%d]", items),
				OnChunk: func(c json.RawMessage) error {
					var v int
					err := json.Unmarshal(c, &v)
					n += v
					return err
				}})
			check(b, err)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
	})
	run("stream-10k/native-callback", func(b *testing.B) {
		nativeRun(b, func() {
			n := 0
			_, err := np.CallWithCallback(ctx, "count_host", fmt.Appendf(nil, "[%d]", items), func(v []byte) []byte {
				var i int
				json.Unmarshal(v, &i)
				n += i
				return []byte("null")
			})
			check(b, err)
		})
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
	})
	run("stream-10k/native-list", func(b *testing.B) {
		nativeRun(b, func() {
			res, err := np.Call(ctx, "count_list", fmt.Appendf(nil, "[%d]", items))
			check(b, err)
			var v []int
			check(b, json.Unmarshal(res, &v))
		})
	})

	for _, c := range []struct{ name, fn string }{{"snakepit-async", "gather"}, {"snakepit-sequential", "sequential"}} {
		run("host-100/"+c.name, func(b *testing.B) {
			for b.Loop() {
				n, err := adapter.Call[int](ctx, p, c.fn, []int{100})
				check(b, err)
				if n != 100 {
					b.Fatal(n)
				}
			}
		})
	}
	run("host-100/native-sequential", func(b *testing.B) {
		nativeRun(b, func() {
			_, err := np.CallWithCallback(ctx, "sequential_native", []byte("[100]"), func([]byte) []byte {
				ioTool(ctx, nil)
				return []byte("1")
			})
			check(b, err)
		})
	})
}
