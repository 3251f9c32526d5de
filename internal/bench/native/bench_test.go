//go:build unix

package native

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/bench/programs"
)

const benchSrc = `
def add(a, b): return a + b
def size(x): return len(x)
def ask(n):
    total = 0
    for i in range(n):
        total += host_call(i)
    return total
`

func benchCall(b *testing.B, p *Pool, fn string, args []byte, want string) {
	b.Helper()
	ctx := context.Background()
	b.SetBytes(int64(len(args)))
	for b.Loop() {
		res, err := p.Call(ctx, fn, args)
		if err != nil || string(res) != want {
			b.Fatalf("%s: %s, %v", fn, res, err)
		}
	}
}

// BenchmarkCall is a warm round trip to one worker.
func BenchmarkCall(b *testing.B) {
	p := newPool(b, 1, benchSrc)
	b.Run("trivial", func(b *testing.B) { benchCall(b, p, "add", []byte("[1,2]"), "3") })
	for _, n := range []int{1 << 10, 100 << 10} {
		arg := programs.JSONArg(n)
		var recs [][]any
		json.Unmarshal(arg, &recs)
		want := fmt.Sprint(len(recs[0]))
		b.Run(fmt.Sprintf("json%dKB", n>>10), func(b *testing.B) { benchCall(b, p, "size", arg, want) })
	}
}

// BenchmarkCallParallel is the throughput of a pool with a worker per core.
func BenchmarkCallParallel(b *testing.B) {
	p := newPool(b, 2, benchSrc)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Call(ctx, "add", []byte("[1,2]")); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCallback is a call whose Python side asks Go for n values.
func BenchmarkCallback(b *testing.B) {
	p := newPool(b, 1, benchSrc)
	ctx := context.Background()
	cb := func([]byte) []byte { return []byte("1") }
	for _, n := range []int{1, 100} {
		args := fmt.Appendf(nil, "[%d]", n)
		want := fmt.Sprint(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				res, err := p.CallWithCallback(ctx, "ask", args, cb)
				if err != nil || string(res) != want {
					b.Fatalf("ask: %s, %v", res, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/callback")
		})
	}
}

// BenchmarkFresh is a process per call: spawn, run x = 1, exit.
func BenchmarkFresh(b *testing.B) {
	py := python(b)
	for b.Loop() {
		if err := RunFresh(context.Background(), py, "x = 1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStart is starting and closing a pool of one worker.
func BenchmarkStart(b *testing.B) {
	py := python(b)
	for b.Loop() {
		p, err := New(context.Background(), py, 1)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
