package pool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/errkind"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// ErrSessionExists means Sessions.Restore was given a key that has a live
// session: a restore never replaces one (end it first). Kind bad_request.
var ErrSessionExists = errkind.New(errkind.BadRequest, "session exists")

// RecycleSpilled: an idle session was saved to the Store and its worker
// closed; its next call restores it.
const RecycleSpilled RecycleReason = "spilled"

// Store keeps session images (runtime.Instance.Image) by key, for a
// Sessions pool to spill idle sessions to and to find the sessions it does
// not hold (Options.Store). Images are untrusted when read back: the pool
// checks each (runtime.Snapshot.Restore). Its methods may be called
// concurrently.
type Store interface {
	// Put stores image under key, replacing any.
	Put(ctx context.Context, key string, image []byte) error
	// Get returns key's image, or an error wrapping fs.ErrNotExist.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes key's image; a missing one is no error.
	Delete(ctx context.Context, key string) error
}

// DirStore is a Store in a directory: one file per key, named by the
// SHA-256 of the key (keys are the caller's, and never become paths), each
// written to a temporary file and renamed into place, so that a reader or
// a crash of the process never sees half an image. Files are not synced:
// a crash of the machine may lose the last images.
type DirStore struct{ dir string }

// NewDirStore returns a DirStore in dir, creating it if needed.
func NewDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("session store: %w", err)
	}
	return &DirStore{dir: dir}, nil
}

func (d *DirStore) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(d.dir, hex.EncodeToString(sum[:])+".img")
}

// Put implements Store.
func (d *DirStore) Put(_ context.Context, key string, image []byte) error {
	f, err := os.CreateTemp(d.dir, ".put-*")
	if err != nil {
		return fmt.Errorf("session store: %w", err)
	}
	_, err = f.Write(image)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), d.path(key))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("session store: %w", err)
	}
	return nil
}

// Get implements Store.
func (d *DirStore) Get(_ context.Context, key string) ([]byte, error) {
	b, err := os.ReadFile(d.path(key))
	if err != nil {
		return nil, fmt.Errorf("session store: %w", err)
	}
	return b, nil
}

// Delete implements Store.
func (d *DirStore) Delete(_ context.Context, key string) error {
	if err := os.Remove(d.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("session store: %w", err)
	}
	return nil
}

// errNotHeld is what acquireSession returns, with a Store, for a key that
// has no session here: the Store may hold it (see acquireStored).
var errNotHeld = errors.New("session not held")

// acquireStored is acquireSession that first restores the key's session
// from the Store when the pool does not hold it.
func (p *Pool) acquireStored(ctx context.Context, key string) (*worker, *session, error) {
	lookup := p.opts.Store != nil
	for {
		w, s, err := p.acquireSession(ctx, key, lookup)
		if err != errNotHeld {
			return w, s, err
		}
		found, err := p.resume(ctx, key)
		if err != nil {
			return nil, nil, err
		}
		lookup = found // if the Store has none, the next round starts a new session
	}
}

// moveLocked waits until no other goroutine moves key in or out of the
// Store, then marks it moving; the caller calls the returned func when done.
func (p *Pool) moveLocked(ctx context.Context, key string) (func(), error) {
	for ch := p.moving[key]; ch != nil; ch = p.moving[key] {
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			return nil, ctx.Err()
		}
		p.mu.Lock()
	}
	if p.moving == nil {
		p.moving = make(map[string]chan struct{})
	}
	ch := make(chan struct{})
	p.moving[key] = ch
	return func() {
		p.mu.Lock()
		delete(p.moving, key)
		p.mu.Unlock()
		close(ch)
	}, nil
}

// resume restores key's session from the Store, parked, unless the pool
// holds it meanwhile. found says whether the key now has a session here.
// The image leaves the Store (unless Options.KeepStored): the live session
// is the truth until it is spilled again.
func (p *Pool) resume(ctx context.Context, key string) (found bool, err error) {
	p.mu.Lock()
	done, err := p.moveLocked(ctx, key)
	if err != nil {
		p.mu.Unlock()
		return false, err
	}
	held := p.sessions[key] != nil
	p.mu.Unlock()
	defer done()
	if held {
		return true, nil
	}
	img, err := p.opts.Store.Get(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := p.adopt(ctx, key, img); err != nil {
		if errors.Is(err, runtime.ErrBadImage) {
			// It will never restore here: the key starts anew.
			_ = p.opts.Store.Delete(ctx, key)
			return false, fmt.Errorf("%w: its stored image was refused: %w", ErrSessionLost, err)
		}
		return false, err
	}
	if !p.opts.KeepStored {
		_ = p.opts.Store.Delete(ctx, key)
	}
	p.mu.Lock()
	p.stats.Resumed++
	p.mu.Unlock()
	return true, nil
}

// adopt restores image as key's session, parked. It fails with
// ErrSessionExists if the key has a session. With a Store, it makes room
// for it as a new session does (spillLRULocked).
func (p *Pool) adopt(ctx context.Context, key string, image []byte) error {
	start := time.Now()
	inst, err := p.snap.Restore(ctx, image, runtime.CloneOptions{})
	if err != nil {
		return err
	}
	for {
		var spills []<-chan error
		p.mu.Lock()
		switch {
		case p.life.Closed():
			err = runtime.ErrClosed
		case p.sessions[key] != nil:
			err = fmt.Errorf("%w: %q", ErrSessionExists, key)
		default:
			if err = p.roomLocked(); err != nil {
				spills = p.spillLRULocked()
			}
		}
		if err == nil {
			break
		}
		p.mu.Unlock()
		if spills != nil {
			if err = p.awaitSpills(ctx, spills, err); err == nil {
				continue
			}
		}
		p.closeInstance(inst)
		return err
	}
	var evs []Event
	w := &worker{id: p.ids.Add(1), inst: inst, born: time.Now(), startTime: time.Since(start)}
	s := &session{key: key, w: w, wid: w.id, lastUsed: time.Now()}
	w.sess = s
	p.workers[w] = struct{}{}
	p.sessions[key] = s
	p.nsessions++
	p.note(&evs, Event{Type: SessionStarted, Worker: w.id, Session: key})
	p.mu.Unlock()
	p.emit(evs...)
	return nil
}

// spillable says whether s may go to the Store now: parked, not refused
// by Image before, and not being restored (resume deletes the image it
// came from once the session is here: spilled before that, the new image
// would go with it).
func (p *Pool) spillableLocked(s *session) bool {
	return p.opts.Store != nil && s.parked() && !s.noSpill && !s.ended && p.moving[s.key] == nil
}

// spillLocked starts saving the parked session s to the Store; it runs as
// a call on s would, so calls that come meanwhile wait for it. The channel
// yields spill's error.
func (p *Pool) spillLocked(s *session) <-chan error {
	s.busy = true
	done := make(chan error, 1)
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		// Not the pool's life: a spill under way finishes, and Close,
		// which waits for it, loses no session (a cancelled Image breaks
		// its instance).
		done <- p.spill(context.Background(), s)
	}()
	return done
}

// spill saves s, made busy by the caller, and closes its worker, unless a
// call came for it meanwhile: then it stays live (and the image stays in
// the Store, to be replaced at the next spill). It returns the error that
// kept s live, if any, but for runtime.ErrNotImaged (s is then never
// spilled again).
func (p *Pool) spill(ctx context.Context, s *session) error {
	p.spillSlots <- struct{}{}
	start := time.Now()
	img, err := s.w.inst.Image(ctx)
	if err == nil {
		err = p.opts.Store.Put(ctx, s.key, img)
	}
	<-p.spillSlots
	if err != nil {
		p.log.Warn("pool: session not spilled", "session", s.key, "err", err)
	}
	var evs []Event
	var kept error
	p.mu.Lock()
	s.busy = false
	w := s.w
	switch {
	case err == nil && !s.ended && s.waiters.Len() == 0:
		delete(p.sessions, s.key)
		p.uncountLocked(s)
		s.ended = true
		s.w, w.sess = nil, nil
		p.stats.Spilled++
		p.note(&evs, Event{Type: SessionSpilled, Worker: w.id, Session: s.key, Duration: time.Since(start)})
		p.retireLocked(w, RecycleSpilled, false, &evs)
	case s.ended:
		s.w, w.sess = nil, nil
		p.retireLocked(w, RecycleSessionEnded, false, &evs)
	case w.inst.Err() != nil:
		s.w, w.sess = nil, nil
		p.retireLocked(w, RecycleCrash, false, &evs)
		p.loseSessionLocked(s, RecycleCrash, w.inst.Err(), false, &evs)
		p.dispatchLocked(&evs)
	default:
		if errors.Is(err, runtime.ErrNotImaged) {
			s.noSpill = true
		} else {
			kept = err
		}
		p.readyLocked(s, &evs)
	}
	p.mu.Unlock()
	p.emit(evs...)
	return kept
}

// spillLRULocked, with a Store, starts spilling the least recently used
// parked sessions, as many as a new session needs to fit under
// MaxSessions and MaxSessionMemory once they are gone; none (nil) when
// none can go. Sessions other callers are spilling still count: each
// caller makes its own room.
func (p *Pool) spillLRULocked() []<-chan error {
	if p.opts.Store == nil {
		return nil
	}
	n, mem, maxMem := p.nsessions, p.sessionMem, uint64(p.opts.MaxSessionMemory)
	var spills []<-chan error
	for n >= p.opts.MaxSessions || (maxMem > 0 && mem >= maxMem) {
		var lru *session
		for _, s := range p.sessions {
			if p.spillableLocked(s) && (lru == nil || s.lastUsed.Before(lru.lastUsed)) {
				lru = s
			}
		}
		if lru == nil {
			break
		}
		n, mem = n-1, mem-lru.mem
		spills = append(spills, p.spillLocked(lru)) // busy now: not chosen again
	}
	return spills
}

// awaitSpills waits for the spills spillLRULocked started to make room.
// full is the error that refused the room: a spill that failed returns
// it, with why.
func (p *Pool) awaitSpills(ctx context.Context, spills []<-chan error, full error) error {
	for _, ch := range spills {
		select {
		case err := <-ch:
			if err != nil {
				// The cause's text only: the error is the refusal's.
				return fmt.Errorf("%w; spilling an idle session to make room failed: %v", full, err)
			}
		case <-ctx.Done():
			return closedErr(ctx, fmt.Errorf("waiting for room: %w", ctx.Err()))
		}
	}
	return nil
}

// spillIdle is how long a parked session waits before it is spilled.
func (p *Pool) spillIdle() time.Duration {
	if p.opts.SpillIdle > 0 {
		return p.opts.SpillIdle
	}
	return 10 * time.Second
}

// spillAll saves every parked session to the Store, for Close (the pool
// closed, its calls finished, its workers not yet closed): a restarted
// process resumes them. It first waits for the restores under way: one
// that adopted its session deletes the image it came from after, and a
// spill before that delete would go with it. Closed, the pool starts no
// new one (adopt refuses).
func (p *Pool) spillAll(ctx context.Context) {
	p.mu.Lock()
	for len(p.moving) > 0 {
		var ch chan struct{}
		for _, ch = range p.moving {
			break
		}
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return // an image taken now would be cut short anyway
		}
		p.mu.Lock()
	}
	var ss []*session
	for _, s := range p.sessions {
		if s.lost == nil && s.parked() {
			s.busy = true
			ss = append(ss, s)
		}
	}
	p.mu.Unlock()
	for _, s := range ss {
		p.spill(ctx, s)
	}
}

// Save returns the session as an image (runtime.Instance.Image), after
// the calls queued before it: its variables, imports and scratch files,
// which Sessions.Restore brings back in this process or another (with
// the same build and snapshot: see runtime.SnapshotOptions.Seed, which
// Options.Seed sets). The session goes on. A key whose session is in the
// Store returns the stored image; a key with none fails with
// ErrNoSession.
func (s *Session) Save(ctx context.Context) ([]byte, error) {
	p := s.p
	w, ss, err := p.acquireSession(ctx, s.key, true)
	if err == errNotHeld {
		if p.opts.Store != nil {
			if img, err := p.opts.Store.Get(ctx, s.key); err == nil {
				return img, nil
			}
		}
		return nil, fmt.Errorf("%w: %q", ErrNoSession, s.key)
	}
	if err != nil {
		return nil, err
	}
	defer p.inflight.Done()
	img, err := w.inst.Image(ctx)
	var evs []Event
	p.mu.Lock()
	var reason RecycleReason
	if w.inst.Err() != nil {
		reason = RecycleCrash
	}
	p.releaseSessionLocked(ss, w, reason, w.inst.Err(), false, &evs)
	p.mu.Unlock()
	p.emit(evs...)
	return img, err
}

// Restore makes image (from Session.Save, or a Store) the session of key,
// parked until its first call. It fails with ErrSessionExists when the key
// has a live session, ErrTooManySessions past the caps (with a Store, once
// spilling idle sessions cannot make room), and an error
// wrapping runtime.ErrBadImage for an image of another build or snapshot,
// or a corrupt one; nothing is left of a failed restore.
func (ss *Sessions) Restore(ctx context.Context, key string, image []byte) error {
	if key == "" {
		return fmt.Errorf("%w: empty session key", runtime.ErrBadRequest)
	}
	return ss.p.adopt(ctx, key, image)
}
