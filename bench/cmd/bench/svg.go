package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// bar is one row of the chart: a ratio snakepit / native.
type bar struct {
	label   string
	ratio   float64
	bold    bool
	section bool // a section heading, no bar
}

// chartBars picks what the chart shows: the call latency ratios at the
// fewest and the most callers, workloads 5, 6 and 7, and the CPU suite.
func chartBars(r *Results) []bar {
	var bars []bar
	var callers []int
	for _, l := range r.Latency {
		if !slices.Contains(callers, l.Callers) {
			callers = append(callers, l.Callers)
		}
	}
	slices.Sort(callers)
	if len(callers) > 2 {
		callers = []int{callers[0], callers[len(callers)-1]}
	}
	for i, c := range callers {
		head := fmt.Sprintf("Calls: p50 latency, %d caller(s), %d worker(s)", c, min(c, r.Meta.Cores))
		if i == 0 {
			head = fmt.Sprintf("Calls: p50 latency, %d caller; import-heavy and callback: median", c)
		}
		bars = append(bars, bar{label: head, section: true})
		for _, l := range r.Latency {
			if l.Side == nat || l.Callers != c {
				continue
			}
			if n := nativeOf(r.Latency, l); n != nil && n.P50us > 0 {
				label := l.Workload
				if l.Side == oursClone {
					label += " (raw clone)"
				} else if strings.HasPrefix(l.Workload, "fresh") {
					label += " (pool)"
				}
				bars = append(bars, bar{label: label, ratio: l.P50us / n.P50us})
			}
		}
		if i > 0 {
			continue
		}
		for _, s := range r.Samples {
			if n := sampleOf(r.Samples, s.Name, nat); s.Side == ours && n != nil && n.Median > 0 {
				label, _, _ := strings.Cut(s.Name, " (")
				label, _, _ = strings.Cut(label, ",")
				bars = append(bars, bar{label: label, ratio: s.Median / n.Median})
			}
		}
	}
	if len(r.CPU) > 0 {
		bars = append(bars, bar{label: "CPU-bound suite: run() time on a warm worker", section: true})
		for _, c := range r.CPU {
			bars = append(bars, bar{label: c.Program, ratio: c.Ratio})
		}
		bars = append(bars, bar{label: "geometric mean", ratio: r.CPUGeo, bold: true})
	}
	return bars
}

// chart draws a horizontal bar chart of the ratios on a log axis, by hand.
func chart(r *Results) string {
	bars := chartBars(r)
	const (
		width    = 960
		x0, x1   = 290.0, 860.0
		top      = 104.0
		rowH     = 24.0
		sectionH = 30.0
		barH     = 14.0
		green    = "#2a9d8f"
		orange   = "#e76f51"
	)
	lo, hi := 1.0, 1.0
	for _, b := range bars {
		if !b.section && b.ratio > 0 && !math.IsInf(b.ratio, 0) {
			lo, hi = min(lo, b.ratio), max(hi, b.ratio)
		}
	}
	ticks := logTicks(lo/1.3, hi*1.3)
	lo, hi = ticks[0], ticks[len(ticks)-1]
	x := func(v float64) float64 {
		return x0 + (math.Log(v)-math.Log(lo))/(math.Log(hi)-math.Log(lo))*(x1-x0)
	}
	y := top
	for _, b := range bars {
		if b.section {
			y += sectionH
		} else {
			y += rowH
		}
	}
	plotBottom := y + 6
	height := int(plotBottom + 56)

	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format+"\n", args...) }
	esc := html.EscapeString
	p(`<?xml version="1.0" encoding="UTF-8"?>`)
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`, width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>`)
	m := r.Meta
	p(`<text x="20" y="28" font-size="17" font-weight="bold">snakepit-wasm vs native CPython %s: time ratio (lower is better for snakepit)</text>`, esc(firstField(m.Ours.Version)))
	p(`<text x="20" y="48" fill="#555">%s</text>`, esc(fmt.Sprintf("%s, %s run, %s, %d cores, %s; medians of repetitions, see results.md",
		m.Date, m.Mode, m.CPUModel, m.Cores, m.GoVersion)))
	// Legend.
	p(`<rect x="20" y="62" width="14" height="14" fill="%s"/><text x="40" y="74">snakepit faster (ratio &lt; 1)</text>`, green)
	p(`<rect x="240" y="62" width="14" height="14" fill="%s"/><text x="260" y="74">native faster (ratio &gt; 1)</text>`, orange)
	p(`<text x="460" y="74" fill="#555">ratio = snakepit time / native time, log scale</text>`)

	// Grid and ticks.
	for _, t := range ticks {
		xt := x(t)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, xt, top, xt, plotBottom)
		p(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#333">%s</text>`, xt, plotBottom+16, tickLabel(t))
	}
	p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`, x0, plotBottom, x1, plotBottom)
	p(`<text x="%.1f" y="%.1f">← snakepit faster</text>`, x0, plotBottom+38)
	p(`<text x="%.1f" y="%.1f" text-anchor="middle">ratio snakepit / native (log scale)</text>`, (x0+x1)/2, plotBottom+38)
	p(`<text x="%.1f" y="%.1f" text-anchor="end">native faster →</text>`, x1, plotBottom+38)

	y = top
	for _, b := range bars {
		if b.section {
			y += sectionH
			p(`<text x="20" y="%.1f" font-weight="bold" font-size="13">%s</text>`, y-8, esc(b.label))
			continue
		}
		y += rowH
		cy := y - rowH/2
		weight := ""
		if b.bold {
			weight = ` font-weight="bold"`
		}
		p(`<text x="%.1f" y="%.1f" text-anchor="end"%s>%s</text>`, x0-10, cy+4, weight, esc(b.label))
		if b.ratio <= 0 || math.IsInf(b.ratio, 0) || math.IsNaN(b.ratio) {
			continue
		}
		a, e := x(1), x(b.ratio)
		color := orange
		if b.ratio < 1 {
			color = green
		}
		p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, min(a, e), cy-barH/2, max(math.Abs(e-a), 1), barH, color)
		p(`<text x="%.1f" y="%.1f"%s>%s</text>`, max(a, e)+5, cy+4, weight, esc(fmtRatio(b.ratio)))
	}
	// The line of equality, on top of the bars.
	p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#111" stroke-width="1.5"/>`, x(1), top, x(1), plotBottom)
	p(`</svg>`)
	return s.String()
}

// logTicks returns 1-2-5 ticks covering [lo, hi], fewer if there would be
// too many.
func logTicks(lo, hi float64) []float64 {
	var all []float64
	for e := math.Floor(math.Log10(lo)) - 1; e <= math.Ceil(math.Log10(hi))+1; e++ {
		for _, m := range []float64{1, 2, 5} {
			all = append(all, m*math.Pow(10, e))
		}
	}
	first, last := 0, len(all)-1
	for first+1 < len(all) && all[first+1] <= lo {
		first++
	}
	for last-1 >= 0 && all[last-1] >= hi {
		last--
	}
	ticks := all[first : last+1]
	if len(ticks) > 12 { // decades only
		var dec []float64
		for _, t := range ticks {
			if l := math.Log10(t); math.Abs(l-math.Round(l)) < 1e-9 {
				dec = append(dec, t)
			}
		}
		if dec[0] > lo {
			dec = append([]float64{dec[0] / 10}, dec...)
		}
		if dec[len(dec)-1] < hi {
			dec = append(dec, dec[len(dec)-1]*10)
		}
		ticks = dec
	}
	return ticks
}

func tickLabel(t float64) string { return fmt.Sprintf("%g×", t) }
