package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/bench/native"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSmoke runs the whole harness in its smallest mode and checks the
// files it writes.
func TestSmoke(t *testing.T) {
	if _, err := native.PythonPath(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a loaded machine under -race is slow
	defer cancel()
	cfg := presetConfig("smoke")
	cfg.Out = t.TempDir()
	var log bytes.Buffer
	res, err := run(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(res.CPU) != 1 || !res.CPU[0].Match || res.CPU[0].Ratio <= 0 {
		t.Errorf("CPU results: %+v", res.CPU)
	}
	sides := 2 // ours and the same-source build, and Debian's when installed
	if res.Meta.Debian != nil {
		sides = 3
	}
	if len(res.Latency) == 0 || len(res.Samples) != 3*sides || len(res.ColdStart) == 0 || len(res.Memory) == 0 || len(res.Levers) == 0 {
		t.Errorf("missing results: %d latency, %d samples, %d start-up, %d memory, %d levers",
			len(res.Latency), len(res.Samples), len(res.ColdStart), len(res.Memory), len(res.Levers))
	}
	if sides == 3 {
		if len(res.Libs) != 2 || !res.Libs[0].Match || res.Libs[0].RatioDebian <= 0 || res.CPU[0].RatioDebian <= 0 {
			t.Errorf("Debian's side: %d real-code rows (%+v), CPU ratio %v", len(res.Libs), res.Libs, res.CPU[0].RatioDebian)
		}
	} else {
		t.Logf("Debian's python3.13 is not installed (make bench-debian): its side was not checked")
	}
	for _, name := range []string{"results.md", "results.json", "chart.svg"} {
		b, err := os.ReadFile(filepath.Join(cfg.Out, name))
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %v (%d bytes)", name, err, len(b))
		}
	}
	md, _ := os.ReadFile(filepath.Join(cfg.Out, "results.md"))
	for _, want := range []string{"## How to read", "fresh x = 1", "geometric mean", "Memory per worker"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	if err := render(cfg.Out); err != nil {
		t.Errorf("render: %v", err)
	}
	svg, _ := os.ReadFile(filepath.Join(cfg.Out, "chart.svg"))
	dec := xml.NewDecoder(bytes.NewReader(svg))
	rects := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart.svg is not XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	if rects < 5 {
		t.Errorf("chart.svg has %d rects, want bars", rects)
	}
}

func TestLogTicks(t *testing.T) {
	for _, c := range [][2]float64{{0.01, 3}, {0.5, 2}, {0.001, 1000}, {1, 1.3}} {
		ticks := logTicks(c[0], c[1])
		if ticks[0] > c[0] || ticks[len(ticks)-1] < c[1] || len(ticks) > 13 {
			t.Errorf("logTicks(%g, %g) = %v", c[0], c[1], ticks)
		}
	}
}

func TestPhaseNames(t *testing.T) {
	for _, ph := range []string{"cpu", "libs", "levers"} {
		if !slices.Contains(phaseNames, ph) {
			t.Errorf("no phase %q", ph)
		}
	}
}

// A quick or smoke run must never replace the published full run's files.
func TestOnlyFullRunWritesPublishedResults(t *testing.T) {
	published := filepath.Join("bench", "results")
	if got := defaultOut("full"); got != published {
		t.Errorf("full run writes %s, want %s", got, published)
	}
	for _, mode := range []string{"quick", "smoke"} {
		if got := defaultOut(mode); filepath.Clean(got) == published {
			t.Errorf("%s run writes the published results (%s)", mode, got)
		}
	}
}
