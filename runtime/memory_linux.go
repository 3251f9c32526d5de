//go:build linux

package runtime

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// linearMemory backs one instance's wasm memory with a reservation of its
// whole cap: PROT_NONE until grown, so the slice never moves and growth past
// the cap fails inside the guest (memory.grow returns -1, Python raises
// MemoryError) instead of harming the host. A clone's memory starts as a
// private copy-on-write mapping of its snapshot: only pages it writes cost
// memory.
type linearMemory struct {
	mem      []byte // the whole reservation
	size     uint64 // bytes currently accessible
	limit    uint64
	hitLimit bool
	snap     *snapshotMemory // a clone's snapshot, which may take the reservation back on Free
}

const pageSize = 65536

func newAllocator(limit uint64, snap *snapshotMemory, out **linearMemory) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capacity, maxBytes uint64) experimental.LinearMemory {
		res := min(maxBytes, limit)
		if snap != nil {
			res = max(res, snap.size)
			if mem := snap.reuse(res); mem != nil {
				m := &linearMemory{mem: mem, limit: res, size: snap.size, snap: snap}
				*out = m
				return m
			}
		}
		mem, err := unix.Mmap(-1, 0, int(res), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			return nil // wazero then fails the instantiation
		}
		m := &linearMemory{mem: mem, limit: res}
		if snap != nil {
			if err := snap.mapInto(mem); err != nil {
				_ = unix.Munmap(mem)
				return nil
			}
			m.size, m.snap = snap.size, snap
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
	if size > m.size {
		if err := unix.Mprotect(m.mem[m.size:size], unix.PROT_READ|unix.PROT_WRITE); err != nil {
			m.hitLimit = true
			return nil
		}
		m.size = size
	}
	// A clone starts with its snapshot's size, above the module's minimum.
	return m.mem[:m.size:m.size]
}

// private counts the accessible pages that this memory owns: written
// (a copy-on-write copy of a snapshot page, or a page of growth) and not
// shared with the snapshot's memfd. /proc/self/pagemap says so per page:
// bit 63 present, 62 swapped, 61 a file page (the snapshot's, unwritten).
func (m *linearMemory) private() (uint64, error) {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sys := uint64(os.Getpagesize())
	start := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(m.mem)))) / sys
	pages := m.size / sys
	buf := make([]byte, 8*min(pages, 8192))
	var n uint64
	for done := uint64(0); done < pages; {
		chunk := buf[:8*min(pages-done, uint64(len(buf)/8))]
		if _, err := f.ReadAt(chunk, int64(8*(start+done))); err != nil {
			return 0, err
		}
		for k := 0; k < len(chunk); k += 8 {
			e := binary.LittleEndian.Uint64(chunk[k:])
			if e&(3<<62) != 0 && e&(1<<61) == 0 {
				n++
			}
		}
		done += uint64(len(chunk) / 8)
	}
	return n * sys, nil
}

func (m *linearMemory) Free() {
	if m.mem == nil {
		return
	}
	if m.snap == nil || !m.snap.keep(m.mem, m.size) {
		_ = unix.Munmap(m.mem)
	}
	m.mem = nil
}

// snapshotMemory is the linear memory of an initialised interpreter, kept
// once per process in a sealed memfd that clones map copy-on-write.
type snapshotMemory struct {
	once sync.Once
	f    *os.File
	size uint64

	// With recycle, released clones' reservations are kept and refilled by
	// copying the snapshot into them: pages already faulted in stay so,
	// which wins where page faults are dear (tens of µs on some VMs).
	recycle bool
	data    []byte // the snapshot, mapped read-only
	mu      sync.Mutex
	free    [][]byte
	closed  bool
}

// Each kept reservation holds the snapshot's size in memory.
const maxRecycled = 16

func (s *snapshotMemory) reuse(res uint64) []byte {
	if !s.recycle {
		return nil
	}
	s.mu.Lock()
	var mem []byte
	for k := len(s.free) - 1; k >= 0; k-- {
		if uint64(len(s.free[k])) == res {
			mem = s.free[k]
			s.free = append(s.free[:k], s.free[k+1:]...)
			break
		}
	}
	s.mu.Unlock()
	if mem != nil {
		copy(mem[:s.size], s.data)
	}
	return mem
}

// keep takes back a released clone's reservation: what it grew beyond the
// snapshot is dropped (zero and inaccessible again); the rest is overwritten
// by the next reuse.
func (s *snapshotMemory) keep(mem []byte, size uint64) bool {
	if !s.recycle {
		return false
	}
	if size > s.size {
		grown := mem[s.size:size]
		if unix.Madvise(grown, unix.MADV_DONTNEED) != nil || unix.Mprotect(grown, unix.PROT_NONE) != nil {
			return false
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.free) >= maxRecycled {
		return false
	}
	s.free = append(s.free, mem)
	return true
}

func newSnapshotMemory(data []byte, recycle bool) (*snapshotMemory, error) {
	fd, err := unix.MemfdCreate("snakepit-snapshot", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("snapshot: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "snakepit-snapshot")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("snapshot: write: %w", err)
	}
	// Sealed: nothing can change the template's pages under the clones.
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_WRITE|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		f.Close()
		return nil, fmt.Errorf("snapshot: seal: %w", err)
	}
	s := &snapshotMemory{f: f, size: uint64(len(data)), recycle: recycle}
	if s.recycle {
		if s.data, err = unix.Mmap(int(f.Fd()), 0, len(data), unix.PROT_READ, unix.MAP_SHARED); err != nil {
			f.Close()
			return nil, fmt.Errorf("snapshot: mmap: %w", err)
		}
	}
	return s, nil
}

func (s *snapshotMemory) mapInto(mem []byte) error {
	_, err := unix.MmapPtr(int(s.f.Fd()), 0, unsafe.Pointer(unsafe.SliceData(mem)), uintptr(s.size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
	return err
}

func (s *snapshotMemory) close() {
	s.once.Do(func() {
		s.f.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closed = true
		for _, mem := range s.free {
			_ = unix.Munmap(mem)
		}
		s.free = nil
		if s.data != nil {
			_ = unix.Munmap(s.data)
		}
	})
}
