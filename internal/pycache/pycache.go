// Package pycache keeps the bytecode of Python packages that are mounted
// read-only, where CPython cannot write its __pycache__: without it every
// fresh interpreter compiles every module it imports from source (seconds
// for a large package). A package is compiled once per Cache, in the
// background, by code run in the sandbox by the interpreter that will
// import it (Compile, given by the runtime); the result is kept in memory
// and on disk, keyed by the package's content and the interpreter, and
// served by Overlay as __pycache__/<module>.<cache tag>.pyc files beside
// the sources.
//
// The files are timestamp pycs stamped with the source's mtime and size as
// the guest sees them, so CPython checks each one at import and compiles
// from source when the source changed (a host directory edited after it
// was compiled) or a file is missing (compilation not finished, failed, or
// past a cap): bytecode only ever makes imports faster.
//
// It knows nothing of the runtime: the compiler comes as a function, and
// its output is untrusted data, checked and bounded here.
package pycache

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds on what a package's bytecode may hold; past them the rest of the
// package is served from source.
const (
	// MaxFileBytes bounds one .pyc (the largest of sympy's is under 2 MB).
	MaxFileBytes = 8 << 20
	// MaxPackageBytes bounds a package's bytecode (sympy's 33 MB without
	// its tests).
	MaxPackageBytes = 256 << 20
	// MaxPackageFiles bounds its number of files.
	MaxPackageFiles = 100_000
	// MaxSourceBytes bounds the sources hashed for a key.
	MaxSourceBytes = 1 << 30
	// MinSourceBytes is the size of sources below which compiling costs
	// more than it saves: starting the compiler costs about what compiling
	// 64 KiB of source does.
	MinSourceBytes = 64 << 10
	// BatchBytes is the bytecode a compiler batch returns at most, besides
	// its last file.
	BatchBytes = 8 << 20
	// MaxCompileTime bounds a package's compilation; what is compiled by
	// then is kept.
	MaxCompileTime = 5 * time.Minute
	// maxKept bounds the packages kept in memory, and keepOnDisk those
	// kept on disk (the least recently used go first).
	maxKept, keepOnDisk = 32, 64
	// maxKeptBytes bounds the bytecode kept in memory by a Cache.
	maxKeptBytes = 1 << 30
)

// Compile compiles the .py files of a package to timestamp pycs in the
// sandbox, skipping those named in have, and calls add with each batch of
// (name relative to the package's root, content), in batches of about
// BatchBytes, until it has compiled the rest. A failed file is skipped.
type Compile func(ctx context.Context, have []string, add func(Batch) error) error

// Batch is a compiler's output: records of a little-endian uint32 name
// length, a uint32 content length, the name, the content.
type Batch []byte

// Set is a package's bytecode by file name, growing while its compilation
// runs. Reads are safe at any time.
type Set struct {
	files atomic.Pointer[files]
	done  chan struct{}
	last  atomic.Int64 // unix nanoseconds of the last use, for eviction
}

type files struct {
	byName map[string][]byte
	dirs   map[string][]string // __pycache__ directory to its files' base names
	bytes  int64
}

func newSet() *Set {
	s := &Set{done: make(chan struct{})}
	s.files.Store(&files{})
	return s
}

// Lookup returns the content of the file name, relative to the package's
// root.
func (s *Set) Lookup(name string) ([]byte, bool) {
	b, ok := s.files.Load().byName[name]
	return b, ok
}

// Len returns how many files the set holds.
func (s *Set) Len() int { return len(s.files.Load().byName) }

// Wait waits until the compilation has ended (whatever it compiled), or
// ctx has.
func (s *Set) Wait(ctx context.Context) error {
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// add publishes batch, checked, copying the maps (readers hold the old
// ones); it reports whether the package's caps are reached.
func (s *Set) add(batch map[string][]byte) (full bool) {
	old := s.files.Load()
	f := &files{byName: maps.Clone(old.byName), dirs: maps.Clone(old.dirs), bytes: old.bytes}
	if f.byName == nil {
		f.byName, f.dirs = map[string][]byte{}, map[string][]string{}
	}
	for _, name := range slices.Sorted(maps.Keys(batch)) {
		data := batch[name]
		if _, dup := f.byName[name]; dup {
			continue
		}
		if f.bytes+int64(len(data)) > MaxPackageBytes || len(f.byName) >= MaxPackageFiles {
			full = true
			break
		}
		f.byName[name] = data
		f.bytes += int64(len(data))
		dir := path.Dir(name)
		f.dirs[dir] = append(slices.Clone(f.dirs[dir]), path.Base(name))
	}
	s.files.Store(f)
	return full
}

func (s *Set) names() []string { return slices.Sorted(maps.Keys(s.files.Load().byName)) }

// parseBatch checks a compiler's batch: every name a .pyc in a __pycache__
// directory, every file within MaxFileBytes.
func parseBatch(b Batch) (map[string][]byte, error) {
	out := map[string][]byte{}
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, errors.New("truncated record")
		}
		nl, dl := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
		if nl > 4096 || dl > MaxFileBytes || uint64(len(b)-8) < uint64(nl)+uint64(dl) {
			return nil, fmt.Errorf("record of %d+%d bytes out of bounds", nl, dl)
		}
		name := string(b[8 : 8+nl])
		if !validName(name) {
			return nil, fmt.Errorf("file name %q is not a .pyc in a __pycache__ directory", name)
		}
		out[name] = bytes.Clone(b[8+nl : 8+nl+dl])
		b = b[8+nl+dl:]
	}
	return out, nil
}

func validName(name string) bool {
	return fs.ValidPath(name) && path.Base(path.Dir(name)) == "__pycache__" && strings.HasSuffix(name, ".pyc") && !strings.HasPrefix(path.Base(name), ".")
}

// Cache holds the packages' bytecode of one interpreter. It is safe for
// concurrent use.
type Cache struct {
	salt string // the interpreter's identity, part of every disk key
	dir  string // "" keeps nothing on disk
	ctx  context.Context
	stop context.CancelFunc

	mu   sync.Mutex
	sets map[string]*Set
	// jobs runs one compilation at a time: they share the machine with
	// the guests they speed up.
	jobs chan struct{}
	wg   sync.WaitGroup
}

// New returns a Cache for the interpreter identified by salt (e.g. its
// build's sha256), keeping bytecode on disk in dir unless dir is "".
func New(salt, dir string) *Cache {
	ctx, stop := context.WithCancel(context.Background())
	return &Cache{salt: salt, dir: dir, ctx: ctx, stop: stop, sets: map[string]*Set{}, jobs: make(chan struct{}, 1)}
}

// Dir is the default disk cache under the project's cache directory base.
func Dir(base string) string { return filepath.Join(base, "pyc") }

// Get returns the bytecode set of the package known as key (see Key and
// HostKey), starting its compilation (once per key) in the background if
// it is neither in memory nor complete on disk. diskKey gives the key of
// its content for the disk cache (it may read the whole package); compile
// compiles it. Get never waits for a compilation.
func (c *Cache) Get(key string, diskKey func() (string, error), compile Compile) *Set {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sets[key]; ok {
		s.last.Store(time.Now().UnixNano())
		return s
	}
	s := newSet()
	s.last.Store(time.Now().UnixNano())
	c.evict()
	c.sets[key] = s
	if c.ctx.Err() != nil {
		close(s.done)
		return s
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(s.done)
		c.fill(s, diskKey, compile)
	}()
	return s
}

// evict drops the least recently used sets past maxKept or maxKeptBytes
// (instances already serving one keep it).
func (c *Cache) evict() {
	for len(c.sets) > 0 {
		var total int64
		oldest, when := "", int64(0)
		for k, s := range c.sets {
			total += s.files.Load().bytes
			if l := s.last.Load(); oldest == "" || l < when {
				oldest, when = k, l
			}
		}
		if len(c.sets) < maxKept && total <= maxKeptBytes {
			return
		}
		delete(c.sets, oldest)
	}
}

// fill loads the set from disk, compiles what is missing and stores the
// result back.
func (c *Cache) fill(s *Set, diskKey func() (string, error), compile Compile) {
	dk, err := diskKey()
	if err != nil || dk == "" {
		return // too small, too large or unreadable: served from source
	}
	file := ""
	if c.dir != "" {
		sum := sha256.Sum256([]byte(c.salt + "\x00" + dk))
		file = filepath.Join(c.dir, hex.EncodeToString(sum[:16])+".zip")
		if complete := c.load(s, file); complete {
			return
		}
	}
	select {
	case c.jobs <- struct{}{}:
	case <-c.ctx.Done():
		return
	}
	defer func() { <-c.jobs }()
	ctx, cancel := context.WithTimeout(c.ctx, MaxCompileTime)
	defer cancel()
	before := s.Len()
	full := false
	err = compile(ctx, s.names(), func(b Batch) error {
		batch, err := parseBatch(b)
		if err != nil {
			return err
		}
		if full = s.add(batch); full {
			return errFull
		}
		return nil
	})
	if file != "" && s.Len() > before {
		complete := err == nil || errors.Is(err, errFull)
		_ = c.store(s, file, complete) // best effort: the next process compiles again
	}
}

var errFull = errors.New("the package's bytecode reached its caps")

// Close stops the compilations and waits for them to end; what they
// compiled by then is stored.
func (c *Cache) Close() {
	c.stop()
	c.wg.Wait()
}

// The disk format is a zip archive of the set's files, its comment "complete"
// when nothing is left to compile.
const completeMark = "complete"

func (c *Cache) load(s *Set, file string) (complete bool) {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.Size() > MaxPackageBytes*2 {
		return false
	}
	z, err := zip.NewReader(f, info.Size())
	if err != nil {
		return false
	}
	batch := map[string][]byte{}
	for _, zf := range z.File {
		if !validName(zf.Name) || zf.UncompressedSize64 > MaxFileBytes {
			return false
		}
		r, err := zf.Open()
		if err != nil {
			return false
		}
		data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
		r.Close()
		if err != nil || len(data) > MaxFileBytes {
			return false
		}
		batch[zf.Name] = data
	}
	s.add(batch)
	now := time.Now()
	_ = os.Chtimes(file, now, now)
	return z.Comment == completeMark
}

func (c *Cache) store(s *Set, file string, complete bool) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := zip.NewWriter(tmp)
	fl := s.files.Load()
	for _, name := range slices.Sorted(maps.Keys(fl.byName)) {
		zw, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err == nil {
			_, err = zw.Write(fl.byName[name])
		}
		if err != nil {
			tmp.Close()
			return err
		}
	}
	if complete {
		if err := w.SetComment(completeMark); err != nil {
			tmp.Close()
			return err
		}
	}
	err = w.Close()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	prune(c.dir, keepOnDisk)
	return err
}

// prune removes the least recently used entries past keep.
func prune(dir string, keep int) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type entry struct {
		name string
		used time.Time
	}
	var es []entry
	for _, e := range entries {
		if info, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".zip") {
			es = append(es, entry{e.Name(), info.ModTime()})
		}
	}
	slices.SortFunc(es, func(a, b entry) int { return b.used.Compare(a.used) })
	for _, e := range es[min(keep, len(es)):] {
		_ = os.Remove(filepath.Join(dir, e.name))
	}
}
