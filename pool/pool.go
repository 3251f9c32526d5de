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
//   - Sessions (NewSessions, a type of its own, so that a call cannot go
//     to the wrong kind of pool): Session(key).Run sends the calls with the
//     same key to the session's own interpreter, whose state persists
//     between them (see Sessions).
//
// # Files
//
// Every worker has its own scratch file system (runtime.Options.Scratch,
// /tmp and the working directory by default). Request.Files go into the
// worker's scratch before the call, and Result.Files bring back the files
// the call wrote. What a call leaves there follows the mode: in ModeFresh
// the next call starts from the snapshot's files (those Setup wrote) and
// never sees another call's; a session keeps its files for its life
// (Session.Files reads them between calls); a warm worker keeps them until
// it is recycled.
//
// # Outcomes
//
// Every call gets exactly one outcome: a result, or an error that
// errors.Is/As recognise: ErrSaturated, ErrQueueTimeout (which wraps
// context.DeadlineExceeded), the caller's context error or the call's
// deadline (context.DeadlineExceeded), runtime.ErrClosed, *runtime.PythonError,
// runtime.ErrMemoryLimit, ErrWorkerCrashed (together with the runtime's
// error), ErrSessionLost, ErrTooManySessions,
// runtime.ErrBadRequest (refused before taking a worker),
// runtime.ErrResultTooLarge, runtime.ErrStreamLimit, and the error of the
// request's OnChunk (wrapped). runtime.KindOf classifies each. A Python
// exception keeps the worker, as do the result and stream caps; any error
// that broke it recycles it.
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

	"github.com/snakepit-wasm/snakepit/internal/life"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// Pool runs calls on a fixed number of workers. It is safe for concurrent
// use.
type Pool struct {
	rt   *runtime.Runtime
	opts Options
	snap *runtime.Snapshot // every worker is a clone
	log  *slog.Logger
	ids  atomic.Uint64

	// life ends when Close begins: it ends the janitor and start retries,
	// and its context is the one worker starts and resets use.
	life *life.Life
	// kill stops the calls still running when Close's context ends.
	kill     context.Context
	killCall context.CancelCauseFunc
	done     chan struct{} // closed when Close has finished

	// last holds, per P (sync.Pool keeps one item per P), the worker a
	// call on that P last released: taking it again finds its memory in
	// that core's caches. Two callers on two workers otherwise swapped
	// them on most calls, and a warm add(1, 2) took 12-13 CPU-µs instead
	// of 8 (BenchmarkWarmCallCallers). Only a hint: acquire checks it.
	last sync.Pool

	inflight sync.WaitGroup // calls holding a worker
	bg       sync.WaitGroup // worker starts and closes, the janitor

	mu        sync.Mutex           // Close begins p.life under it: a closed pool changes nothing
	workers   map[*worker]struct{} // ready workers, idle or busy
	idle      []*worker            // ready, not pinned to a session; LIFO
	queue     list.List            // FIFO of *waiter and, for Sessions, *session awaiting a worker
	nwait     int                  // callers waiting, in queue or in a session's waiters
	starting  int
	sessions  map[string]*session
	nsessions int // live sessions (tombstones not counted)
	// ModeSession: the calls running (at most Size), the sessions with a
	// call waiting for a slot, in turn, and their workers' private memory.
	running    int
	ready      list.List // of *session
	sessionMem uint64
	moving     map[string]chan struct{} // keys being spilled to or restored from the Store (store.go)
	spillSlots chan struct{}            // bounds the spills under way to Size (store.go)
	stats      Stats
}

// New starts the pool's workers concurrently and returns when they are
// ready. If some fail to start, the pool starts without them and retries in
// the background; if none can start, New returns the first error. ctx
// bounds the start only.
func New(ctx context.Context, rt *runtime.Runtime, opts Options) (*Pool, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return newPool(ctx, rt, opts)
}

func newPool(ctx context.Context, rt *runtime.Runtime, opts Options) (*Pool, error) {
	if rt == nil {
		return nil, fmt.Errorf("%w: nil runtime", runtime.ErrBadOptions)
	}
	opts = opts.withDefaults()
	p := &Pool{
		rt:       rt,
		opts:     opts,
		log:      opts.Logger,
		life:     life.New(context.Background()),
		done:     make(chan struct{}),
		workers:  make(map[*worker]struct{}),
		sessions: make(map[string]*session),
		// Each spill holds an image and a compressor: a burst of them
		// (many sessions idle at once, many new keys) runs Size at a
		// time, not all at once.
		spillSlots: make(chan struct{}, opts.Size),
		stats: Stats{Mode: opts.Mode, Size: opts.Size, Errors: map[runtime.ErrorKind]uint64{},
			Recycles: map[RecycleReason]uint64{}, QueueWait: newHistogram(), Exec: newHistogram()},
	}
	p.kill, p.killCall = context.WithCancelCause(context.Background())
	fail := func(err error) (*Pool, error) {
		p.life.Close(runtime.ErrClosed)
		p.killCall(runtime.ErrClosed)
		if p.snap != nil {
			p.snap.Close()
		}
		return nil, err
	}
	// Every worker is a clone of one snapshot, mapped copy-on-write: it
	// owns only the pages it writes. A ModeFresh worker serves one call and
	// is then reset in place (the pages it wrote copied back, see renew).
	snap, err := rt.NewSnapshot(ctx, runtime.SnapshotOptions{Options: opts.Instance, Preload: opts.Preload,
		Setup: opts.Setup, CopyOnWrite: true, Seed: opts.Seed})
	if err != nil {
		return fail(fmt.Errorf("snapshot: %w", err))
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
	if opts.Mode == modeSession || (opts.Mode == ModeWarm && opts.MaxAge > 0) {
		every := opts.MaxSessionIdle
		if opts.Mode != modeSession || (opts.MaxAge > 0 && opts.MaxAge < every) {
			every = opts.MaxAge
		}
		p.bg.Add(1)
		go p.janitor(min(max(every/4, 10*time.Millisecond), time.Second))
	}
	return p, nil
}

// Run performs req on a worker, waiting in the queue for one if all are
// busy. A Python exception returns the Result (with the output so far) and
// a *runtime.PythonError; see the package documentation for the other
// errors.
func (p *Pool) Run(ctx context.Context, req runtime.Request) (*runtime.Result, error) {
	return p.do(ctx, false, "", req)
}

func (p *Pool) do(ctx context.Context, inSession bool, key string, req runtime.Request) (*runtime.Result, error) {
	arrived := time.Now()
	ctx, cancelCall, cancel := p.callContext(ctx, inSession)
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
	case inSession && key == "":
		err = fmt.Errorf("%w: empty session key", runtime.ErrBadRequest)
	case bad != nil:
		err = bad
	case ctx.Err() != nil:
		// Not even a ModeFresh clone is spent on a call already given up.
		err = closedErr(ctx, ctx.Err())
	case inSession:
		w, s, err = p.acquireStored(ctx, key)
	default:
		w, err = p.acquire(ctx, cancelCall)
	}
	wait := time.Since(arrived)
	if err != nil {
		p.mu.Lock()
		p.countLocked(err, false, 0, 0)
		p.mu.Unlock()
		p.emit(Event{Type: CallFinished, Session: key, Wait: wait, Err: err, Kind: runtime.KindOf(err)})
		return nil, err
	}
	defer p.inflight.Done()
	p.emit(Event{Type: CallStarted, Worker: w.id, Session: key, Wait: wait})
	start := time.Now()
	res, err := w.inst.Run(ctx, req)
	exec := time.Since(start)
	err = p.release(ctx, w, s, err, wait, exec)
	if s == nil {
		p.last.Put(w)
	}
	return res, err
}

// callContext derives the call's context: CallTimeout, and a stop by Close
// when its context ends (with runtime.ErrClosed as the cause, through
// cancelCall). A session's call follows p.kill, as its restores and spills
// must stop too; any other call is stopped through the worker it holds
// (stopCalls), which costs no registration with a context every caller
// shares: that one's lock and map were a quarter of the host's time per
// call at 4 callers (BenchmarkWarmCallCallers).
func (p *Pool) callContext(ctx context.Context, inSession bool) (context.Context, context.CancelCauseFunc, func()) {
	ctx, cancelCall := context.WithCancelCause(ctx)
	stop := func() bool { return true }
	if inSession {
		stop = context.AfterFunc(p.kill, func() { cancelCall(runtime.ErrClosed) })
	}
	cancelT := context.CancelFunc(func() {})
	if p.opts.MaxCallTime > 0 {
		ctx, cancelT = context.WithTimeout(ctx, p.opts.MaxCallTime)
	}
	return ctx, cancelCall, func() {
		cancelT()
		stop()
		cancelCall(nil)
	}
}

// stopCalls stops the calls still running: those of sessions through
// p.kill, the others through the workers they hold.
func (p *Pool) stopCalls() {
	p.killCall(runtime.ErrClosed)
	p.mu.Lock()
	for w := range p.workers {
		if w.busy && w.cancel != nil {
			w.cancel(runtime.ErrClosed)
		}
	}
	p.mu.Unlock()
}

// Close stops the pool: new calls and queued ones fail with runtime.ErrClosed at
// once, calls in flight may finish until ctx ends and are then stopped
// (their error wraps runtime.ErrClosed). Close then closes every worker and the
// snapshot, and returns ctx's error if it had to stop calls. It does not
// close the Runtime. Calling it again waits for the first call to finish.
// It is safe to call on a nil Pool.
func (p *Pool) Close(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	if !p.life.Close(runtime.ErrClosed) {
		p.mu.Unlock()
		select {
		case <-p.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for e := p.queue.Front(); e != nil; e = e.Next() {
		switch x := e.Value.(type) {
		case *waiter:
			x.granted = true
			x.ch <- grant{err: runtime.ErrClosed}
		case *session:
			x.elem = nil
		}
	}
	p.queue.Init()
	for _, s := range p.sessions {
		p.failWaitersLocked(s, runtime.ErrClosed)
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
		p.stopCalls()
		<-finished
	}
	p.killCall(runtime.ErrClosed)
	if p.opts.Store != nil {
		p.spillAll(ctx) // store.go; its retired workers close under bg
	}
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
