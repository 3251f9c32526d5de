//go:build linux

package pool_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// envInt reads a benchmark's size from the environment, def if unset.
func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(tb, err, name)
	require.Positive(tb, n, name)
	return n
}

// BenchmarkSpilledSessions holds SNAKEPIT_SESSIONS sessions (default 200;
// `make bench-sessions` runs 100,000) in a pool with a DirStore whose live
// sessions' memory is bounded by MaxSessionMemory, SNAKEPIT_SESSION_MEMORY
// MiB (default 64): each session sets a variable and writes a small file,
// and the pool spills its least recently used idle sessions to make room
// for the next; then every session's next call resumes it from the Store
// (spilling another to make room) and checks its variable and file.
// 2×GOMAXPROCS callers at once, on a pool of GOMAXPROCS slots. It reports
// sessions created per second (each past the cap waits for one spill),
// resumes per second and the resuming call's p50/p99 latency, the Store's
// bytes per session (file sizes, and blocks on disk), the pool's peak
// session memory (Stats.SessionMemory) and live sessions, and the
// process's peak RSS (VmHWM, reset once the pool has started, so that
// compiling python.wasm is not in it).
func BenchmarkSpilledSessions(b *testing.B) {
	n := envInt(b, "SNAKEPIT_SESSIONS", 200)
	memLimit := int64(envInt(b, "SNAKEPIT_SESSION_MEMORY", 64)) << 20
	for b.Loop() {
		spilledSessions(b, n, memLimit)
	}
}

func spilledSessions(b *testing.B, n int, memLimit int64) {
	dir := b.TempDir()
	st, err := pool.NewDirStore(dir)
	require.NoError(b, err)
	size := goruntime.GOMAXPROCS(0)
	r := rt(b) // compiled once per process: not the pool's
	basePSS, baseRSS := pss(b), procStatus(b, "VmRSS")
	var spillMu sync.Mutex
	var spills []time.Duration // image and Put, of each spill
	ss, err := pool.NewSessions(ctx, r, pool.Options{Size: size, Store: st, MaxSessionMemory: memLimit,
		SpillIdle: time.Hour, MaxSessionIdle: runtime.NoLimit, MaxQueue: runtime.NoLimit,
		OnEvent: func(e pool.Event) {
			if e.Type == pool.SessionSpilled {
				spillMu.Lock()
				spills = append(spills, e.Duration)
				spillMu.Unlock()
			}
		}})
	require.NoError(b, err)
	defer ss.Close(ctx)
	startRSS := procStatus(b, "VmRSS")
	resetPeakRSS(b)

	var (
		mu       sync.Mutex
		peakMem  uint64
		peakLive int
		failed   error
	)
	// each runs call(k) for every key, from callers at once, and returns
	// the calls' latencies, sorted, and the time they all took.
	each := func(call func(k int) error) ([]time.Duration, time.Duration) {
		var next atomic.Int64
		lat := make([]time.Duration, n)
		start := time.Now()
		var wg sync.WaitGroup
		for range 2 * size {
			wg.Go(func() {
				for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
					t := time.Now()
					err := call(k)
					lat[k] = time.Since(t)
					s := ss.Stats()
					mu.Lock()
					peakMem, peakLive = max(peakMem, s.SessionMemory), max(peakLive, s.Sessions)
					if err != nil && failed == nil {
						failed = fmt.Errorf("session %d: %w", k, err)
						next.Store(int64(n)) // the others stop too
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.NoError(b, failed)
		took := time.Since(start)
		slices.Sort(lat)
		return lat, took
	}

	created, createTook := each(func(k int) error {
		_, err := ss.Session(fmt.Sprint(k)).Run(ctx, exec(fmt.Sprintf(
			"me = %d\nwith open('me.txt', 'w') as f:\n    f.write('session %d\\n' * 8)", k, k)))
		return err
	})
	afterCreate := ss.Stats()
	createRSS := procStatus(b, "VmRSS")
	createPSS := pss(b) // after a GC: RSS counts the snapshot's shared pages once per clone
	files, size0, disk := storeSize(b, dir)

	resumed, resumeTook := each(func(k int) error {
		res, err := ss.Session(fmt.Sprint(k)).Run(ctx, eval("(me, open('me.txt').read())"))
		if err != nil {
			return err
		}
		var got []any
		if err := json.Unmarshal(res.Value, &got); err != nil || !reflect.DeepEqual(got, []any{float64(k), strings.Repeat(fmt.Sprintf("session %d\n", k), 8)}) {
			return fmt.Errorf("resumed as %s", res.Value)
		}
		return nil
	})
	stats := ss.Stats()
	resumeRSS, peakRSS := procStatus(b, "VmRSS"), procStatus(b, "VmHWM")
	// Go's share of it, and what of that is live (wazero's own, per
	// instance, which Stats.SessionMemory does not count).
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	heap := ms.HeapSys - ms.HeapReleased
	goruntime.GC()
	goruntime.ReadMemStats(&ms)
	resumePSS := pss(b)
	spillMu.Lock()
	slices.Sort(spills)
	spillMu.Unlock()
	if n >= 2*peakLive {
		// The live ones of the first round are spilled before their turn.
		require.EqualValues(b, n, stats.Resumed, "every session came back from the Store")
	}

	q := func(d []time.Duration, p float64) float64 {
		return float64(d[int(float64(len(d)-1)*p)]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(n)/createTook.Seconds(), "created/s")
	b.ReportMetric(q(created, 0.5), "create-p50-ms")
	b.ReportMetric(q(created, 0.99), "create-p99-ms")
	b.ReportMetric(float64(n)/resumeTook.Seconds(), "resumed/s")
	b.ReportMetric(q(resumed, 0.5), "resume-p50-ms")
	b.ReportMetric(q(resumed, 0.99), "resume-p99-ms")
	b.ReportMetric(float64(size0)/float64(files)/1024, "store-KiB/session")
	b.ReportMetric(float64(disk)/float64(files)/1024, "disk-KiB/session")
	b.ReportMetric(float64(peakMem)/(1<<20), "peak-session-MiB")
	b.ReportMetric(float64(peakLive), "peak-live-sessions")
	b.ReportMetric(float64(peakRSS)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(max(createPSS, resumePSS))/(1<<20), "PSS-MiB")
	b.ReportMetric(q(spills, 0.5), "spill-p50-ms")
	b.ReportMetric(q(spills, 0.99), "spill-p99-ms")
	b.Logf("%d sessions, MaxSessionMemory %d MiB, %d callers on %d slots: created in %v (%d live, %d spilled, %d in the Store: %d bytes, %d on disk), resumed in %v (%d from the Store, %d spilled in all)",
		n, memLimit>>20, 2*size, size, createTook.Round(time.Millisecond), afterCreate.Sessions, afterCreate.Spilled, files, size0, disk,
		resumeTook.Round(time.Millisecond), stats.Resumed, stats.Spilled)
	b.Logf("pool's peak session memory %d MiB, peak live sessions %d; RSS (MiB) before the pool %d, after its start %d, after creating %d, after resuming %d (Go's heap %d of it, %d live), peak since its start %d; PSS (MiB, after a GC) before the pool %d, after creating %d, after resuming %d",
		peakMem>>20, peakLive, baseRSS>>20, startRSS>>20, createRSS>>20, resumeRSS>>20, heap>>20, ms.HeapAlloc>>20, peakRSS>>20, basePSS>>20, createPSS>>20, resumePSS>>20)
}

// storeSize returns a DirStore's number of images, their bytes, and the
// bytes their blocks take on disk.
func storeSize(tb testing.TB, dir string) (files int, size, disk int64) {
	ents, err := os.ReadDir(dir)
	require.NoError(tb, err)
	for _, e := range ents {
		if !e.Type().IsRegular() || filepath.Ext(e.Name()) != ".img" {
			continue
		}
		var info fs.FileInfo
		info, err = e.Info()
		require.NoError(tb, err)
		files++
		size += info.Size()
		disk += info.Sys().(*syscall.Stat_t).Blocks * 512
	}
	return files, size, disk
}

// procStatus returns a size field of /proc/self/status (VmRSS, VmHWM), in
// bytes.
func procStatus(tb testing.TB, field string) uint64 {
	f, err := os.Open("/proc/self/status")
	require.NoError(tb, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(tb, err)
			return kb << 10
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// resetPeakRSS makes VmHWM the current RSS (Linux 4.0 and later).
func resetPeakRSS(tb testing.TB) {
	require.NoError(tb, os.WriteFile("/proc/self/clear_refs", []byte("5"), 0))
}
