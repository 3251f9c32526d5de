package sandbox_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
)

// memUse splits the process's resident memory: what Go holds (from
// runtime/metrics) and, from /proc/self/smaps, the mappings of the
// snapshot's memfd (the start of every ModeFresh clone's memory, its written
// pages included), executable anonymous memory (compiled wasm) and the rest
// of anonymous memory (Go's, and the guests' linear memories beyond a
// clone's snapshot part).
type memUse struct {
	rss                  uint64
	goHeap               uint64 // heap objects and the unused parts of their spans
	goFree               uint64 // free heap Go has not returned to the OS yet
	goReleased           uint64 // returned to the OS: not resident
	goOther              uint64 // stacks, runtime metadata and the rest Go mapped
	snapshot, code, anon uint64
	snapshotMaps         int
}

// goResident is what Go has mapped and not returned to the OS: an upper
// bound of its share of RSS.
func (m memUse) goResident() uint64 { return m.goHeap + m.goFree + m.goOther }

// kept is RSS less what the Go runtime holds for itself: its free heap,
// stacks and metadata.
func (m memUse) kept() uint64 { return m.rss - min(m.rss, m.goFree+m.goOther) }

// guest is anonymous memory Go does not account for: the guests' linear
// memories (past a clone's snapshot part), approximately.
func (m memUse) guest() uint64 { return m.anon - min(m.anon, m.goResident()) }

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func (m memUse) String() string {
	return fmt.Sprintf("RSS %.1f MiB = Go %.1f (heap %.1f, free %.1f, other %.1f; released %.1f) + snapshot maps %.1f (%d) + code %.1f + other anonymous ~%.1f",
		mib(m.rss), mib(m.goResident()), mib(m.goHeap), mib(m.goFree), mib(m.goOther), mib(m.goReleased),
		mib(m.snapshot), m.snapshotMaps, mib(m.code), mib(m.guest()))
}

// median returns the middle of vs (0 when empty); it sorts vs.
func median(vs []uint64) uint64 {
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

func measureMem() memUse {
	var m memUse
	m.rss = rss()
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/total:bytes"},
	}
	metrics.Read(s)
	v := func(k int) uint64 { return s[k].Value.Uint64() }
	m.goHeap = v(0) + v(1)
	m.goFree, m.goReleased = v(2), v(3)
	m.goOther = v(4) - m.goHeap - m.goFree - m.goReleased
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return m
	}
	defer f.Close()
	m.addSmaps(f)
	return m
}

// addSmaps sums the Rss of each kind of mapping in an smaps listing.
func (m *memUse) addSmaps(r io.Reader) {
	var into *uint64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if strings.Contains(fs[0], "-") && len(fs) >= 5 { // a mapping's header
			into = nil
			switch name := strings.Join(fs[5:], " "); {
			case strings.Contains(name, "memfd:snakepit-snapshot"):
				into = &m.snapshot
				m.snapshotMaps++
			case name == "" && strings.Contains(fs[1], "x"):
				into = &m.code
			case name == "" || name == "[heap]":
				into = &m.anon
			}
			continue
		}
		if fs[0] == "Rss:" && into != nil {
			kb, _ := strconv.ParseUint(fs[1], 10, 64)
			*into += kb << 10
		}
	}
}

// settledMem measures after returning all free memory to the OS (a
// collection, then the free heap released).
func settledMem() memUse {
	debug.FreeOSMemory()
	return measureMem()
}
