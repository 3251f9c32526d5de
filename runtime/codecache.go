// The code cache: the code of a cell compiled once per snapshot, by an
// interpreter no user code runs in, and sent with later fresh calls of the
// same source so that they unmarshal it instead of compiling.

package runtime

import (
	"container/list"
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/abi"
)

// The cache's bounds. A source longer than the guest's own cache takes (its
// _CACHE_SOURCE) is never cached; nor is code longer than
// codeCacheEntryBytes.
const (
	codeCacheEntries    = 1024
	codeCacheBytes      = 16 << 20
	codeCacheSource     = 8 << 10
	codeCacheEntryBytes = 256 << 10
	codeCacheCompile    = time.Second // one compile's deadline; the sources are small
)

// CodeCacheStats are the counters of a snapshot's code cache (see
// Snapshot.CodeCache).
type CodeCacheStats struct {
	// Hits counts the calls sent their code from the cache; Misses the
	// calls that could have been (OpExec and OpEval on a clone that has run
	// nothing since it was made or reset) but compiled their source
	// themselves.
	Hits, Misses uint64
	// Compiled counts the sources the compiler instance compiled into the
	// cache; Refused those it would not (a syntax error, a warning, code
	// too large, a compiler that failed).
	Compiled, Refused uint64
	// Entries is how many sources the cache knows, compiled or not yet;
	// Bytes the marshalled code it holds.
	Entries int
	Bytes   int
}

// codeKey names a source: SHA-256 of the request kind and the source. The
// kind fixes the filename ("<exec>", "<eval>") and the mode; the cache is
// the snapshot's, which fixes the interpreter (build, configuration, and
// whatever Setup did to it).
type codeKey [sha256.Size]byte

func codeKeyOf(op Op, src []byte) codeKey {
	h := sha256.New()
	h.Write([]byte{byte(op)})
	h.Write(src)
	return codeKey(h.Sum(nil))
}

type codeEntry struct {
	key     codeKey
	code    []byte // marshalled by the compiler instance; nil until then
	refused bool   // the compiler would not: compile it in the call
}

// codeCache holds a snapshot's marshalled code by source, least recently
// used first out. A source is compiled into it the second time a call
// meets it, not the first: code run once would only push out code run
// often. Only the compiler instance fills it, never a call: marshalled
// code from an instance that ran user code could be forged to reach into
// every clone that loads it.
type codeCache struct {
	snap *Snapshot

	mu     sync.Mutex
	index  map[codeKey]*list.Element // of *codeEntry
	lru    list.List                 // most recently used first
	stats  CodeCacheStats
	closed bool

	// compileMu is held while the compiler runs; a call that finds it
	// held compiles its source itself rather than wait.
	compileMu sync.Mutex
	compiler  *Instance // made on first use; nil after it failed
}

func newCodeCache(s *Snapshot) *codeCache {
	return &codeCache{snap: s, index: map[codeKey]*list.Element{}}
}

// code returns the marshalled code of src for a call of op, or nil when
// the call must compile it itself.
func (c *codeCache) code(ctx context.Context, op Op, src []byte) []byte {
	if c == nil || (op != OpExec && op != OpEval) {
		return nil
	}
	cacheable := len(src) <= codeCacheSource
	var key codeKey
	if cacheable {
		key = codeKeyOf(op, src)
	}
	c.mu.Lock()
	var e *codeEntry
	if cacheable && !c.closed {
		if el, ok := c.index[key]; ok {
			c.lru.MoveToFront(el)
			e = el.Value.(*codeEntry)
		} else {
			c.index[key] = c.lru.PushFront(&codeEntry{key: key})
			c.evictLocked()
		}
	}
	if e != nil && e.code != nil {
		c.stats.Hits++
		c.mu.Unlock()
		return e.code
	}
	c.stats.Misses++
	compile := e != nil && !e.refused // seen before: the second time
	c.mu.Unlock()
	if !compile {
		return nil
	}
	return c.compile(ctx, key, op, src)
}

// compile runs the compiler instance on src and keeps what it returns; nil
// when the compiler is busy, refuses the source or fails.
func (c *codeCache) compile(ctx context.Context, key codeKey, op Op, src []byte) []byte {
	if !c.compileMu.TryLock() {
		return nil
	}
	defer c.compileMu.Unlock()
	code, err := c.runCompiler(ctx, op, src)
	if err != nil && ctx.Err() != nil {
		return nil // the caller's context ended: not the source's fault
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keepLocked(key, code, err)
}

// keepLocked records the compiler's answer for key: its code, or that it
// refused. nil when there is no code to send.
func (c *codeCache) keepLocked(key codeKey, code []byte, err error) []byte {
	el, ok := c.index[key]
	if !ok || c.closed {
		return nil // evicted meanwhile
	}
	e := el.Value.(*codeEntry)
	if err != nil || len(code) == 0 || len(code) > codeCacheEntryBytes {
		e.refused = true
		c.stats.Refused++
		return nil
	}
	e.code = code
	c.stats.Compiled++
	c.stats.Bytes += len(code)
	c.evictLocked()
	return code
}

// runCompiler compiles src in the compiler instance, making one if there
// is none, and resets it after: each compile starts from the snapshot, so
// no source can leave anything behind for the next one's code.
func (c *codeCache) runCompiler(ctx context.Context, op Op, src []byte) ([]byte, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, codeCacheCompile)
	defer cancel()
	if c.compiler == nil {
		inst, err := c.snap.NewInstance(ctx, CloneOptions{Host: map[string]HostFunc{}})
		if err != nil {
			return nil, err
		}
		c.compiler = inst
	}
	req := CallBytes(abi.MarshalFunction, append([]byte{byte(op)}, src...))
	res, err := c.compiler.Run(ctx, req)
	if c.compiler.Reset(ctx) != nil {
		// Its code is still good: this compile started from the snapshot.
		// The next one needs a new instance (a compile that grew the
		// memory cannot be undone, for one).
		c.compiler.Close(context.WithoutCancel(ctx))
		c.compiler = nil
	}
	if err != nil {
		return nil, err
	}
	return res.Bytes, nil
}

// evictLocked drops the least recently used entries past the bounds.
func (c *codeCache) evictLocked() {
	for c.lru.Len() > codeCacheEntries || c.stats.Bytes > codeCacheBytes {
		e := c.lru.Remove(c.lru.Back()).(*codeEntry)
		delete(c.index, e.key)
		c.stats.Bytes -= len(e.code)
	}
}

func (c *codeCache) statsNow() CodeCacheStats {
	if c == nil {
		return CodeCacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries = c.lru.Len()
	return s
}

// close drops the entries and closes the compiler, once a compile in
// progress has ended.
func (c *codeCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	c.index, c.stats.Bytes = map[codeKey]*list.Element{}, 0
	c.lru.Init()
	c.mu.Unlock()
	c.compileMu.Lock()
	defer c.compileMu.Unlock()
	if c.compiler != nil {
		c.compiler.Close(context.Background())
		c.compiler = nil
	}
}
