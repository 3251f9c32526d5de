package pool

import (
	"context"
	"fmt"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
)

// worker is one interpreter of the pool, a clone of its snapshot. It is
// never repaired: when a call breaks it or it reaches a recycling limit it
// is retired, and a new clone (in ModeFresh, the same one reset in place)
// takes its place under a new id.
type worker struct {
	id        uint64
	inst      *runtime.Instance
	born      time.Time
	calls     int // instance calls made by setup, not counted against MaxCalls
	startTime time.Duration
	busy      bool
	sess      *session
	cancel    context.CancelCauseFunc // stops the call holding it, if not a session's
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
	case o.MaxMemory > 0 && w.inst.MemoryBytes() > uint64(o.MaxMemory):
		return RecycleMemory
	}
	return ""
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
	if p.life.Closed() || !replace {
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
	if err := inst.Reset(p.life.Context()); err != nil {
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
		w, err := p.startWorker(p.life.Context())
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
		case <-p.life.Done():
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
	inst, err := p.snap.NewInstance(ctx, runtime.CloneOptions{})
	if err != nil {
		return nil, fmt.Errorf("starting a worker: %w", err)
	}
	// A clone's first request pays for the pages it first writes
	// (copy-on-write faults: several ms on a VM); a no-op request here
	// keeps that off the caller's path. No caller's code has run; a
	// ModeFresh worker is reset after it all the same.
	_, err = inst.Run(ctx, runtime.Exec("pass"))
	if err == nil && p.opts.Mode == ModeFresh {
		err = inst.Reset(ctx)
	}
	if err != nil {
		p.closeInstance(inst)
		return nil, fmt.Errorf("warming a worker: %w", err)
	}
	return inst, nil
}

func (p *Pool) addWorker(w *worker) {
	var evs []Event
	p.mu.Lock()
	p.starting--
	if p.life.Closed() {
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
		case <-p.life.Done():
			return
		case now := <-t.C:
			p.sweep(now)
		}
	}
}

func (p *Pool) sweep(now time.Time) {
	var evs []Event
	p.mu.Lock()
	if p.life.Closed() {
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
