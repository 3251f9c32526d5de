//go:build linux

package pool_test

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/knobs"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// BenchmarkWarmCall measures one caller's warm calls through a ModeWarm
// pool of one worker: exec of a cell, eval of an expression, a function
// call with JSON arguments, and an echo of about 1 KB of JSON. cpu-µs/op is
// the process's CPU time (user and system) per call, steadier than wall
// time on a shared machine.
func BenchmarkWarmCall(b *testing.B) {
	p := newPool(b, pool.Options{Mode: pool.ModeWarm, Size: 1, Setup: "def add(a, b):\n    return a + b\ndef echo(x):\n    return x"})
	rec := `{"id": 12345, "name": "a record of about one hundred bytes", "tags": ["x", "y", "z"], "ok": true}`
	echo := []byte("[[" + strings.Repeat(rec+",", 9) + rec + "]]")
	for _, c := range []struct {
		name string
		req  runtime.Request
	}{
		{"exec-x=1", exec("x = 1")},
		{"eval-1+1", eval("1 + 1")},
		{"call-add", runtime.CallJSON("add", []byte("[1, 2]"))},
		{"echo-1KB", runtime.CallJSON("echo", echo)},
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := p.Run(ctx, c.req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime returns the process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFreshCall measures a fresh `x = 1` from one caller, side by side:
// through a ModeFresh pool of one worker (a used clone reset in place, in
// the background), the same with the snapshot's code cache off (each call
// compiles its cell, as before the cache), and as the pool did it before
// resets (a new clone of a recycled-memory snapshot per call, closed after
// it). The sides take turns, 100 calls each, so that a noisy moment of a
// shared machine hits them alike. Per side: cpu-µs, the process's CPU time
// per call, everything included (the background reset too); p50-µs and
// p99-µs, the wall time of each call. ns/op mixes the sides.
func BenchmarkFreshCall(b *testing.B) {
	p := newPool(b, pool.Options{Size: 1})
	noCache := newPoolCtx(b, knobs.With(ctx, knobs.Knobs{NoCodeCache: true}), pool.Options{Size: 1})
	newStack := newPoolCtx(b, knobs.With(ctx, knobs.Knobs{NewCallStack: true}), pool.Options{Size: 1})
	s, err := rt(b).NewSnapshot(ctx, runtime.SnapshotOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	sides := []struct {
		name string
		call func() error
		lat  []time.Duration
		cpu  time.Duration
	}{
		{name: "pool-reset", call: func() error { _, err := p.Run(ctx, exec("x = 1")); return err }},
		{name: "pool-reset-nocache", call: func() error { _, err := noCache.Run(ctx, exec("x = 1")); return err }},
		{name: "pool-reset-newstack", call: func() error { _, err := newStack.Run(ctx, exec("x = 1")); return err }},
		{name: "new-clone", call: func() error {
			i, err := s.NewInstance(ctx, runtime.CloneOptions{})
			if err == nil {
				_, err = i.Run(ctx, runtime.Exec("x = 1"))
				i.Close(ctx)
			}
			return err
		}},
	}
	const turn = 100
	n := 0
	cpu0 := cpuTime()
	for b.Loop() {
		side := &sides[n/turn%len(sides)]
		t := time.Now()
		if err := side.call(); err != nil {
			b.Fatal(err)
		}
		side.lat = append(side.lat, time.Since(t))
		n++
		if n%turn == 0 {
			c := cpuTime()
			side.cpu += c - cpu0
			cpu0 = c
		}
	}
	for _, side := range sides {
		if len(side.lat) < turn {
			continue // too few calls for a whole turn
		}
		calls := len(side.lat) / turn * turn
		b.ReportMetric(float64(side.cpu)/float64(time.Microsecond)/float64(calls), side.name+"-cpu-µs")
		slices.Sort(side.lat)
		b.ReportMetric(float64(side.lat[len(side.lat)/2])/float64(time.Microsecond), side.name+"-p50-µs")
		b.ReportMetric(float64(side.lat[len(side.lat)*99/100])/float64(time.Microsecond), side.name+"-p99-µs")
	}
}
