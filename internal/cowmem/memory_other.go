//go:build !linux

package cowmem

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// Without Linux's mmap and memfd, memory is a plain slice that is copied
// for every clone: correct, but neither capped in place nor copy-on-write.
type Memory struct {
	mem      []byte
	limit    uint64
	hitLimit bool
	snap     *Snapshot
	bytes    atomic.Uint64 // len(mem), for Size and Private during a call
}

// NewMemory makes a memory of at most limit bytes, or a copy of snap when
// snap is not nil (at least snap's size then).
func NewMemory(limit uint64, snap *Snapshot) (*Memory, error) {
	m := &Memory{limit: limit}
	if snap != nil {
		snap.mu.RLock()
		defer snap.mu.RUnlock()
		if snap.data == nil {
			return nil, ErrClosed
		}
		m.mem, m.snap = append([]byte(nil), snap.data...), snap
		m.bytes.Store(snap.size)
	}
	return m, nil
}

// Allocator hands m to wazero for one instantiation, capped at the module's
// maximum as well.
func (m *Memory) Allocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, maxBytes uint64) experimental.LinearMemory {
		m.limit = max(min(maxBytes, m.limit), uint64(len(m.mem)))
		return m
	})
}

// Reallocate grows the slice to size bytes (wazero's growth); nil, and
// HitLimit, past the cap.
func (m *Memory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.hitLimit = true
		return nil
	}
	if size > uint64(len(m.mem)) {
		m.mem = append(m.mem, make([]byte, size-uint64(len(m.mem)))...)
		m.bytes.Store(size)
	}
	return m.mem
}

// Size returns the memory's size; it may be called while the memory grows.
func (m *Memory) Size() uint64 { return m.bytes.Load() }

// Private is the whole memory: nothing is shared without copy-on-write.
func (m *Memory) Private() (uint64, error) { return m.Size(), nil }

// Restore copies the snapshot back, unless the memory grew past it or the
// snapshot is closed.
func (m *Memory) Restore() (bool, error) {
	if m.snap == nil || uint64(len(m.mem)) != m.snap.size {
		return false, nil
	}
	m.snap.mu.RLock()
	defer m.snap.mu.RUnlock()
	if m.snap.data == nil {
		return false, nil
	}
	copy(m.mem, m.snap.data)
	return true, nil
}

// Free drops the memory.
func (m *Memory) Free() { m.mem = nil }

// Snapshot is a memory frozen for clones, which copy it.
type Snapshot struct {
	size uint64
	mu   sync.RWMutex
	data []byte // nil once closed
}

// New keeps a copy of data for clones to start from.
func New(data []byte, _ bool) (*Snapshot, error) {
	return &Snapshot{data: append([]byte{}, data...), size: uint64(len(data))}, nil
}

// Size returns the snapshot's size in bytes.
func (s *Snapshot) Size() uint64 { return s.size }

// Close releases the snapshot; clones already made keep their copies.
func (s *Snapshot) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = nil
}

// Populate does nothing: the memory is a Go slice, its pages the heap's.
func (m *Memory) Populate(off, n uint64) {}

// Changed calls each, in address order, for every run of bytes of a
// clone's memory that differs from its snapshot (past the snapshot's end,
// from zero), in whole 8-byte words, never across an ImagePage. Every
// page is compared: nothing says which the clone wrote.
func (m *Memory) Changed(each func(off uint64, run []byte)) error {
	if m.snap == nil {
		return errors.New("cowmem: not a clone")
	}
	m.snap.mu.RLock()
	defer m.snap.mu.RUnlock()
	if m.snap.data == nil {
		return ErrClosed
	}
	changedIn(m.mem, m.snap.data, 0, uint64(len(m.mem)), each)
	return nil
}
