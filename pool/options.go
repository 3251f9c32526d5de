package pool

import (
	"fmt"
	"log/slog"
	goruntime "runtime"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
)

// Mode is a pool's isolation mode.
type Mode int

const (
	// ModeFresh runs every call on a clean interpreter.
	ModeFresh Mode = iota
	// ModeWarm reuses workers: state persists between calls.
	ModeWarm
	// ModeSession routes calls by session key to the session's worker.
	ModeSession
)

func (m Mode) String() string {
	switch m {
	case ModeFresh:
		return "fresh"
	case ModeWarm:
		return "warm"
	case ModeSession:
		return "session"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options configure a Pool. The zero value is usable: a ModeFresh pool of
// one worker per CPU with the defaults below.
type Options struct {
	// Size is the number of calls running at once: the number of workers
	// in ModeFresh and ModeWarm; in ModeSession, where each session has an
	// interpreter of its own, the number of sessions running a call at
	// once, and of spare workers kept ready for new sessions. Default
	// runtime.NumCPU() (Go's).
	Size int
	// QueueLimit caps the callers waiting for a worker (or for their
	// session); past it calls fail at once with ErrSaturated. Default
	// 64×Size; negative means no waiting at all.
	QueueLimit int
	// QueueTimeout caps the time a call waits in the queue (ErrQueueTimeout).
	// Default 10s; negative means no cap but CallTimeout and the caller's
	// context.
	QueueTimeout time.Duration
	// CallTimeout is each call's deadline, covering its queue wait and its
	// execution; a call running past it is stopped and its worker replaced.
	// Default 60s; negative means none (the caller's context still applies).
	CallTimeout time.Duration
	// Mode is the isolation mode; default ModeFresh.
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
	// MaxCalls recycles a worker after that many calls; 0 means no limit.
	// (A ModeFresh worker serves a single call anyway.)
	MaxCalls int
	// MaxAge recycles a worker that old (checked after each call and every
	// so often while idle); 0 means no limit.
	MaxAge time.Duration
	// MaxMemory recycles a worker whose linear memory, which never shrinks,
	// has grown beyond that many bytes after a call; 0 means no limit. The
	// hard cap is Instance.MemoryLimit. A worker starts at its snapshot's
	// size, which includes 8 MiB of free heap for its calls (about 16 MiB
	// for a pool without Preload or Setup).
	//
	// In ModeSession, MaxCalls, MaxAge and MaxMemory end the session whose
	// worker reaches them (its next call gets ErrSessionLost); leave them 0
	// for sessions that live until they idle out.
	MaxMemory uint64
	// SessionTTL ends a session idle that long. Default 10 minutes.
	SessionTTL time.Duration
	// MaxSessions caps the live sessions, running or parked (a new key past
	// it gets ErrTooManySessions). Default Size. An idle session holds no
	// slot, only its interpreter's memory: about 1 MiB idle (what its calls
	// wrote, copy-on-write against the snapshot, plus wazero's own), more
	// for the state it keeps, up to Instance.MemoryLimit each. Raise it
	// together with MaxSessionMemory, or MaxMemory, which bound that.
	MaxSessions int
	// MaxSessionMemory caps the memory the live sessions' interpreters own
	// together (runtime.Instance.PrivateBytes, read after each call): a new
	// key gets ErrTooManySessions while the total is at or above it. Live
	// sessions are not stopped by it: MaxMemory ends one that grows too
	// big. 0 means no cap.
	MaxSessionMemory uint64
	// OnEvent, if set, is called for every lifecycle step, synchronously and
	// possibly from several goroutines at once, never with the pool's lock
	// held. It must be quick and must not call the pool's Run or Close.
	OnEvent func(Event)
	// Logger receives worker failures (Warn) and lifecycle steps (Debug);
	// nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Size <= 0 {
		o.Size = goruntime.NumCPU()
	}
	if o.QueueLimit == 0 {
		o.QueueLimit = 64 * o.Size
	}
	o.QueueLimit = max(o.QueueLimit, 0)
	if o.QueueTimeout == 0 {
		o.QueueTimeout = 10 * time.Second
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 60 * time.Second
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 10 * time.Minute
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = o.Size
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
