// Package pool runs Python calls on a fixed number of python.wasm workers,
// queueing callers in arrival order when every worker is busy.
//
// A worker is one runtime.Instance. Nothing is ever repaired: a worker that
// a call left broken (a trap, the memory cap, a stop at the deadline, an ABI
// violation), or that reached a recycling limit, is closed and a new one is
// started in the background, so the pool keeps its size and never serves
// from a tainted worker.
//
// # Modes
//
// Every worker is a clone of a snapshot that New takes after running
// Preload and Setup once, so a worker starts in about a millisecond of
// instantiation plus its first page faults, without initialising an
// interpreter. All workers of a pool therefore share the snapshot's string
// hash secret (see runtime.Snapshot); `random` is re-seeded in each.
//
//   - ModeFresh (the default, for untrusted code): every call runs on a
//     clean interpreter, a fresh clone. Size clones are kept ready, so
//     making one is off the call's path; each used clone is reset in place
//     in the background (runtime.Instance.Reset: its memory, scratch files
//     and seed as a new clone's), or closed and replaced by a new clone
//     where a reset cannot be exact (Stats.Resets counts the resets).
//   - ModeWarm (for trusted adapters): workers are reused, so state persists
//     between calls on a worker (and which worker serves a call is not
//     chosen). A warm worker maps the snapshot copy-on-write: idle, it owns
//     only the pages it has written (about 1 MiB after a small call).
//   - ModeSession: RunSession sends the calls with the same key to the
//     session's own interpreter, whose state persists between them. Size
//     bounds the calls running at once, not the sessions alive: an idle
//     session is parked (its interpreter kept, copy-on-write against the
//     snapshot, holding no slot) and runs again on its next call, in
//     order, with its state. Sessions with calls waiting take the free
//     slots in turn. MaxSessions (default Size) caps the live sessions, and
//     MaxSessionMemory the memory their interpreters own together: a new
//     key past either gets ErrTooManySessions at once, without waiting. A
//     new session starts from one of Size spare clones kept ready, so it
//     seldom waits for one to start. A session ends after SessionTTL idle
//     or at EndSession, and its interpreter is then closed, so that no
//     state passes from one session to the next.
//
// # Files
//
// Every worker has its own scratch file system (runtime.Options.Scratch,
// /tmp and the working directory by default). Request.Files go into the
// worker's scratch before the call, and Result.Files bring back the files
// the call wrote. What a call leaves there follows the mode: in ModeFresh
// the next call starts from the snapshot's files (those Setup wrote) and
// never sees another call's; a session keeps its files for its life
// (SessionFiles reads them between calls); a warm worker keeps them until
// it is recycled.
//
// # Outcomes
//
// Every call gets exactly one outcome: a result, or an error that
// errors.Is/As recognise: ErrSaturated, ErrQueueTimeout (which wraps
// context.DeadlineExceeded), the caller's context error or the call's
// deadline (context.DeadlineExceeded), ErrClosed, *runtime.PythonError,
// runtime.ErrMemoryLimit, ErrWorkerCrashed (together with the runtime's
// error), ErrSessionLost, ErrTooManySessions, ErrWrongMode,
// runtime.ErrBadRequest (refused before taking a worker),
// runtime.ErrResultTooLarge, runtime.ErrStreamLimit, and the error of the
// request's OnChunk (wrapped). A Python exception keeps the worker, as do
// the result and stream caps; any error that broke it recycles it.
//
// # Observing
//
// Stats returns counters and latency histograms; Options.OnEvent sees every
// lifecycle step, and Options.Logger receives the notable ones.
package pool

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"sync"
	"sync/atomic"
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

// Pool runs calls on a fixed number of workers. It is safe for concurrent
// use.
type Pool struct {
	rt   *runtime.Runtime
	opts Options
	snap *runtime.Snapshot // every worker is a clone
	log  *slog.Logger
	ids  atomic.Uint64

	// stopping is closed when Close begins: it ends the janitor and start
	// retries, and bgCtx (which start uses) ends with it.
	stopping chan struct{}
	bgCtx    context.Context
	bgCancel context.CancelFunc
	// kill stops the calls still running when Close's context ends.
	kill     context.Context
	killCall context.CancelCauseFunc
	done     chan struct{} // closed when Close has finished

	inflight sync.WaitGroup // calls holding a worker
	bg       sync.WaitGroup // worker starts and closes, the janitor

	mu        sync.Mutex
	closed    bool
	workers   map[*worker]struct{} // ready workers, idle or busy
	idle      []*worker            // ready, not pinned to a session; LIFO
	queue     list.List            // FIFO of *waiter and, in ModeSession, *session awaiting a worker
	nwait     int                  // callers waiting, in queue or in a session's waiters
	starting  int
	sessions  map[string]*session
	nsessions int // live sessions (tombstones not counted)
	// ModeSession: the calls running (at most Size), the sessions with a
	// call waiting for a slot, in turn, and their workers' private memory.
	running    int
	ready      list.List // of *session
	sessionMem uint64
	stats      Stats
}

type worker struct {
	id        uint64
	inst      *runtime.Instance
	born      time.Time
	calls     int // instance calls made by setup, not counted against MaxCalls
	startTime time.Duration
	busy      bool
	sess      *session
}

// waiter is one caller waiting for a worker. The granter, holding the lock,
// sets granted and sends on the buffered ch, so it never blocks and the
// waiter can tell whether it was served.
type waiter struct {
	ch      chan grant
	granted bool
	elem    *list.Element
}

type grant struct {
	w   *worker
	err error
}

// New starts the pool's workers concurrently and returns when they are
// ready. If some fail to start, the pool starts without them and retries in
// the background; if none can start, New returns the first error. ctx
// bounds the start only.
func New(ctx context.Context, rt *runtime.Runtime, opts Options) (*Pool, error) {
	if rt == nil {
		return nil, errors.New("pool: nil runtime")
	}
	opts = opts.withDefaults()
	p := &Pool{
		rt:       rt,
		opts:     opts,
		log:      opts.Logger,
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
		workers:  make(map[*worker]struct{}),
		sessions: make(map[string]*session),
		stats: Stats{Mode: opts.Mode, Size: opts.Size, Errors: map[ErrorKind]uint64{},
			Recycles: map[RecycleReason]uint64{}, QueueWait: newHistogram(), Exec: newHistogram()},
	}
	p.bgCtx, p.bgCancel = context.WithCancel(context.Background())
	p.kill, p.killCall = context.WithCancelCause(context.Background())
	fail := func(err error) (*Pool, error) {
		p.bgCancel()
		p.killCall(ErrClosed)
		if p.snap != nil {
			p.snap.Close()
		}
		return nil, err
	}
	if opts.Mode < ModeFresh || opts.Mode > ModeSession {
		return fail(fmt.Errorf("pool: unknown mode %d", opts.Mode))
	}
	// Every worker is a clone of one snapshot, mapped copy-on-write: it
	// owns only the pages it writes. A ModeFresh worker serves one call and
	// is then reset in place (the pages it wrote copied back, see renew).
	snap, err := rt.NewSnapshot(ctx, runtime.SnapshotOptions{Options: opts.Instance, Preload: opts.Preload,
		Setup: opts.Setup, CopyOnWrite: true})
	if err != nil {
		return fail(fmt.Errorf("pool: %w", err))
	}
	p.snap = snap

	// A few starters share the work: more than the CPUs would only slow each
	// start down. They stop early when the first starts all failed, since
	// the rest would most likely fail the same way (a Setup error).
	var (
		mu       sync.Mutex
		next     int
		ready    []*worker
		failed   int
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(opts.Size, goruntime.NumCPU()) {
		wg.Go(func() {
			for {
				mu.Lock()
				if next == opts.Size || (firstErr != nil && len(ready) == 0) {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				w, err := p.startWorker(ctx)
				mu.Lock()
				if err != nil {
					failed++
					firstErr = cmp.Or(firstErr, err)
				} else {
					ready = append(ready, w)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(ready) == 0 {
		return fail(firstErr)
	}
	p.mu.Lock()
	for _, w := range ready {
		p.workers[w] = struct{}{}
		p.idle = append(p.idle, w)
	}
	for range opts.Size - len(ready) {
		p.starting++
		p.bg.Add(1)
		go p.startLoop(nil)
	}
	p.mu.Unlock()
	if failed > 0 {
		p.log.Warn("pool: some workers failed to start; retrying", "failed", failed, "size", opts.Size, "err", firstErr)
	}
	for _, w := range ready {
		p.emit(Event{Type: WorkerReady, Worker: w.id, Duration: w.startTime})
	}
	if opts.Mode == ModeSession || (opts.Mode == ModeWarm && opts.MaxAge > 0) {
		every := opts.SessionTTL
		if opts.Mode != ModeSession || (opts.MaxAge > 0 && opts.MaxAge < every) {
			every = opts.MaxAge
		}
		p.bg.Add(1)
		go p.janitor(min(max(every/4, 10*time.Millisecond), time.Second))
	}
	return p, nil
}

// Run performs req on a worker, waiting in the queue for one if all are
// busy. It is for ModeFresh and ModeWarm pools (ErrWrongMode otherwise).
// A Python exception returns the Result (with the output so far) and a
// *runtime.PythonError; see the package documentation for the other
// errors.
func (p *Pool) Run(ctx context.Context, req runtime.Request) (*runtime.Result, error) {
	return p.do(ctx, false, "", req)
}

// RunSession performs req on the worker of session key, creating the
// session if the key has none; it is for ModeSession pools (ErrWrongMode
// otherwise). Calls with the same key run one at a time, in arrival order,
// on a worker that keeps its state between them. If the session's worker
// was lost (a call broke it or it reached a recycling limit), the next call
// gets ErrSessionLost and the one after starts a new session. An empty key
// is refused (runtime.ErrBadRequest).
func (p *Pool) RunSession(ctx context.Context, key string, req runtime.Request) (*runtime.Result, error) {
	return p.do(ctx, true, key, req)
}

func (p *Pool) do(ctx context.Context, inSession bool, key string, req runtime.Request) (*runtime.Result, error) {
	arrived := time.Now()
	ctx, cancel := p.callContext(ctx)
	defer cancel()
	var (
		w   *worker
		s   *session
		err error
		// Checked here too, so that a bad request spends no worker (in
		// ModeFresh, a clone) and waits in no queue.
		bad = req.Validate()
	)
	switch {
	case inSession != (p.opts.Mode == ModeSession):
		err = fmt.Errorf("%w: %s pool", ErrWrongMode, p.opts.Mode)
	case inSession && key == "":
		err = fmt.Errorf("pool: %w: empty session key", runtime.ErrBadRequest)
	case bad != nil:
		err = bad
	case ctx.Err() != nil:
		// Not even a ModeFresh clone is spent on a call already given up.
		err = closedErr(ctx, fmt.Errorf("pool: %w", ctx.Err()))
	case inSession:
		w, s, err = p.acquireSession(ctx, key)
	default:
		w, err = p.acquire(ctx)
	}
	wait := time.Since(arrived)
	if err != nil {
		p.mu.Lock()
		p.countLocked(err, false, 0, 0)
		p.mu.Unlock()
		p.emit(Event{Type: CallFinished, Session: key, Wait: wait, Err: err, Kind: KindOf(err)})
		return nil, err
	}
	defer p.inflight.Done()
	p.emit(Event{Type: CallStarted, Worker: w.id, Session: key, Wait: wait})
	start := time.Now()
	res, err := w.inst.Run(ctx, req)
	exec := time.Since(start)
	err = p.release(ctx, w, s, err, wait, exec)
	return res, err
}

// callContext derives the call's context: CallTimeout, and a stop by Close
// when its context ends (with ErrClosed as the cause).
func (p *Pool) callContext(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(p.kill, func() { cancel(ErrClosed) })
	cancelT := context.CancelFunc(func() {})
	if p.opts.CallTimeout > 0 {
		ctx, cancelT = context.WithTimeout(ctx, p.opts.CallTimeout)
	}
	return ctx, func() {
		cancelT()
		stop()
		cancel(nil)
	}
}

// closedErr marks err with ErrClosed too when Close is what ended ctx.
func closedErr(ctx context.Context, err error) error {
	if context.Cause(ctx) == ErrClosed {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// acquire returns an idle worker, waiting in the queue for one if needed.
func (p *Pool) acquire(ctx context.Context) (*worker, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	// Idle workers exist only while the queue is empty (a freed worker goes
	// to the queue's head first), so taking one cannot overtake a waiter.
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.takeLocked(w)
		p.mu.Unlock()
		return w, nil
	}
	if p.nwait >= p.opts.QueueLimit {
		p.mu.Unlock()
		return nil, ErrSaturated
	}
	wt := &waiter{ch: make(chan grant, 1)}
	wt.elem = p.queue.PushBack(wt)
	p.nwait++
	p.mu.Unlock()
	p.emit(Event{Type: CallQueued})
	return p.wait(ctx, wt, nil)
}

// takeLocked hands w to a caller.
func (p *Pool) takeLocked(w *worker) {
	w.busy = true
	p.inflight.Add(1)
}

// wait waits for wt's grant, or gives up at the caller's context end or the
// queue timeout. s is the session wt waits for, if any.
func (p *Pool) wait(ctx context.Context, wt *waiter, s *session) (*worker, error) {
	var timeout <-chan time.Time
	if p.opts.QueueTimeout > 0 {
		t := time.NewTimer(p.opts.QueueTimeout)
		defer t.Stop()
		timeout = t.C
	}
	var err error
	select {
	case g := <-wt.ch:
		return g.w, g.err
	case <-ctx.Done():
		err = closedErr(ctx, fmt.Errorf("pool: waiting for a worker: %w", ctx.Err()))
	case <-timeout:
		err = ErrQueueTimeout
	}
	var evs []Event
	p.mu.Lock()
	if !wt.granted {
		p.nwait--
		if s == nil {
			p.queue.Remove(wt.elem)
		} else {
			s.waiters.Remove(wt.elem)
			p.leftLocked(s)
		}
		p.mu.Unlock()
		p.emit(evs...)
		return nil, err
	}
	// Served just as we gave up: hand the worker on unused.
	g := <-wt.ch
	if g.w != nil {
		if s == nil {
			g.w.busy = false
			p.idleLocked(g.w, &evs)
		} else {
			p.releaseSessionLocked(s, g.w, "", nil, &evs)
		}
		p.inflight.Done()
	}
	p.mu.Unlock()
	p.emit(evs...)
	return nil, cmp.Or(g.err, err)
}

// release returns w after a call, recycling it if the call broke it or it
// reached a limit, counts the call and reports it. It returns the call's
// error as the caller should see it.
func (p *Pool) release(ctx context.Context, w *worker, s *session, err error, wait, exec time.Duration) error {
	closing := context.Cause(ctx) == ErrClosed
	var reason RecycleReason
	broken := w.inst.Err()
	switch {
	case broken != nil:
		reason, err = brokenReason(err, ctx.Err(), closing)
	case closing && err != nil:
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	if reason == "" {
		reason = p.limitReason(w)
	}
	var evs []Event
	if broken != nil {
		p.note(&evs, Event{Type: WorkerCrashed, Worker: w.id, Session: sessionKey(s), Err: broken})
		if reason == RecycleCrash {
			p.log.Warn("pool: worker crashed", "worker", w.id, "err", broken)
		}
	}
	var mem uint64
	if s != nil && p.opts.MaxSessionMemory > 0 && broken == nil && reason == "" {
		// Read outside the lock: it walks the page table.
		mem, _ = w.inst.PrivateBytes()
	}
	p.mu.Lock()
	p.countLocked(err, true, wait, exec)
	if s != nil {
		if s.w == w && !s.ended {
			p.sessionMem += mem - s.mem
			s.mem = mem
		}
		p.releaseSessionLocked(s, w, reason, broken, &evs)
	} else {
		w.busy = false
		if reason != "" {
			p.retireLocked(w, reason, true, &evs)
		} else {
			p.idleLocked(w, &evs)
		}
	}
	p.mu.Unlock()
	p.note(&evs, Event{Type: CallFinished, Worker: w.id, Session: sessionKey(s), Wait: wait, Duration: exec, Err: err, Kind: KindOf(err)})
	p.emit(evs...)
	return err
}

// limitReason says which recycling limit w has reached, if any.
func (p *Pool) limitReason(w *worker) RecycleReason {
	o := &p.opts
	switch {
	case o.Mode == ModeFresh:
		return RecycleUsed
	case o.MaxCalls > 0 && w.inst.Calls()-w.calls >= o.MaxCalls:
		return RecycleCalls
	case o.MaxAge > 0 && time.Since(w.born) >= o.MaxAge:
		return RecycleAge
	case o.MaxMemory > 0 && w.inst.MemoryBytes() > o.MaxMemory:
		return RecycleMemory
	}
	return ""
}

func (p *Pool) countLocked(err error, ran bool, wait, exec time.Duration) {
	p.stats.Calls++
	if err != nil {
		p.stats.Errors[KindOf(err)]++
	}
	if ran {
		p.stats.QueueWait.observe(wait)
		p.stats.Exec.observe(exec)
	}
}

// idleLocked makes the ready, unpinned worker w available: to the queue's
// head if anyone waits, else to the idle list.
func (p *Pool) idleLocked(w *worker, evs *[]Event) {
	if e := p.queue.Front(); e != nil {
		p.queue.Remove(e)
		switch x := e.Value.(type) {
		case *waiter:
			p.nwait--
			p.takeLocked(w)
			x.granted = true
			x.ch <- grant{w: w}
		case *session:
			// A new session whose turn for a slot came while no spare was
			// ready; it has waiters (the last one to give up removes it
			// from the queue), and its turn again.
			x.elem = nil
			p.idle = append(p.idle, w)
			x.relem = p.ready.PushFront(x)
			p.dispatchLocked(evs)
		}
		return
	}
	p.idle = append(p.idle, w)
}

// retireLocked closes w in the background and, if replace is set and the
// pool is not closed, starts its replacement. A session's worker is not
// replaced: a spare was started when the session took it.
func (p *Pool) retireLocked(w *worker, reason RecycleReason, replace bool, evs *[]Event) {
	delete(p.workers, w)
	p.stats.Recycles[reason]++
	p.note(evs, Event{Type: WorkerRecycled, Worker: w.id, Reason: reason})
	p.log.Debug("pool: recycling worker", "worker", w.id, "reason", reason)
	// The calls that run into Close still hold inflight, and the janitor
	// holds bg, so this Add never races with Close's bg.Wait at zero.
	p.bg.Add(1)
	if p.closed || !replace {
		go func() {
			defer p.bg.Done()
			p.closeInstance(w.inst)
		}()
		return
	}
	p.starting++
	if reason == RecycleUsed {
		go p.renew(w.inst)
		return
	}
	go p.startLoop(w.inst)
}

// renew makes a used ModeFresh worker's interpreter new again by resetting
// it in place (runtime.Instance.Reset: a fraction of a new clone's cost,
// and no page faults on the next call), under a new worker id. One that
// cannot be reset (its call grew the memory, left files open, ...) is
// closed and replaced by a new clone.
func (p *Pool) renew(inst *runtime.Instance) {
	start := time.Now()
	if err := inst.Reset(p.bgCtx); err != nil {
		p.log.Debug("pool: worker not reset", "err", err)
		p.startLoop(inst)
		return
	}
	defer p.bg.Done()
	id := p.ids.Add(1)
	p.emit(Event{Type: WorkerStarting, Worker: id})
	p.mu.Lock()
	p.stats.Resets++
	p.mu.Unlock()
	p.addWorker(&worker{id: id, inst: inst, born: time.Now(), startTime: time.Since(start)})
}

func (p *Pool) closeInstance(inst *runtime.Instance) {
	if err := inst.Close(context.Background()); err != nil {
		p.log.Warn("pool: closing worker", "err", err)
	}
}

// startLoop starts a worker, retrying with backoff until it succeeds or
// the pool closes, and closes old (if any) after the first attempt: after
// the replacement is serving, if it could start.
func (p *Pool) startLoop(old *runtime.Instance) {
	defer p.bg.Done()
	delay := 50 * time.Millisecond
	for {
		w, err := p.startWorker(p.bgCtx)
		if err == nil {
			p.addWorker(w)
		}
		if old != nil {
			p.closeInstance(old)
			old = nil
		}
		if err == nil {
			return
		}
		t := time.NewTimer(delay)
		select {
		case <-p.stopping:
			t.Stop()
			p.mu.Lock()
			p.starting--
			p.mu.Unlock()
			return
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// startWorker creates a worker: a clone of the pool's snapshot.
func (p *Pool) startWorker(ctx context.Context) (*worker, error) {
	id := p.ids.Add(1)
	p.emit(Event{Type: WorkerStarting, Worker: id})
	start := time.Now()
	inst, err := p.newInstance(ctx)
	if err != nil {
		p.mu.Lock()
		p.stats.StartFailures++
		p.mu.Unlock()
		p.emit(Event{Type: WorkerStartFailed, Worker: id, Err: err})
		p.log.Warn("pool: worker failed to start", "worker", id, "err", err)
		return nil, err
	}
	return &worker{id: id, inst: inst, born: time.Now(), startTime: time.Since(start), calls: inst.Calls()}, nil
}

func (p *Pool) newInstance(ctx context.Context) (*runtime.Instance, error) {
	inst, err := p.snap.NewInstance(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("pool: starting a worker: %w", err)
	}
	// A clone's first request pays for the pages it first writes
	// (copy-on-write faults: several ms on a VM); a no-op request here
	// keeps that off the caller's path. No caller's code has run; a
	// ModeFresh worker is reset after it all the same.
	_, err = inst.Exec(ctx, "pass")
	if err == nil && p.opts.Mode == ModeFresh {
		err = inst.Reset(ctx)
	}
	if err != nil {
		p.closeInstance(inst)
		return nil, fmt.Errorf("pool: warming a worker: %w", err)
	}
	return inst, nil
}

func (p *Pool) addWorker(w *worker) {
	var evs []Event
	p.mu.Lock()
	p.starting--
	if p.closed {
		p.mu.Unlock()
		p.closeInstance(w.inst)
		return
	}
	p.workers[w] = struct{}{}
	p.note(&evs, Event{Type: WorkerReady, Worker: w.id, Duration: w.startTime})
	p.idleLocked(w, &evs)
	p.mu.Unlock()
	p.emit(evs...)
}

// janitor expires idle sessions and ages out idle workers.
func (p *Pool) janitor(every time.Duration) {
	defer p.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stopping:
			return
		case now := <-t.C:
			p.sweep(now)
		}
	}
}

func (p *Pool) sweep(now time.Time) {
	var evs []Event
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if p.opts.MaxAge > 0 {
		keep := p.idle[:0]
		for _, w := range p.idle {
			if now.Sub(w.born) >= p.opts.MaxAge {
				p.retireLocked(w, RecycleAge, true, &evs)
			} else {
				keep = append(keep, w)
			}
		}
		clear(p.idle[len(keep):])
		p.idle = keep
	}
	p.sweepSessionsLocked(now, &evs)
	p.mu.Unlock()
	p.emit(evs...)
}

// Close stops the pool: new calls and queued ones fail with ErrClosed at
// once, calls in flight may finish until ctx ends and are then stopped
// (their error wraps ErrClosed). Close then closes every worker and the
// snapshot, and returns ctx's error if it had to stop calls. It does not
// close the Runtime. Calling it again waits for the first call to finish.
// It is safe to call on a nil Pool.
func (p *Pool) Close(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		select {
		case <-p.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.closed = true
	close(p.stopping)
	p.bgCancel()
	for e := p.queue.Front(); e != nil; e = e.Next() {
		switch x := e.Value.(type) {
		case *waiter:
			x.granted = true
			x.ch <- grant{err: ErrClosed}
		case *session:
			x.elem = nil
		}
	}
	p.queue.Init()
	for _, s := range p.sessions {
		p.failWaitersLocked(s, ErrClosed)
	}
	p.ready.Init()
	p.nwait = 0
	p.mu.Unlock()

	var err error
	finished := make(chan struct{})
	go func() {
		p.inflight.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-ctx.Done():
		err = ctx.Err()
		p.killCall(ErrClosed)
		<-finished
	}
	p.killCall(ErrClosed)
	p.bg.Wait()

	p.mu.Lock()
	ws := p.workers
	p.workers, p.idle, p.sessions = nil, nil, nil
	p.mu.Unlock()
	for w := range ws {
		err = errors.Join(err, w.inst.Close(context.Background()))
	}
	if p.snap != nil {
		p.snap.Close()
	}
	close(p.done)
	return err
}

// Stats returns a snapshot of the pool's state and counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	st.Errors = make(map[ErrorKind]uint64, len(p.stats.Errors))
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
