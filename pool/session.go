package pool

import (
	"container/list"
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
)

// session is one key's interpreter (its worker) and the calls waiting for
// it. An idle session is parked: its worker keeps its state but holds none
// of the Size slots; a call takes a slot for as long as it runs. A session
// whose worker was lost stays in the map as a tombstone (lost set) until
// its next call is told, or SessionTTL passes.
type session struct {
	key string
	w   *worker // nil while the session waits for a worker, and once lost
	wid uint64  // the id of the worker it got, for events; 0 until then
	// busy is set while a call runs on w (holding a slot).
	busy     bool
	waiters  list.List     // FIFO of *waiter
	elem     *list.Element // in p.queue while waiting for a worker
	relem    *list.Element // in p.ready while a waiter waits for a slot
	lastUsed time.Time
	mem      uint64 // w's private memory after its last call, when MaxSessionMemory is set
	ended    bool   // by EndSession or expiry: the worker goes when it is free
	lost     error
	lostAt   time.Time
	noSpill  bool // its image could not be taken (store.go): it is not spilled again
}

func sessionKey(s *session) string {
	if s == nil {
		return ""
	}
	return s.key
}

// parked says whether s is idle: it has its worker, and no call runs on it
// or waits for it.
func (s *session) parked() bool { return s.w != nil && !s.busy && s.waiters.Len() == 0 }

// acquireSession returns the worker of session key and a slot to run on
// it, creating the session if needed, and waiting if the session is busy,
// new without a spare worker, or no slot is free. With lookup, a key that
// has no session gets errNotHeld instead (see acquireStored).
func (p *Pool) acquireSession(ctx context.Context, key string, lookup bool) (*worker, *session, error) {
	var evs []Event
	p.mu.Lock()
	if p.life.Closed() {
		p.mu.Unlock()
		return nil, nil, runtime.ErrClosed
	}
	slot := p.running < p.opts.Size && p.ready.Len() == 0
	s := p.sessions[key]
	switch {
	case s != nil && s.lost != nil:
		delete(p.sessions, key)
		p.mu.Unlock()
		return nil, nil, s.lost
	case s == nil && lookup:
		p.mu.Unlock()
		return nil, nil, errNotHeld
	case s == nil:
		if err := p.roomLocked(); err != nil {
			spills := p.spillLRULocked() // store.go
			p.mu.Unlock()
			if spills == nil {
				return nil, nil, err
			}
			if err := p.awaitSpills(ctx, spills, err); err != nil {
				return nil, nil, err
			}
			// The lock was let go: start over (another caller may have
			// taken the room, or started the key's session).
			return p.acquireSession(ctx, key, lookup)
		}
		now := slot && len(p.idle) > 0
		if !now && p.nwait >= p.opts.MaxQueue {
			p.mu.Unlock()
			return nil, nil, ErrSaturated
		}
		s = &session{key: key, lastUsed: time.Now()}
		p.sessions[key] = s
		p.nsessions++
		if now {
			p.pinLocked(s, &evs)
		}
	case !(slot && s.parked()) && p.nwait >= p.opts.MaxQueue:
		p.mu.Unlock()
		return nil, nil, ErrSaturated
	}
	if slot && s.parked() {
		p.runLocked(s)
		p.mu.Unlock()
		p.emit(evs...)
		return s.w, s, nil
	}
	wt := &waiter{ch: make(chan grant, 1)}
	wt.elem = s.waiters.PushBack(wt)
	p.nwait++
	p.readyLocked(s, &evs)
	p.mu.Unlock()
	p.note(&evs, Event{Type: CallQueued, Session: key})
	p.emit(evs...)
	w, err := p.wait(ctx, wt, s)
	return w, s, err
}

// roomLocked refuses a new session past MaxSessions or MaxSessionMemory
// (with a Store, once spilling idle sessions cannot make room).
func (p *Pool) roomLocked() error {
	if p.nsessions >= p.opts.MaxSessions {
		return fmt.Errorf("%w (%d)", ErrTooManySessions, p.opts.MaxSessions)
	}
	if m := p.opts.MaxSessionMemory; m > 0 && p.sessionMem >= uint64(m) {
		return fmt.Errorf("%w (their memory: %d MiB, limit %d MiB)", ErrTooManySessions, p.sessionMem>>20, m>>20)
	}
	return nil
}

// runLocked gives s's worker and a slot to a call.
func (p *Pool) runLocked(s *session) {
	s.busy = true
	p.running++
	p.takeLocked(s.w)
}

// pinLocked gives the new session s a spare worker, and starts a spare in
// its place: the spares are what new sessions start from, so that a new
// session seldom waits for a clone. A session gets its worker only when its
// first call gets a slot, so that one whose callers give up before leaves
// nothing behind.
func (p *Pool) pinLocked(s *session, evs *[]Event) {
	w := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	s.w, s.wid, w.sess = w, w.id, s
	p.note(evs, Event{Type: SessionStarted, Worker: w.id, Session: s.key})
	if !p.life.Closed() {
		p.starting++
		p.bg.Add(1)
		go p.startLoop(nil)
	}
}

// readyLocked queues s for a slot if no call runs on it and one waits for
// it (unless it already waits for a worker); then hands out the free slots.
func (p *Pool) readyLocked(s *session, evs *[]Event) {
	if !s.busy && s.waiters.Len() > 0 && s.relem == nil && s.elem == nil {
		s.relem = p.ready.PushBack(s)
	}
	p.dispatchLocked(evs)
}

// dispatchLocked hands the free slots to the sessions waiting for one, in
// the order they became ready: a session with more calls queued goes to the
// back after each, so sessions take turns. A new session whose turn comes
// takes a spare worker, or waits in p.queue for one (without a slot).
func (p *Pool) dispatchLocked(evs *[]Event) {
	for p.running < p.opts.Size {
		e := p.ready.Front()
		if e == nil {
			return
		}
		s := e.Value.(*session)
		p.ready.Remove(e)
		s.relem = nil
		if s.w == nil {
			if len(p.idle) == 0 {
				s.elem = p.queue.PushBack(s)
				continue
			}
			p.pinLocked(s, evs)
		}
		f := s.waiters.Front()
		s.waiters.Remove(f)
		p.nwait--
		p.runLocked(s)
		wt := f.Value.(*waiter)
		wt.granted = true
		wt.ch <- grant{w: s.w}
	}
}

// releaseSessionLocked takes w and its slot back from a call on s. A
// non-empty reason recycles w, and the session's state is lost with it;
// told says the call's caller learns that from its error.
func (p *Pool) releaseSessionLocked(s *session, w *worker, reason RecycleReason, cause error, told bool, evs *[]Event) {
	w.busy, s.busy = false, false
	p.running--
	s.lastUsed = time.Now()
	if reason == "" && !s.ended {
		p.readyLocked(s, evs)
		return
	}
	s.w, w.sess = nil, nil
	if reason == "" {
		reason = RecycleSessionEnded
	}
	p.retireLocked(w, reason, false, evs)
	if !s.ended {
		p.loseSessionLocked(s, reason, cause, told, evs)
	}
	p.dispatchLocked(evs)
}

// loseSessionLocked ends s, whose worker was recycled for reason. The
// callers waiting for it learn now; if there are none and no caller was
// told, a tombstone tells the key's next caller.
func (p *Pool) loseSessionLocked(s *session, reason RecycleReason, cause error, told bool, evs *[]Event) {
	err := fmt.Errorf("%w: its worker was recycled (%s)", ErrSessionLost, reason)
	if cause != nil {
		// The cause's text only: the error must not pass for the cause itself.
		err = fmt.Errorf("%w: its worker was recycled (%s: %v)", ErrSessionLost, reason, cause)
	}
	p.uncountLocked(s)
	p.note(evs, Event{Type: SessionEnded, Worker: s.wid, Session: s.key, Reason: reason})
	if s.waiters.Len() > 0 || told {
		p.failWaitersLocked(s, err)
		delete(p.sessions, s.key)
		return
	}
	s.lost, s.lostAt = err, time.Now()
}

// uncountLocked removes the live session s from the counts MaxSessions and
// MaxSessionMemory bound.
func (p *Pool) uncountLocked(s *session) {
	p.nsessions--
	p.sessionMem -= s.mem
	s.mem = 0
}

// failWaitersLocked answers every call waiting for s with err, and takes s
// out of the queues.
func (p *Pool) failWaitersLocked(s *session, err error) {
	for e := s.waiters.Front(); e != nil; e = e.Next() {
		wt := e.Value.(*waiter)
		wt.granted = true
		wt.ch <- grant{err: err}
		p.nwait--
	}
	s.waiters.Init()
	p.unqueueLocked(s)
}

func (p *Pool) unqueueLocked(s *session) {
	if s.relem != nil {
		p.ready.Remove(s.relem)
		s.relem = nil
	}
	if s.elem != nil {
		p.queue.Remove(s.elem)
		s.elem = nil
	}
}

// leftLocked follows a waiter of s giving up: a session with no call
// waiting leaves the queues, and a new one that has no worker yet is
// forgotten (having never started, it reports no SessionEnded).
func (p *Pool) leftLocked(s *session) {
	if p.life.Closed() || s.waiters.Len() > 0 {
		return
	}
	p.unqueueLocked(s)
	if s.w == nil && s.lost == nil {
		s.ended = true
		delete(p.sessions, s.key)
		p.uncountLocked(s)
	}
}

// Sessions is a pool of sessions: the calls of one key run on that
// session's own interpreter, whose state (variables, imports, scratch
// files) persists between them. Options.Size bounds the calls running at
// once, not the sessions alive: an idle session is parked (its interpreter
// kept, copy-on-write against the snapshot, holding no slot) and runs again
// on its next call, in order, with its state. Sessions with calls waiting
// take the free slots in turn. MaxSessions (default: from MaxSessionMemory) caps the live
// sessions, and MaxSessionMemory the memory their interpreters own
// together: a new key past either gets ErrTooManySessions at once, without
// waiting; with a Store, the least recently used idle sessions are first
// spilled to it to make room (see Options.Store). A new session starts
// from one of Size spare clones kept ready, so it seldom waits for one to
// start. A session ends after MaxSessionIdle
// idle or at Session.End, and its interpreter is then closed, so that no
// state passes from one session to the next. It is safe for concurrent use.
type Sessions struct{ p *Pool }

// NewSessions starts a pool of sessions; opts.Mode must be zero. See New
// for the start.
func NewSessions(ctx context.Context, rt *runtime.Runtime, opts Options) (*Sessions, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Mode != ModeFresh {
		return nil, fmt.Errorf("%w: Mode is for New; Sessions have their own", runtime.ErrBadOptions)
	}
	opts.Mode = modeSession
	p, err := newPool(ctx, rt, opts)
	if err != nil {
		return nil, err
	}
	return &Sessions{p}, nil
}

// Session returns the session of key, which starts with its first call.
// Sessions of the same key are the same session. An empty key's calls fail
// with runtime.ErrBadRequest.
func (ss *Sessions) Session(key string) *Session { return &Session{p: ss.p, key: key} }

// Stats returns the pool's counters and histograms.
func (ss *Sessions) Stats() Stats { return ss.p.Stats() }

// Close stops the pool as Pool.Close does and closes every session's
// interpreter. With a Store, it first saves to it every session whose
// calls have finished (those Close had to stop are lost), so that a
// restarted process resumes them. It is safe to call on a nil Sessions.
func (ss *Sessions) Close(ctx context.Context) error {
	if ss == nil {
		return nil
	}
	return ss.p.Close(ctx)
}

// Session is the session of one key in a Sessions pool: a runtime.Runner
// whose calls run one at a time, in arrival order, on an interpreter that
// keeps its state between them. A call that breaks the interpreter (its
// deadline, the memory cap, a crash) returns an error that wraps
// ErrSessionLost as well as the reason; the next call starts a new session.
// When the state goes without a call being told (a recycling limit, or
// MaxSessionIdle), the next call gets ErrSessionLost and the one after
// starts a new session.
type Session struct {
	p   *Pool
	key string
}

// Key returns the session's key.
func (s *Session) Key() string { return s.key }

// Run performs req in the session, creating it if the key has none.
func (s *Session) Run(ctx context.Context, req runtime.Request) (*runtime.Result, error) {
	return s.p.do(ctx, true, s.key, req)
}

// End ends the session, if it is live, and closes its interpreter (after
// the call it runs, if any). Calls waiting for the session get
// ErrSessionLost; the key's next call starts a new session. It reports
// whether the key had a session.
func (s *Session) End() bool { return s.p.endSession(s.key) }

// Files returns the session's scratch file system as a read-only fs.FS
// (see runtime.Instance.Scratch): the files its calls wrote, and those its
// requests brought in, for as long as the session lives. It reads the files
// as they are at each use, also while a call runs; once the session ends or
// loses its interpreter, every use fails (runtime.ErrClosed). Files go in
// with Request.Files. It fails with ErrNoSession when the key has no live
// session.
func (s *Session) Files() (fs.FS, error) { return s.p.sessionFiles(s.key) }

func (p *Pool) endSession(key string) bool {
	var evs []Event
	p.mu.Lock()
	s := p.sessions[key]
	if s == nil || p.life.Closed() {
		p.mu.Unlock()
		return false
	}
	delete(p.sessions, key)
	if s.lost == nil {
		s.ended = true
		p.uncountLocked(s)
		if s.wid != 0 {
			p.note(&evs, Event{Type: SessionEnded, Worker: s.wid, Session: key, Reason: RecycleSessionEnded})
		}
		p.failWaitersLocked(s, fmt.Errorf("%w: the session was ended", ErrSessionLost))
		if s.w != nil && !s.busy {
			w := s.w
			s.w, w.sess = nil, nil
			p.retireLocked(w, RecycleSessionEnded, false, &evs)
		}
	}
	p.mu.Unlock()
	p.emit(evs...)
	return true
}

// sweepSessionsLocked expires idle sessions and ages out their workers.
func (p *Pool) sweepSessionsLocked(now time.Time, evs *[]Event) {
	ttl := p.opts.MaxSessionIdle
	for key, s := range p.sessions {
		switch {
		case s.lost != nil:
			if now.Sub(s.lostAt) >= ttl {
				delete(p.sessions, key)
			}
		case !s.parked():
		case p.spillableLocked(s) && now.Sub(s.lastUsed) >= min(p.spillIdle(), ttl):
			p.spillLocked(s) // store.go
		case now.Sub(s.lastUsed) >= ttl:
			delete(p.sessions, key)
			p.uncountLocked(s)
			s.ended = true
			p.note(evs, Event{Type: SessionEnded, Worker: s.wid, Session: key, Reason: RecycleSessionExpired})
			w := s.w
			s.w, w.sess = nil, nil
			p.retireLocked(w, RecycleSessionExpired, false, evs)
		case p.opts.MaxAge > 0 && now.Sub(s.w.born) >= p.opts.MaxAge:
			w := s.w
			s.w, w.sess = nil, nil
			p.retireLocked(w, RecycleAge, false, evs)
			p.loseSessionLocked(s, RecycleAge, nil, false, evs)
		}
	}
}

func (p *Pool) sessionFiles(key string) (fs.FS, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.life.Closed() {
		return nil, runtime.ErrClosed
	}
	s := p.sessions[key]
	if s == nil || s.lost != nil || s.ended || s.w == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoSession, key)
	}
	return &sessionFiles{p: p, s: s, w: s.w, fsys: s.w.inst.Scratch()}, nil
}

// sessionFiles is a session's scratch that fails once the session has
// ended, even while its old worker, being replaced, still lives.
type sessionFiles struct {
	p    *Pool
	s    *session
	w    *worker
	fsys fs.FS
}

func (f *sessionFiles) live(op, name string) error {
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	if f.p.life.Closed() || f.s.ended || f.s.lost != nil || f.s.w != f.w {
		return &fs.PathError{Op: op, Path: name, Err: runtime.ErrClosed}
	}
	return nil
}

func (f *sessionFiles) Open(name string) (fs.File, error) {
	if err := f.live("open", name); err != nil {
		return nil, err
	}
	return f.fsys.Open(name)
}

func (f *sessionFiles) ReadFile(name string) ([]byte, error) {
	if err := f.live("read", name); err != nil {
		return nil, err
	}
	return fs.ReadFile(f.fsys, name)
}

func (f *sessionFiles) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := f.live("readdir", name); err != nil {
		return nil, err
	}
	return fs.ReadDir(f.fsys, name)
}

func (f *sessionFiles) Stat(name string) (fs.FileInfo, error) {
	if err := f.live("stat", name); err != nil {
		return nil, err
	}
	return fs.Stat(f.fsys, name)
}
