package runtime

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/cowmem"
	"github.com/snakepit-wasm/snakepit/internal/knobs"
	"github.com/snakepit-wasm/snakepit/internal/life"
)

// SnapshotOptions configures NewSnapshot.
type SnapshotOptions struct {
	// Options of the template and, by default, of every clone.
	Options Options
	// Preload lists modules imported before the snapshot is taken, so that
	// clones find them ready.
	Preload []string
	// Setup is Python source run in __main__ before the snapshot is taken
	// (e.g. an adapter's definitions). Its effects are in every clone.
	Setup string
	// CopyOnWrite keeps idle clones small: each maps the snapshot
	// copy-on-write and owns only the pages it writes (about 0.5 MiB after a
	// small call), returned to the system on Close. By default a closed
	// clone's memory is instead kept and refilled by copying the snapshot
	// into it, so the next clone writes to pages already in memory: each
	// clone then holds the snapshot's size, but a first call costs no page
	// faults, which on a VM cost 10-80 µs each (a clone's first `x = 1`
	// took 10 ms copy-on-write against 1 ms recycled; RATIONALE.md).
	CopyOnWrite bool
	// Seed, when set, makes the snapshot reproducible: the template draws
	// its entropy (the string hash secret, random's state, os.urandom)
	// from a stream derived from Seed, and its clocks start at a fixed time
	// (2026-01-01 UTC) and advance a millisecond a reading while Preload
	// and Setup run, so that the same build,
	// Options, Preload, Setup and Seed make the same snapshot, of the same
	// ID, in every process: what lets a session image (Instance.Image)
	// taken in one process restore in another. Clones get fresh entropy
	// and the real clock as always. Keep it secret, as it gives the hash
	// secret every clone shares (see Snapshot). nil means the host's
	// entropy and clock: the snapshot is this process's alone.
	Seed []byte
}

// Snapshot is an initialised interpreter frozen between two calls, from
// which clones start without initialising, in about a millisecond: their
// memory is the snapshot's, copied into memory recycled from closed clones
// or mapped copy-on-write (see SnapshotOptions.CopyOnWrite).
//
// # Notes
//
//   - Clones get fresh entropy: `random` is re-seeded from the host's
//     crypto/rand before a clone's first request, and os.urandom reads the
//     host's crypto/rand. The string hash secret cannot be renewed (every
//     dict in the snapshot holds hashes made with it), so all clones of one
//     snapshot share it: hash() of a str is the same in each. Hash-flooding
//     resistance then rests on the secret being unknown to whoever chooses
//     the keys; a caller who must keep it from guests takes a new snapshot
//     per tenant.
//   - The state captured is the linear memory alone: python.wasm has no
//     mutable global but the stack pointer (back at its start between calls)
//     and the budget counter (reset before each call), and its tables never
//     change.
type Snapshot struct {
	rt               *Runtime
	opts             Options // with Packages resolved to Mounts
	mem              *cowmem.Snapshot
	bufPtr, bufCap   uint32
	seedPtr, flagPtr uint32
	scratch          *scratchFS // frozen: the clones' starting tree; nil when disabled
	life             *life.Life // Close waits for the clones being made
	id               [32]byte   // see ID
	code             *codeCache // nil when knobs.NoCodeCache
	newCallStack     bool       // knobs.NewCallStack
}

// snapshotHeadroom is the free heap a copy-on-write snapshot leaves its
// clones.
const snapshotHeadroom = 8 << 20

// NewSnapshot starts a template interpreter, imports Preload, runs Setup and
// freezes the result.
func (r *Runtime) NewSnapshot(ctx context.Context, so SnapshotOptions) (*Snapshot, error) {
	if err := so.Options.Validate(); err != nil {
		return nil, err
	}
	if !r.life.Enter() { // the template's memory is read below: Close must wait
		return nil, ErrClosed
	}
	defer r.life.Exit()
	if _, err := r.cloneModule(ctx); err != nil {
		return nil, err
	}
	tctx := ctx
	if so.Seed != nil {
		tctx = context.WithValue(ctx, seedKey{}, so.Seed)
	}
	t, err := r.NewInstance(tctx, so.Options)
	if err != nil {
		return nil, err
	}
	defer t.Close(context.WithoutCancel(ctx))
	var src strings.Builder
	for _, m := range so.Preload {
		fmt.Fprintf(&src, "import %s\n", m)
	}
	src.WriteString(so.Setup)
	// Objects alive now are never collected in a clone: freezing them keeps
	// the collector from writing to (and so copying) their pages.
	src.WriteString("\nimport gc as _gc\n_gc.collect()\n_gc.freeze()\ndel _gc\n")
	if so.CopyOnWrite {
		// Free heap for the clones: a call that grows the memory cannot
		// be undone by Reset (wazero cannot shrink a memory), and most
		// calls that allocate at all would otherwise grow it. The
		// allocator keeps what is freed; the pages stay zero, which the
		// snapshot's file holds as holes, and a copy-on-write clone pays
		// only for those it touches. (A recycled clone copies the whole
		// snapshot: there it would double the cost of every clone.)
		fmt.Fprintf(&src, "_b = bytearray(%d)\ndel _b\n", snapshotHeadroom)
	}
	if _, err := t.Run(ctx, Exec(src.String())); err != nil {
		return nil, fmt.Errorf("snapshot setup: %w", err)
	}
	s := &Snapshot{rt: r, opts: t.opts, bufPtr: t.bufPtr, bufCap: t.bufCap, life: life.New(context.Background())}
	if t.scratch != nil {
		s.scratch = t.scratch.Freeze()
	}
	fns, err := exported(t.mod, abi.ExportSeed, abi.ExportSeedFlag)
	if err != nil {
		return nil, err
	}
	for k, p := range []*uint32{&s.seedPtr, &s.flagPtr} {
		v, err := fns[k].Call(ctx)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		*p = uint32(v[0])
	}
	data, ok := t.mod.Memory().Read(0, t.mod.Memory().Size())
	if !ok {
		return nil, errors.New("snapshot: reading memory")
	}
	if s.mem, err = cowmem.New(data, !so.CopyOnWrite); err != nil {
		return nil, err
	}
	s.identify(so, data)
	if !knobs.From(ctx).NoCodeCache {
		s.code = newCodeCache(s)
	}
	s.newCallStack = knobs.From(ctx).NewCallStack
	return s, nil
}

// cloneOptions are the snapshot's options as co changes them, checked.
func (s *Snapshot) cloneOptions(co CloneOptions) (Options, error) {
	if err := co.Limits.check(); err != nil {
		return Options{}, err
	}
	if err := checkHost(co.Host); err != nil {
		return Options{}, err
	}
	o := s.opts
	o.Limits = co.Limits.or(s.opts.Limits).resolved()
	if co.Host != nil {
		o.Host = co.Host
	}
	if uint64(o.Limits.MaxMemory) < s.mem.Size() {
		return Options{}, fmt.Errorf("%w: a clone's MaxMemory of %d bytes is below its snapshot's %d", ErrBadOptions, o.Limits.MaxMemory, s.mem.Size())
	}
	return o, nil
}

// CodeCache returns the counters of the snapshot's code cache. A clone's
// first call after it was made or reset (Instance.Reset), when it is an
// OpExec or OpEval, takes the code of its source from the cache instead of
// compiling it, most of what a fresh `x = 1` costs. A source is compiled
// into the cache the second time a call meets it, by an instance of the
// snapshot's own that runs nothing else; sources over 8 KiB, with a syntax
// error, or whose compilation warns are compiled by each call, as before.
// The cache holds at most 1,024 sources and 16 MiB of code, and empties
// when the snapshot closes.
func (s *Snapshot) CodeCache() CodeCacheStats { return s.code.statsNow() }

// Bytes returns the size of the snapshot's memory.
func (s *Snapshot) Bytes() uint64 { return s.mem.Size() }

// NewInstance starts a clone with the snapshot's options, as changed by
// co (its zero value changes nothing).
func (s *Snapshot) NewInstance(ctx context.Context, co CloneOptions) (*Instance, error) {
	if !s.life.Enter() {
		return nil, ErrClosed
	}
	defer s.life.Exit()
	o, err := s.cloneOptions(co)
	if err != nil {
		return nil, err
	}
	mod, err := s.rt.cloneModule(ctx)
	if err != nil {
		return nil, err
	}
	if !s.rt.life.Enter() { // the seed is written below: Close must wait
		return nil, ErrClosed
	}
	defer s.rt.life.Exit()
	i, err := s.rt.instantiate(ctx, o, mod, s.mem, s.scratch)
	if err != nil {
		return nil, err
	}
	i.snap, i.pristine = s, true
	if err := s.reseed(i); err != nil {
		i.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return i, nil
}

// reseed gives a clone, new or reset, the snapshot's request buffer and
// fresh entropy for its next request.
func (s *Snapshot) reseed(i *Instance) error {
	i.bufPtr, i.bufCap = s.bufPtr, s.bufCap
	var seed [36]byte
	_, _ = rand.Read(seed[:32])
	binary.LittleEndian.PutUint32(seed[32:], 1)
	m := i.mod.Memory()
	if !m.Write(s.seedPtr, seed[:32]) || !m.Write(s.flagPtr, seed[32:]) {
		return errors.New("clone: seed out of bounds")
	}
	return nil
}

// Close releases the snapshot's memory once the clones being made are; live
// clones keep working, and one asked for meanwhile fails with ErrClosed. It
// is safe to call more than once and on a nil Snapshot.
func (s *Snapshot) Close() error {
	if s == nil {
		return nil
	}
	s.code.close()
	return s.life.End(context.Background(), ErrClosed, func(context.Context) error {
		s.mem.Close()
		return nil
	})
}
