package pool

import (
	"fmt"
	"github.com/snakepit-wasm/snakepit/runtime"
	"slices"
	"time"
)

// EventType names a lifecycle step reported to Options.OnEvent.
type EventType int

// The lifecycle steps. Each call produces CallFinished exactly once; it is
// preceded by CallQueued if the call had to wait and by CallStarted if it
// got a worker. A session that ends before it got a worker (its callers gave
// up, or Session.End) reports neither SessionStarted nor SessionEnded.
const (
	WorkerStarting    EventType = iota + 1 // a worker is being created
	WorkerReady                            // it can serve; Duration is its start time
	WorkerStartFailed                      // creating it failed (Err); it is retried with backoff
	WorkerCrashed                          // a call left it broken (Err); WorkerRecycled follows
	WorkerRecycled                         // it was closed (Reason) and a replacement started (a session's worker: when the session took it)
	CallQueued                             // the call waits for a worker
	CallStarted                            // the call got a worker; Wait is its time queued
	CallFinished                           // the call's outcome: Err, Kind, Wait, Duration (execution)
	SessionStarted                         // a new session key got its worker (Worker)
	SessionEnded                           // the session ended (Reason); Worker is the one it had
	SessionSpilled                         // the idle session was saved to the Store and its worker closed; Duration is the time its image and Put took
)

var eventNames = [...]string{"", "worker_starting", "worker_ready", "worker_start_failed", "worker_crashed",
	"worker_recycled", "call_queued", "call_started", "call_finished", "session_started", "session_ended", "session_spilled"}

func (t EventType) String() string {
	if t > 0 && int(t) < len(eventNames) {
		return eventNames[t]
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one lifecycle step. Fields that do not apply to its Type are zero.
type Event struct {
	Type     EventType
	Time     time.Time
	Worker   uint64            // the worker's id (ids are never reused); 0 if none
	Session  string            // the session key, of a Sessions pool
	Reason   RecycleReason     // WorkerRecycled, SessionEnded
	Wait     time.Duration     // CallStarted, CallFinished: time spent queued
	Duration time.Duration     // CallFinished: execution time; WorkerReady: start time; SessionSpilled: image and Put
	Err      error             // CallFinished, WorkerCrashed, WorkerStartFailed
	Kind     runtime.ErrorKind // CallFinished: runtime.KindOf(Err)
}

// RecycleReason says why a worker was closed and replaced.
type RecycleReason string

// The reasons for recycling a worker.
const (
	RecycleUsed           RecycleReason = "used"            // ModeFresh: every worker serves one call
	RecycleCalls          RecycleReason = "calls"           // it reached MaxCalls
	RecycleAge            RecycleReason = "age"             // it reached MaxAge
	RecycleMemory         RecycleReason = "memory"          // its memory grew past MaxMemory
	RecycleMemoryLimit    RecycleReason = "memory_limit"    // a call hit Instance.Limits.MaxMemory
	RecycleCrash          RecycleReason = "crash"           // a trap or an ABI violation
	RecycleStopped        RecycleReason = "stopped"         // a call was stopped at its deadline, cancelled, or by Close
	RecycleSessionEnded   RecycleReason = "session_ended"   // its session was ended by Session.End
	RecycleSessionExpired RecycleReason = "session_expired" // its session was idle for MaxSessionIdle
)

// latencyBuckets are the upper bounds of the Histogram buckets
// (Histogram.Bounds).
var latencyBuckets = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
	30 * time.Second, time.Minute,
}

// Histogram counts durations in fixed buckets, from 50 µs to a minute,
// the way a Prometheus histogram does (but not cumulative).
type Histogram struct {
	// Bounds are the buckets' upper bounds; the same in every Histogram.
	// Counts[i] counts durations d with Bounds[i-1] < d <= Bounds[i]; the
	// last element counts those above every bound.
	Bounds []time.Duration
	Counts []uint64
	Count  uint64        // number of observations
	Sum    time.Duration // their total
}

// newHistogram returns an empty Histogram; Bounds is a copy, so that no
// caller's change reaches another's.
func newHistogram() Histogram {
	return Histogram{Bounds: slices.Clone(latencyBuckets[:]), Counts: make([]uint64, len(latencyBuckets)+1)}
}

func (h *Histogram) observe(d time.Duration) {
	i := 0
	for i < len(h.Bounds) && d > h.Bounds[i] {
		i++
	}
	h.Counts[i]++
	h.Count++
	h.Sum += d
}

func (h Histogram) clone() Histogram {
	h.Counts = append([]uint64(nil), h.Counts...)
	return h
}

// Quantile returns the upper bound of the bucket holding the q-th quantile
// (0 < q <= 1), an overestimate by at most one bucket; 0 without
// observations, and the largest bound when it lies above every bound.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 || len(h.Bounds) == 0 {
		return 0
	}
	rank := uint64(q*float64(h.Count) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank && i < len(h.Bounds) {
			return h.Bounds[i]
		}
	}
	return h.Bounds[len(h.Bounds)-1]
}

// Stats is a snapshot of a pool's state and counters since New.
type Stats struct {
	Mode Mode
	Size int
	// Workers by state: Idle ones are ready (of a Sessions pool, the spares no
	// session holds), Busy ones run or are handed a call, Parked ones are
	// idle sessions' (Sessions), Starting ones are being created.
	Idle, Busy, Parked, Starting int
	Sessions                     int    // live sessions (Sessions)
	SessionMemory                uint64 // their workers' private memory, when MaxSessionMemory is set
	Queued                       int    // callers waiting for a worker or their session
	Calls                        uint64
	Errors                       map[runtime.ErrorKind]uint64 // calls that ended in an error, by kind
	Recycles                     map[RecycleReason]uint64     // workers closed, by reason
	StartFailures                uint64                       // worker creations that failed
	// Spilled counts the sessions saved to the Store and closed (idle for
	// SpillIdle, to make room for another, or at Close); Resumed those
	// restored from it by a call (Options.Store).
	Spilled, Resumed uint64
	// Resets counts the used ModeFresh workers made new by resetting their
	// interpreter in place (of Recycles[RecycleUsed]; the others were
	// replaced by new clones).
	Resets uint64
	// CodeCache counts the ModeFresh calls whose code came from the pool
	// snapshot's code cache instead of a compile, and those that compiled
	// (runtime.Snapshot.CodeCache). Other modes' workers have run a call
	// before their first (a warm-up), and keep the code of their recent
	// sources themselves.
	CodeCache runtime.CodeCacheStats
	// QueueWait is the time from a call's arrival to its getting a worker
	// (for every call that got one); Exec the time the worker ran it.
	QueueWait, Exec Histogram
}

func (p *Pool) countLocked(err error, ran bool, wait, exec time.Duration) {
	p.stats.Calls++
	if err != nil {
		p.stats.Errors[runtime.KindOf(err)]++
	}
	if ran {
		p.stats.QueueWait.observe(wait)
		p.stats.Exec.observe(exec)
	}
}

// Stats returns a snapshot of the pool's state and counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	st.Errors = make(map[runtime.ErrorKind]uint64, len(p.stats.Errors))
	for k, v := range p.stats.Errors {
		st.Errors[k] = v
	}
	st.Recycles = make(map[RecycleReason]uint64, len(p.stats.Recycles))
	for k, v := range p.stats.Recycles {
		st.Recycles[k] = v
	}
	st.QueueWait, st.Exec = p.stats.QueueWait.clone(), p.stats.Exec.clone()
	for w := range p.workers {
		switch {
		case w.busy:
			st.Busy++
		case w.sess != nil:
			st.Parked++
		default:
			st.Idle++
		}
	}
	st.Starting, st.Sessions, st.Queued, st.SessionMemory = p.starting, p.nsessions, p.nwait, p.sessionMem
	st.CodeCache = p.snap.CodeCache()
	return st
}

// note adds e to evs, for emitting once the lock is released.
func (p *Pool) note(evs *[]Event, e Event) {
	if p.opts.OnEvent != nil {
		*evs = append(*evs, e)
	}
}

func (p *Pool) emit(evs ...Event) {
	if p.opts.OnEvent == nil {
		return
	}
	now := time.Now()
	for _, e := range evs {
		if e.Time.IsZero() {
			e.Time = now
		}
		p.opts.OnEvent(e)
	}
}
