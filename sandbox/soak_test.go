package sandbox_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// soakRequests is the soak's size: SNAKEPIT_SOAK_REQUESTS, default 300.
func soakRequests(t *testing.T) int {
	v := os.Getenv("SNAKEPIT_SOAK_REQUESTS")
	if v == "" {
		return 300
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "SNAKEPIT_SOAK_REQUESTS")
	return n
}

// fullSoak is the size from which memory must stay flat (`make soak`).
const fullSoak = 100000

// rss returns the process's resident set size, in bytes; 0 off Linux.
func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// outcome is what one soak request got.
type outcome struct {
	kind    runtime.ErrorKind
	hostile bool
	latency time.Duration // benign calls that succeeded
}

func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs hundreds of calls; skipped under -short")
	}
	n := soakRequests(t)
	rt := testrt.Runtime(t)
	goroutines := goruntime.NumGoroutine()
	mount, _ := hostFiles(t)
	// The baseline includes the clones' compiled module, which the first
	// snapshot compiles once for the Runtime's life.
	snap, err := rt.NewSnapshot(ctx, runtime.SnapshotOptions{Options: limits(mount)})
	require.NoError(t, err)
	snap.Close()
	outcomes := make([]atomic.Int32, n) // answers per request: exactly one each
	results := make([]outcome, n)
	before := settledMem() // with the soak's own records, which grow with n
	t.Logf("before the pools: %v", before)

	// Attacks that take no pool of their own, are quick, and leave nothing
	// behind on a warm worker (poisoning ones run in fresh mode only).
	var hostile []attack
	for _, a := range attacks() {
		if a.own == nil && !a.slow {
			hostile = append(hostile, a)
		}
	}
	var finished atomic.Int64
	onEvent := func(e pool.Event) {
		if e.Type == pool.CallFinished {
			finished.Add(1)
		}
	}
	pools := map[mode]anyPool{}
	for _, m := range modes {
		size := 2
		if m == session {
			size = 4 // two benign sessions, two for attackers
		}
		pools[m] = newPool(t, m, pool.Options{Size: size, MaxQueueWait: time.Minute,
			MaxCallTime: time.Minute, Instance: limits(mount), OnEvent: onEvent})
	}
	benignKeys := []string{"benign-0", "benign-1"}
	for _, k := range benignKeys {
		_, err := pools[session].ss.Session(k).Run(ctx, runtime.Exec("calls = 0"))
		require.NoError(t, err)
	}
	calls0 := finished.Load()

	ids := make(chan int)
	// RSS after FreeOSMemory at each hundredth of the calls, by the id of
	// the call that took it.
	settled := map[int]uint64{}
	var settledMu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for id := range ids {
				if step := max(1, n/100); id > 0 && id%step == 0 {
					raw := rss()
					m := settledMem()
					settledMu.Lock()
					settled[id] = m.rss
					settledMu.Unlock()
					if id%(10*step) == 0 {
						t.Logf("at %d: RSS %.1f MiB; after FreeOSMemory %v", id, mib(raw), m)
					}
				}
				results[id] = soakOne(t, pools, hostile, benignKeys, id)
				outcomes[id].Add(1)
			}
		})
	}
	go func() {
		for id := range n {
			ids <- id
		}
		close(ids)
	}()
	// A lost answer is a call that never returns: every call is bounded by
	// MaxQueueWait plus MaxCallTime, so no progress for longer is a loss.
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	for last, seen := time.Now(), -1; ; {
		select {
		case <-done:
		case <-time.After(time.Second):
			got := 0
			for id := range outcomes {
				got += int(outcomes[id].Load())
			}
			if got != seen {
				last, seen = time.Now(), got
			} else if time.Since(last) > 3*time.Minute {
				t.Fatalf("no answer for 3 minutes: %d of %d answered", got, n)
			}
			continue
		}
		break
	}
	took := time.Since(start)
	rawEnd := rss()
	end := settledMem()

	// Every request got exactly one answer, and the pools reported one
	// CallFinished for each.
	for id := range outcomes {
		require.EqualValues(t, 1, outcomes[id].Load(), "answers to request %d", id)
	}
	require.EqualValues(t, n, finished.Load()-calls0, "CallFinished events")

	kinds := map[string]int{}
	var lat []time.Duration
	for _, o := range results {
		who := "benign"
		if o.hostile {
			who = "hostile"
		}
		k := string(o.kind)
		if k == "" {
			k = "ok"
		}
		kinds[who+" "+k]++
		if !o.hostile && o.kind == runtime.KindNone {
			lat = append(lat, o.latency)
		}
	}
	slices.Sort(lat)
	require.NotEmpty(t, lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	t.Logf("soak: %d requests in %v (%.0f/s), 8 callers", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	t.Logf("outcomes: %v", kinds)
	t.Logf("benign latency: p50 %v, p99 %v (%d calls)", pct(0.5), pct(0.99), len(lat))
	for _, m := range modes {
		st := pools[m].Stats()
		t.Logf("%s: calls %d, recycles %v, start failures %d", m, st.Calls, st.Recycles, st.StartFailures)
	}
	t.Logf("at the end: RSS %.1f MiB; after FreeOSMemory %v", mib(rawEnd), end)
	// Raw RSS also holds the heap Go has freed but not yet returned, up to
	// its GC goal (twice the live heap at the last collection), which
	// follows the transient peaks of whatever calls ran just before: after
	// FreeOSMemory, what is left is what is in use. Of that, the guests'
	// linear memories swing by tens of MiB from one moment to the next
	// (a warm worker keeps what it grew until it is recycled; a call in
	// flight holds what it allocated), so the two halves after warm-up are
	// compared by their medians: steady growth shows in them, a swing does
	// not.
	var first, second []uint64
	for id, v := range settled {
		switch {
		case id >= 55*n/100:
			second = append(second, v)
		case id >= n/10:
			first = append(first, v)
		}
	}
	m1, m2 := median(first), median(second)
	t.Logf("RSS after FreeOSMemory, median: %.1f MiB from warm-up (10%%) to 55%% of the calls, %.1f MiB from there to the end (%+.1f%%)",
		mib(m1), mib(m2), 100*(float64(m2)-float64(m1))/float64(max(m1, 1)))
	if n >= fullSoak && m1 > 0 {
		require.Less(t, float64(m2), 1.1*float64(m1), "RSS after FreeOSMemory grew more than 10% after warm-up")
	}

	for _, p := range pools {
		closePool(t, p)
	}
	// With the pools closed, nothing of their calls may remain: a leak
	// shows here whatever the guests' memories did. Left out is what the Go
	// runtime keeps for itself, its free pages, stacks and metadata, which
	// follow the peak heap rather than the number of calls (+6.7 MiB in a
	// full soak, after heap peaks near 450 MiB, while the heap itself came
	// back within 0.2 MiB).
	closed := settledMem()
	t.Logf("pools closed: %v; less Go's free pages, stacks and metadata %.1f MiB, %.1f before the pools",
		closed, mib(closed.kept()), mib(before.kept()))
	if n >= fullSoak && before.rss > 0 {
		require.Less(t, float64(closed.kept()), 1.1*float64(before.kept()), "RSS less Go's free pages and metadata after the pools closed, against before them")
	}
	// Polled here: require.Eventually's own goroutines would count.
	for deadline := time.Now().Add(hang); goruntime.NumGoroutine() > goroutines; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, %d before the soak:\n%s", goruntime.NumGoroutine(), goroutines, buf[:goruntime.Stack(buf, true)])
		}
	}
	t.Logf("goroutines: %d before the soak, %d after the pools closed", goroutines, goruntime.NumGoroutine())
}

// soakOne runs request id: 10% hostile, the rest benign calls whose answer
// must be theirs; 10% of all have a random cancellation or a short deadline.
func soakOne(t *testing.T, pools map[mode]anyPool, hostile []attack, benignKeys []string, id int) outcome {
	m := modes[rand.IntN(len(modes))]
	tg := &target{mode: m, p: pools[m]}
	c, cancel := context.WithCancel(ctx)
	defer cancel()
	interfered := true
	switch r := rand.IntN(20); r {
	case 0:
		d := time.Duration(rand.IntN(20)) * time.Millisecond
		go func() {
			time.Sleep(d)
			cancel()
		}()
	case 1:
		var cancelT context.CancelFunc
		c, cancelT = context.WithTimeout(c, time.Duration(1+rand.IntN(50))*time.Millisecond)
		defer cancelT()
	default:
		interfered = false
	}
	if rand.IntN(10) == 0 {
		a := hostile[rand.IntN(len(hostile))]
		for a.poisons && m == warm {
			a = hostile[rand.IntN(len(hostile))]
		}
		if m == session {
			tg.key = fmt.Sprintf("hostile-%d", id)
			defer tg.p.ss.Session(tg.key).End()
		}
		if a.deadline > 0 {
			var cancelT context.CancelFunc
			c, cancelT = context.WithTimeout(c, a.deadline)
			defer cancelT()
		}
		_, err := tg.run(c, a.request(tg))
		return outcome{kind: runtime.KindOf(err), hostile: true}
	}
	var req runtime.Request
	var want string
	switch m {
	case session:
		tg.key = benignKeys[id%len(benignKeys)]
		// A cancellation that stops a call ends its session: that call's
		// error and those of the calls waiting for it wrap ErrSessionLost,
		// and the key's next call starts anew.
		req = runtime.Exec(fmt.Sprintf("try:\n    calls += 1\nexcept NameError:\n    calls = 1\n[%d, calls > 0]", id))
		want = fmt.Sprintf("[%d,true]", id)
	default:
		k := rand.IntN(1000)
		req = runtime.Eval(fmt.Sprintf("[%d, sum(range(%d))]", id, k))
		want = fmt.Sprintf("[%d,%d]", id, k*(k-1)/2)
	}
	start := time.Now()
	res, err := tg.run(c, req)
	lat := time.Since(start)
	if err == nil {
		var got, exp any
		if json.Unmarshal(res.Value, &got) != nil || json.Unmarshal([]byte(want), &exp) != nil || !reflect.DeepEqual(got, exp) {
			t.Errorf("request %d got %s, want %s", id, res.Value, want)
		}
	} else if !interfered && !errors.Is(err, pool.ErrSessionLost) {
		t.Errorf("benign request %d (%s) failed: %v", id, m, err)
	}
	return outcome{kind: runtime.KindOf(err), latency: lat}
}
