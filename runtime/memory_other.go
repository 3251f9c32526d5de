//go:build !linux

package runtime

import "github.com/tetratelabs/wazero/experimental"

// Without Linux's mmap and memfd, memory is a plain slice that is copied
// for every clone: correct, but neither capped in place nor copy-on-write.
type linearMemory struct {
	mem      []byte
	limit    uint64
	hitLimit bool
	snap     *snapshotMemory
}

const pageSize = 65536

func newAllocator(limit uint64, snap *snapshotMemory, out **linearMemory) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capacity, maxBytes uint64) experimental.LinearMemory {
		m := &linearMemory{limit: min(maxBytes, limit)}
		if snap != nil {
			m.mem, m.snap = append([]byte(nil), snap.data...), snap
			m.limit = max(m.limit, uint64(len(snap.data)))
		}
		*out = m
		return m
	})
}

func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.hitLimit = true
		return nil
	}
	if size > uint64(len(m.mem)) {
		m.mem = append(m.mem, make([]byte, size-uint64(len(m.mem)))...)
	}
	return m.mem
}

// private is the whole memory: nothing is shared without copy-on-write.
func (m *linearMemory) private() (uint64, error) { return uint64(len(m.mem)), nil }

// restore copies the snapshot back, unless the memory grew past it.
func (m *linearMemory) restore() (bool, error) {
	if m.snap == nil || len(m.mem) != len(m.snap.data) {
		return false, nil
	}
	copy(m.mem, m.snap.data)
	return true, nil
}

func (m *linearMemory) Free() { m.mem = nil }

type snapshotMemory struct {
	data []byte
	size uint64
}

func newSnapshotMemory(data []byte, _ bool) (*snapshotMemory, error) {
	return &snapshotMemory{data: append([]byte(nil), data...), size: uint64(len(data))}, nil
}

func (s *snapshotMemory) close() {}
