package pool

import (
	"fmt"
	"log/slog"
	"math"
	goruntime "runtime"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
)

// Mode is the isolation mode of a Pool. A pool of sessions is a type of
// its own (Sessions), so that a call without a session cannot be made on
// one, nor a session call on a Pool.
type Mode int

const (
	// ModeFresh runs every call on a clean interpreter.
	ModeFresh Mode = iota
	// ModeWarm reuses workers: state persists between calls.
	ModeWarm
	// modeSession is a Sessions' pool: calls are routed by session key to
	// the session's worker.
	modeSession
)

func (m Mode) String() string {
	switch m {
	case ModeFresh:
		return "fresh"
	case ModeWarm:
		return "warm"
	case modeSession:
		return "session"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options configure a Pool or Sessions. The zero value is usable: a
// ModeFresh pool of one worker per CPU with the defaults below. Every cap is
// named MaxX: zero means its default, runtime.NoLimit no cap, and below
// NoLimit is runtime.ErrBadOptions.
type Options struct {
	// Size is the number of calls running at once: the number of workers
	// of a Pool; for Sessions, where each session has an interpreter of its
	// own, the number of sessions running a call at once, and of spare
	// workers kept ready for new sessions. Default runtime.NumCPU() (Go's).
	Size int
	// MaxQueue caps the callers waiting for a worker (or for their
	// session); past it calls fail at once with ErrSaturated. Default
	// 64×Size.
	MaxQueue int
	// FailFast makes a call that finds no free worker fail at once with
	// ErrSaturated instead of waiting in the queue.
	FailFast bool
	// MaxQueueWait caps the time a call waits in the queue
	// (ErrQueueTimeout). Default 10s; with NoLimit only MaxCallTime and the
	// caller's context bound it.
	MaxQueueWait time.Duration
	// MaxCallTime is each call's deadline, covering its queue wait and its
	// execution; a call running past it is stopped and its worker replaced.
	// Default 60s; with NoLimit only the caller's context bounds it.
	MaxCallTime time.Duration
	// Mode is a Pool's isolation mode; default ModeFresh. Sessions leave it
	// zero.
	Mode Mode
	// Instance holds the workers' limits and grants (memory cap, mounts,
	// environment, host tools).
	Instance runtime.Options
	// Preload lists modules imported, and Setup is Python source run in
	// __main__, once, in the snapshot every worker is cloned from: their
	// effects are in every worker. An error in them fails New (with the
	// *runtime.PythonError and its traceback). Python code shipped with the
	// program goes in Instance.Packages and is imported here.
	Preload []string
	Setup   string
	// MaxCalls recycles a worker after that many calls. Default none. (A
	// ModeFresh worker serves a single call anyway.)
	MaxCalls int
	// MaxAge recycles a worker that old (checked after each call and every
	// so often while idle). Default none.
	MaxAge time.Duration
	// MaxMemory recycles a worker whose linear memory, which never shrinks,
	// has grown beyond that many bytes after a call. Default none. The hard
	// cap is Instance.Limits.MaxMemory. A worker starts at its snapshot's
	// size, which includes 8 MiB of free heap for its calls (about 16 MiB
	// for a pool without Preload or Setup).
	//
	// For Sessions, MaxCalls, MaxAge and MaxMemory end the session whose
	// worker reaches them (its next call gets ErrSessionLost); leave them
	// zero for sessions that live until they idle out.
	MaxMemory int64
	// MaxSessionIdle ends a session idle that long. Default 10 minutes.
	MaxSessionIdle time.Duration
	// MaxSessions caps the live sessions, running or parked (a new key past
	// it gets ErrTooManySessions, or with a Store spills the least recently
	// used idle one to make room). An idle session holds no slot, only its
	// interpreter's memory: about 1 MiB idle (what its calls wrote,
	// copy-on-write against the snapshot, plus wazero's own), more for the
	// state it keeps, up to Instance.Limits.MaxMemory each. Default: as
	// many as MaxSessionMemory holds at 1 MiB each (at least Size); none
	// when MaxSessionMemory is NoLimit.
	MaxSessions int
	// MaxSessionMemory caps the memory the live sessions' interpreters own
	// together (runtime.Instance.PrivateBytes, read after each call): a new
	// key gets ErrTooManySessions while the total is at or above it (with
	// a Store, once spilling idle sessions cannot bring it below). Live
	// sessions are not stopped by it: MaxMemory ends one that grows too
	// big. Default a quarter of the machine's memory (1 GiB where it is
	// unknown).
	MaxSessionMemory int64
	// Store, for Sessions, keeps session images (see Session.Save): a
	// session parked for SpillIdle (or MaxSessionIdle, if shorter) is
	// saved there and its interpreter closed instead of ended, its next
	// call restores it from there (the image then leaves the Store), and
	// Close saves the parked sessions there, so a pool started later on
	// the same Store (and Seed) resumes them. A key the pool does not hold
	// is looked up there before a new session starts. Only live sessions
	// count against MaxSessions and MaxSessionMemory, and a new or
	// resumed session that finds no room under them first spills the
	// least recently used idle sessions (its call waits for their images
	// to be stored), so that the pool holds any number of sessions within
	// bounded memory; it gets ErrTooManySessions only when no idle session
	// can go (or storing one fails: that one stays live). DirStore is a Store
	// in a directory. nil means none: sessions live and end in this pool.
	Store Store
	// SpillIdle is how long a parked session waits before it is saved to
	// the Store. Default 10 seconds.
	SpillIdle time.Duration
	// KeepStored leaves a session's image in the Store when its next call
	// restores it, instead of deleting it: for a caller that writes each
	// session through to the Store after its calls (snakepit serve
	// --store-sync), so that a process killed during the first call after a
	// restore has not taken the session with it. The Store then also holds
	// live sessions, which another pool on it would restore as well.
	KeepStored bool
	// Seed makes the pool's snapshot reproducible (runtime.SnapshotOptions.Seed):
	// needed for images to restore in another process. Keep it secret.
	Seed []byte
	// OnEvent, if set, is called for every lifecycle step, synchronously and
	// possibly from several goroutines at once, never with the pool's lock
	// held. It must be quick and must not call the pool's Run or Close.
	OnEvent func(Event)
	// Logger receives worker failures (Warn) and lifecycle steps (Debug);
	// nil discards them.
	Logger *slog.Logger
}

// Validate reports why o cannot start a pool, as an error wrapping
// runtime.ErrBadOptions (Instance's included), or nil. New and NewSessions
// call it before anything starts.
func (o Options) Validate() error {
	bad := func(what string, v int64) error {
		return fmt.Errorf("%w: %s of %d (0 is the default, runtime.NoLimit none)", runtime.ErrBadOptions, what, v)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxQueue", int64(o.MaxQueue)}, {"MaxQueueWait", int64(o.MaxQueueWait)}, {"MaxCallTime", int64(o.MaxCallTime)},
		{"MaxCalls", int64(o.MaxCalls)}, {"MaxAge", int64(o.MaxAge)}, {"MaxMemory", o.MaxMemory},
		{"MaxSessionIdle", int64(o.MaxSessionIdle)}, {"MaxSessions", int64(o.MaxSessions)}, {"MaxSessionMemory", o.MaxSessionMemory},
	} {
		if f.v < runtime.NoLimit {
			return bad(f.name, f.v)
		}
	}
	if o.Size < 0 {
		return bad("Size", int64(o.Size))
	}
	if o.Mode != ModeFresh && o.Mode != ModeWarm {
		return fmt.Errorf("%w: unknown %v", runtime.ErrBadOptions, o.Mode)
	}
	return o.Instance.Validate()
}

// withDefaults fills in the defaults and turns the caps into what the code
// checks: a count or duration, with 0 (durations, MaxCalls, the memory
// caps) or the largest int (counts) for none.
func (o Options) withDefaults() Options {
	none := func(d *time.Duration) {
		if *d == runtime.NoLimit {
			*d = 0
		}
	}
	if o.Size <= 0 {
		o.Size = goruntime.NumCPU()
	}
	switch {
	case o.FailFast:
		o.MaxQueue = 0
	case o.MaxQueue == 0:
		o.MaxQueue = 64 * o.Size
	case o.MaxQueue == runtime.NoLimit:
		o.MaxQueue = math.MaxInt
	}
	if o.MaxQueueWait == 0 {
		o.MaxQueueWait = 10 * time.Second
	}
	if o.MaxCallTime == 0 {
		o.MaxCallTime = 60 * time.Second
	}
	none(&o.MaxQueueWait)
	none(&o.MaxCallTime)
	none(&o.MaxAge)
	o.MaxCalls = max(o.MaxCalls, 0)
	o.MaxMemory = max(o.MaxMemory, 0)
	switch o.MaxSessionMemory {
	case 0:
		o.MaxSessionMemory = 1 << 30
		if m := physicalMemory(); m > 0 {
			o.MaxSessionMemory = int64(min(m/4, math.MaxInt64))
		}
	case runtime.NoLimit:
		o.MaxSessionMemory = 0 // none
	}
	switch o.MaxSessionIdle {
	case 0:
		o.MaxSessionIdle = 10 * time.Minute
	case runtime.NoLimit:
		o.MaxSessionIdle = math.MaxInt64
	}
	switch {
	case o.MaxSessions == runtime.NoLimit, o.MaxSessions == 0 && o.MaxSessionMemory == 0:
		o.MaxSessions = math.MaxInt
	case o.MaxSessions == 0:
		o.MaxSessions = max(o.Size, int(o.MaxSessionMemory>>20))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
