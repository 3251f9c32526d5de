package pool

import (
	"container/list"
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
)

// session is one key's worker and the calls waiting for it. A session
// whose worker was lost stays in the map as a tombstone (lost set) until
// its next call is told, or SessionTTL passes.
type session struct {
	key string
	w   *worker // nil while the session waits for a worker, and once lost
	wid uint64  // the id of the worker it got, for events; 0 until then
	// busy is set while a caller holds w, and while w is nil.
	busy     bool
	waiters  list.List     // FIFO of *waiter
	elem     *list.Element // in p.queue while waiting for a worker
	lastUsed time.Time
	ended    bool // by EndSession or expiry: the worker goes when it is free
	lost     error
	lostAt   time.Time
}

func sessionKey(s *session) string {
	if s == nil {
		return ""
	}
	return s.key
}

// acquireSession returns the worker of session key, creating the session
// if needed, and waiting for the worker if the session is busy or new and
// no worker is free.
func (p *Pool) acquireSession(ctx context.Context, key string) (*worker, *session, error) {
	var evs []Event
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, nil, ErrClosed
	}
	s := p.sessions[key]
	switch {
	case s != nil && s.lost != nil:
		delete(p.sessions, key)
		p.mu.Unlock()
		return nil, nil, s.lost
	case s == nil:
		if p.nsessions >= p.opts.MaxSessions {
			p.mu.Unlock()
			return nil, nil, fmt.Errorf("%w (%d)", ErrTooManySessions, p.opts.MaxSessions)
		}
		if len(p.idle) == 0 && p.nwait >= p.opts.QueueLimit {
			p.mu.Unlock()
			return nil, nil, ErrSaturated
		}
		s = &session{key: key, busy: true, lastUsed: time.Now()}
		p.sessions[key] = s
		p.nsessions++
		if n := len(p.idle); n > 0 {
			w := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.pinLocked(s, w, &evs)
			p.takeLocked(w)
			p.mu.Unlock()
			p.emit(evs...)
			return w, s, nil
		}
		s.elem = p.queue.PushBack(s)
	case !s.busy:
		s.busy = true
		p.takeLocked(s.w)
		p.mu.Unlock()
		return s.w, s, nil
	case p.nwait >= p.opts.QueueLimit:
		p.mu.Unlock()
		return nil, nil, ErrSaturated
	}
	wt := &waiter{ch: make(chan grant, 1)}
	wt.elem = s.waiters.PushBack(wt)
	p.nwait++
	p.mu.Unlock()
	p.note(&evs, Event{Type: CallQueued, Session: key})
	p.emit(evs...)
	w, err := p.wait(ctx, wt, s)
	return w, s, err
}

// pinLocked gives the new session s its worker w.
func (p *Pool) pinLocked(s *session, w *worker, evs *[]Event) {
	s.w, s.wid, w.sess = w, w.id, s
	p.note(evs, Event{Type: SessionStarted, Worker: w.id, Session: s.key})
}

// grantSessionLocked hands s's worker to its first waiter, or marks it idle.
func (p *Pool) grantSessionLocked(s *session) {
	e := s.waiters.Front()
	if e == nil {
		s.busy = false
		return
	}
	s.waiters.Remove(e)
	p.nwait--
	s.busy = true
	p.takeLocked(s.w)
	wt := e.Value.(*waiter)
	wt.granted = true
	wt.ch <- grant{w: s.w}
}

// releaseSessionLocked takes w back from a call on s. A non-empty reason
// recycles w, and the session's state is lost with it.
func (p *Pool) releaseSessionLocked(s *session, w *worker, reason RecycleReason, cause error, evs *[]Event) {
	w.busy = false
	s.lastUsed = time.Now()
	if reason == "" && !s.ended {
		p.grantSessionLocked(s)
		return
	}
	s.w, w.sess = nil, nil
	if reason == "" {
		reason = RecycleSessionEnded
	}
	p.retireLocked(w, reason, evs)
	if !s.ended {
		p.loseSessionLocked(s, reason, cause, evs)
	}
}

// loseSessionLocked ends s, whose worker was recycled for reason. The
// callers waiting for it learn now; if there are none, a tombstone tells
// the key's next caller.
func (p *Pool) loseSessionLocked(s *session, reason RecycleReason, cause error, evs *[]Event) {
	err := fmt.Errorf("%w: its worker was recycled (%s)", ErrSessionLost, reason)
	if cause != nil {
		// The cause's text only: the error must not pass for the cause itself.
		err = fmt.Errorf("%w: its worker was recycled (%s: %v)", ErrSessionLost, reason, cause)
	}
	p.nsessions--
	p.note(evs, Event{Type: SessionEnded, Worker: s.wid, Session: s.key, Reason: reason})
	if s.waiters.Len() > 0 {
		p.failWaitersLocked(s, err)
		delete(p.sessions, s.key)
		return
	}
	s.lost, s.lostAt = err, time.Now()
}

func (p *Pool) failWaitersLocked(s *session, err error) {
	for e := s.waiters.Front(); e != nil; e = e.Next() {
		wt := e.Value.(*waiter)
		wt.granted = true
		wt.ch <- grant{err: err}
		p.nwait--
	}
	s.waiters.Init()
}

// abandonLocked forgets a new session whose callers all gave up before it
// got a worker; having never started, it reports no SessionEnded.
func (p *Pool) abandonLocked(s *session, evs *[]Event) {
	if p.closed || s.elem == nil || s.waiters.Len() > 0 {
		return
	}
	p.queue.Remove(s.elem)
	s.elem, s.ended = nil, true
	delete(p.sessions, s.key)
	p.nsessions--
}

// EndSession ends the session of key, if there is one, and replaces its
// worker (after the call it runs, if any). Calls waiting for the session
// get ErrSessionLost; the key's next call starts a new session. It reports
// whether the key had a session.
func (p *Pool) EndSession(key string) bool {
	var evs []Event
	p.mu.Lock()
	s := p.sessions[key]
	if s == nil || p.closed {
		p.mu.Unlock()
		return false
	}
	delete(p.sessions, key)
	if s.lost == nil {
		s.ended = true
		p.nsessions--
		if s.wid != 0 {
			p.note(&evs, Event{Type: SessionEnded, Worker: s.wid, Session: key, Reason: RecycleSessionEnded})
		}
		p.failWaitersLocked(s, fmt.Errorf("%w: the session was ended", ErrSessionLost))
		switch {
		case s.elem != nil:
			p.queue.Remove(s.elem)
			s.elem = nil
		case s.w != nil && !s.busy:
			w := s.w
			s.w, w.sess = nil, nil
			p.retireLocked(w, RecycleSessionEnded, &evs)
		}
	}
	p.mu.Unlock()
	p.emit(evs...)
	return true
}

// sweepSessionsLocked expires idle sessions and ages out their workers.
func (p *Pool) sweepSessionsLocked(now time.Time, evs *[]Event) {
	ttl := p.opts.SessionTTL
	for key, s := range p.sessions {
		switch {
		case s.lost != nil:
			if now.Sub(s.lostAt) >= ttl {
				delete(p.sessions, key)
			}
		case s.busy:
		case now.Sub(s.lastUsed) >= ttl:
			delete(p.sessions, key)
			p.nsessions--
			s.ended = true
			p.note(evs, Event{Type: SessionEnded, Worker: s.wid, Session: key, Reason: RecycleSessionExpired})
			w := s.w
			s.w, w.sess = nil, nil
			p.retireLocked(w, RecycleSessionExpired, evs)
		case p.opts.MaxAge > 0 && now.Sub(s.w.born) >= p.opts.MaxAge:
			w := s.w
			s.w, w.sess = nil, nil
			p.retireLocked(w, RecycleAge, evs)
			p.loseSessionLocked(s, RecycleAge, nil, evs)
		}
	}
}

// SessionFiles returns the scratch file system of session key's worker as
// a read-only fs.FS (see runtime.Instance.Scratch): the files the
// session's calls wrote, and those its requests brought in, for as long as
// the session lives. It reads the files as they are at each use, also while
// a call runs; once the session ends or loses its worker, every use fails
// (runtime.ErrClosed). Files go in with Request.Files. It fails with
// ErrWrongMode outside ModeSession, and with ErrNoSession when key has no
// live session.
func (p *Pool) SessionFiles(key string) (fs.FS, error) {
	if p.opts.Mode != ModeSession {
		return nil, fmt.Errorf("%w: %s pool", ErrWrongMode, p.opts.Mode)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
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
	if f.p.closed || f.s.ended || f.s.lost != nil || f.s.w != f.w {
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
