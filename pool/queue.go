package pool

import (
	"cmp"
	"container/list"
	"context"
	"fmt"
	"github.com/snakepit-wasm/snakepit/runtime"
	"slices"
	"time"
)

// waiter is one caller waiting for a worker. The granter, holding the lock,
// sets granted and sends on the buffered ch, so it never blocks and the
// waiter can tell whether it was served.
type waiter struct {
	ch      chan grant
	granted bool
	elem    *list.Element
	cancel  context.CancelCauseFunc // the call's, for the worker it gets
}

type grant struct {
	w   *worker
	err error
}

// acquire returns an idle worker, waiting in the queue for one if needed;
// the worker keeps cancel, which stops the call (stopCalls).
func (p *Pool) acquire(ctx context.Context, cancel context.CancelCauseFunc) (*worker, error) {
	hint, _ := p.last.Get().(*worker)
	p.mu.Lock()
	if p.life.Closed() {
		p.mu.Unlock()
		return nil, runtime.ErrClosed
	}
	// Idle workers exist only while the queue is empty (a freed worker goes
	// to the queue's head first), so taking one cannot overtake a waiter.
	if n := len(p.idle); n > 0 {
		// The one this P last released if it is idle, else the one
		// released last; the rest keep their order (the janitor ages out
		// the bottom).
		k := n - 1
		for j := k; hint != nil && j >= 0; j-- {
			if p.idle[j] == hint {
				k = j
				break
			}
		}
		w := p.idle[k]
		p.idle = slices.Delete(p.idle, k, k+1) // clears the freed slot
		p.takeLocked(w)
		w.cancel = cancel
		p.mu.Unlock()
		return w, nil
	}
	if p.nwait >= p.opts.MaxQueue {
		p.mu.Unlock()
		return nil, ErrSaturated
	}
	wt := &waiter{ch: make(chan grant, 1), cancel: cancel}
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
	if p.opts.MaxQueueWait > 0 {
		t := time.NewTimer(p.opts.MaxQueueWait)
		defer t.Stop()
		timeout = t.C
	}
	var err error
	select {
	case g := <-wt.ch:
		return g.w, g.err
	case <-ctx.Done():
		err = closedErr(ctx, fmt.Errorf("waiting for a worker: %w", ctx.Err()))
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
			g.w.busy, g.w.cancel = false, nil
			p.idleLocked(g.w, &evs)
		} else {
			p.releaseSessionLocked(s, g.w, "", nil, false, &evs)
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
	closing := context.Cause(ctx) == runtime.ErrClosed
	var reason RecycleReason
	broken := w.inst.Err()
	switch {
	case broken != nil:
		reason, err = brokenReason(err, ctx.Err(), closing)
	case closing && err != nil:
		err = fmt.Errorf("%w: %w", runtime.ErrClosed, err)
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
	// The call that broke its session's worker says so itself, so that its
	// caller need not wait for the next call to learn it.
	told := s != nil && broken != nil && s.w == w && !s.ended
	if told {
		err = &lostError{err}
	}
	p.countLocked(err, true, wait, exec)
	if s != nil {
		if s.w == w && !s.ended {
			p.sessionMem += mem - s.mem
			s.mem = mem
		}
		p.releaseSessionLocked(s, w, reason, broken, told, &evs)
	} else {
		w.busy, w.cancel = false, nil
		if reason != "" {
			p.retireLocked(w, reason, true, &evs)
		} else {
			p.idleLocked(w, &evs)
		}
	}
	p.mu.Unlock()
	p.note(&evs, Event{Type: CallFinished, Worker: w.id, Session: sessionKey(s), Wait: wait, Duration: exec, Err: err, Kind: runtime.KindOf(err)})
	p.emit(evs...)
	return err
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
			w.cancel = x.cancel
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
