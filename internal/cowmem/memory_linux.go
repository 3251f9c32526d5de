//go:build linux

package cowmem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// Memory backs one instance's wasm memory with a reservation of its whole
// cap: PROT_NONE until grown, so the slice never moves and growth past the
// cap fails inside the guest instead of harming the host. A clone's memory
// starts as a private copy-on-write mapping of its snapshot: only pages it
// writes cost memory.
type Memory struct {
	mem  []byte // the whole reservation
	size uint64 // bytes currently accessible
	// bytes is size for readers on other goroutines (Size, Private),
	// which run while the guest grows the memory.
	bytes    atomic.Uint64
	limit    uint64
	hitLimit bool
	snap     *Snapshot // a clone's snapshot, which may take the reservation back on Free
	cow      bool      // mapped copy-on-write, not a recycled copy
}

// maxReserve bounds a reservation: a wasm32 memory never passes 4 GiB.
const maxReserve = 1 << 32

// NewMemory reserves a memory of at most limit bytes, or of a clone of snap
// when snap is not nil (at least snap's size then). Everything that can fail
// happens here: wazero's allocator cannot report an error (it dereferences
// a nil memory).
func NewMemory(limit uint64, snap *Snapshot) (*Memory, error) {
	res := min(limit, maxReserve)
	if snap != nil {
		res = max(res, snap.size)
		if mem := snap.reuse(res); mem != nil {
			m := &Memory{mem: mem, limit: res, size: snap.size, snap: snap}
			m.bytes.Store(snap.size)
			return m, nil
		}
	}
	mem, err := unix.Mmap(-1, 0, int(res), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("cowmem: reserving %d bytes: %w", res, err)
	}
	m := &Memory{mem: mem, limit: res}
	if snap != nil {
		if err := snap.mapInto(mem); err != nil {
			_ = unix.Munmap(mem)
			return nil, err
		}
		m.size, m.snap, m.cow = snap.size, snap, true
		m.bytes.Store(snap.size)
	}
	return m, nil
}

// Allocator hands m to wazero for one instantiation, capped at the module's
// maximum as well.
func (m *Memory) Allocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, maxBytes uint64) experimental.LinearMemory {
		m.limit = max(min(maxBytes, m.limit), m.size)
		return m
	})
}

// Reallocate makes the first size bytes accessible (wazero's growth); nil,
// and HitLimit, past the cap.
func (m *Memory) Reallocate(size uint64) []byte {
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
		m.bytes.Store(size)
	}
	// A clone starts with its snapshot's size, above the module's minimum.
	return m.mem[:m.size:m.size]
}

// pagemap is /proc/self/pagemap, opened once: read with pread, it serves
// concurrent readers, and opening it for every reset cost more than the
// read.
var pagemap = sync.OnceValues(func() (*os.File, error) { return os.Open("/proc/self/pagemap") })

// pagemapBufs holds buffers for reading the page table, 8192 pages at a
// time: shared, so that no memory keeps one.
var pagemapBufs = sync.Pool{New: func() any { b := make([]byte, 8*8192); return &b }}

// ownPages calls each for every run [first, end) of accessible pages that
// this memory owns: written (a copy-on-write copy of a snapshot page, or a
// page of growth) and not shared with the snapshot's memfd. The kernel's
// PAGEMAP_SCAN lists just those runs; older kernels (before 6.7) give the
// page table one entry per page (readPagemap).
func (m *Memory) ownPages(size uint64, each func(first, end uint64)) error {
	if !noPagemapScan.Load() {
		err := m.scanPagemap(size, each)
		if err != unix.ENOTTY && err != unix.EINVAL {
			return err
		}
		noPagemapScan.Store(true)
	}
	return m.readPagemap(size, each)
}

// noPagemapScan is set once the kernel refused PAGEMAP_SCAN.
var noPagemapScan atomic.Bool

// pmScanArg is the kernel's struct pm_scan_arg, and pageRegion its struct
// page_region (linux/fs.h; x/sys/unix lacks both).
type pmScanArg struct {
	size, flags, start, end, walkEnd, vec, vecLen, maxPages       uint64
	categoryInverted, categoryMask, categoryAnyofMask, returnMask uint64
}

type pageRegion struct{ start, end, categories uint64 }

const (
	pagemapScan   = 0xc0606610 // _IOWR('f', 16, struct pm_scan_arg)
	pageIsFile    = 1 << 2
	pageIsPresent = 1 << 3
	pageIsSwapped = 1 << 4
)

// scanRegions holds buffers for PAGEMAP_SCAN's answers, as pagemapBufs.
var scanRegions = sync.Pool{New: func() any { b := make([]pageRegion, 512); return &b }}

// scanPagemap is ownPages by PAGEMAP_SCAN: the pages present or swapped
// and not the file's, merged into runs by the kernel, a buffer at a time.
func (m *Memory) scanPagemap(size uint64, each func(first, end uint64)) error {
	f, err := pagemap()
	if err != nil {
		return err
	}
	rp := scanRegions.Get().(*[]pageRegion)
	defer scanRegions.Put(rp)
	regions := *rp
	sys := uint64(os.Getpagesize())
	base := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(m.mem))))
	arg := pmScanArg{
		size: uint64(unsafe.Sizeof(pmScanArg{})), start: base, end: base + size,
		vec: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(regions)))), vecLen: uint64(len(regions)),
		categoryInverted: pageIsFile, categoryMask: pageIsFile,
		categoryAnyofMask: pageIsPresent | pageIsSwapped, returnMask: pageIsFile,
	}
	for arg.start < arg.end {
		n, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), pagemapScan, uintptr(unsafe.Pointer(&arg)))
		if errno != 0 {
			return errno
		}
		for _, r := range regions[:n] {
			each((r.start-base)/sys, (r.end-base)/sys)
		}
		if arg.walkEnd <= arg.start {
			return fmt.Errorf("cowmem: PAGEMAP_SCAN made no progress at %#x", arg.start)
		}
		arg.start = arg.walkEnd
	}
	runtime.KeepAlive(regions)
	return nil
}

// readPagemap is ownPages by reading /proc/self/pagemap, whose entry per
// page says: bit 63 present, 62 swapped, 61 a file page (the snapshot's,
// unwritten).
func (m *Memory) readPagemap(size uint64, each func(first, end uint64)) error {
	f, err := pagemap()
	if err != nil {
		return err
	}
	bp := pagemapBufs.Get().(*[]byte)
	defer pagemapBufs.Put(bp)
	buf := *bp
	sys := uint64(os.Getpagesize())
	start := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(m.mem)))) / sys
	pages := size / sys
	run := uint64(0) // where the current run of owned pages began
	for done := uint64(0); done < pages; {
		chunk := buf[:8*min(pages-done, uint64(len(buf)/8))]
		if _, err := f.ReadAt(chunk, int64(8*(start+done))); err != nil {
			return err
		}
		for k := 0; k < len(chunk); k += 8 {
			if e := binary.LittleEndian.Uint64(chunk[k:]); e&(3<<62) != 0 && e&(1<<61) == 0 {
				continue
			}
			p := done + uint64(k/8)
			if run < p {
				each(run, p)
			}
			run = p + 1
		}
		done += uint64(len(chunk) / 8)
	}
	if run < pages {
		each(run, pages)
	}
	return nil
}

// Size returns the bytes currently accessible; it may be called while the
// memory grows.
func (m *Memory) Size() uint64 { return m.bytes.Load() }

// Private counts the bytes of the pages this memory owns: those it wrote
// (copy-on-write copies of its snapshot's, and growth), or all of a
// recycled clone's.
func (m *Memory) Private() (uint64, error) {
	var n uint64
	err := m.ownPages(m.Size(), func(first, end uint64) { n += end - first })
	return n * uint64(os.Getpagesize()), err
}

// Restore gives a clone's memory its snapshot's content again, in place:
// the pages it owns keep their place in memory, so the next call takes no
// page fault on them. A copy-on-write clone owns only the pages it wrote
// (ownPages), so only those are copied; a recycled copy owns every page. It
// returns false, changing nothing, when the memory grew past the snapshot:
// wazero's view of its size cannot shrink.
func (m *Memory) Restore() (bool, error) {
	if m.snap == nil || m.size != m.snap.size {
		return false, nil
	}
	m.snap.mu.RLock()
	defer m.snap.mu.RUnlock()
	if m.snap.data == nil {
		return false, nil // the snapshot is closed
	}
	if !m.cow {
		copy(m.mem[:m.size], m.snap.data)
		return true, nil
	}
	sys := uint64(os.Getpagesize())
	err := m.ownPages(m.size, func(first, end uint64) { copy(m.mem[first*sys:end*sys], m.snap.data[first*sys:end*sys]) })
	return err == nil, err
}

// Free releases the memory, or gives it back to a recycling snapshot.
// wazero calls it when the module closes; it is safe to call again.
func (m *Memory) Free() {
	if m.mem == nil {
		return
	}
	if m.snap == nil || !m.snap.keep(m.mem, m.size) {
		_ = unix.Munmap(m.mem)
	}
	m.mem = nil
}

// Snapshot is a memory frozen for clones, kept once in a sealed memfd that
// they map copy-on-write.
type Snapshot struct {
	size uint64
	// With recycle, released clones' reservations are kept and refilled by
	// copying the snapshot into them: pages already faulted in stay so,
	// which wins where page faults are dear (tens of µs on some VMs).
	recycle bool

	// mu guards f and data, both nil once closed. A clone being mapped, and
	// a copy from data, hold it shared; Close holds it alone, so it waits for
	// them, and those after it find nothing. Clones outlive the snapshot, but
	// a file closed under a mapping in progress would fail it, or map
	// whatever file had taken its number by then.
	mu   sync.RWMutex
	f    *os.File
	data []byte // the snapshot, mapped read-only (what reuse and Restore copy)

	freeMu sync.Mutex // guards free and closed
	free   [][]byte
	closed bool
}

// Each kept reservation holds the snapshot's size in memory.
const maxRecycled = 16

func (s *Snapshot) reuse(res uint64) []byte {
	if !s.recycle {
		return nil
	}
	s.freeMu.Lock()
	var mem []byte
	for k := len(s.free) - 1; k >= 0; k-- {
		if uint64(len(s.free[k])) == res {
			mem = s.free[k]
			s.free = append(s.free[:k], s.free[k+1:]...)
			break
		}
	}
	s.freeMu.Unlock()
	if mem == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.data == nil { // closed meanwhile
		_ = unix.Munmap(mem)
		return nil
	}
	copy(mem[:s.size], s.data)
	return mem
}

// keep takes back a released clone's reservation: what it grew beyond the
// snapshot is dropped (zero and inaccessible again); the rest is overwritten
// by the next reuse.
func (s *Snapshot) keep(mem []byte, size uint64) bool {
	if !s.recycle {
		return false
	}
	if size > s.size {
		grown := mem[s.size:size]
		if unix.Madvise(grown, unix.MADV_DONTNEED) != nil || unix.Mprotect(grown, unix.PROT_NONE) != nil {
			return false
		}
	}
	s.freeMu.Lock()
	defer s.freeMu.Unlock()
	if s.closed || len(s.free) >= maxRecycled {
		return false
	}
	s.free = append(s.free, mem)
	return true
}

// New keeps data, a memory between two calls, for clones to start from.
// With recycle, freed clones' memory is kept and refilled by copying.
func New(data []byte, recycle bool) (*Snapshot, error) {
	fd, err := unix.MemfdCreate("snakepit-snapshot", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("snapshot: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "snakepit-snapshot")
	if err := writeSparse(f, data); err != nil {
		f.Close()
		return nil, fmt.Errorf("snapshot: write: %w", err)
	}
	// Sealed: nothing can change the template's pages under the clones.
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_WRITE|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		f.Close()
		return nil, fmt.Errorf("snapshot: seal: %w", err)
	}
	s := &Snapshot{f: f, size: uint64(len(data)), recycle: recycle}
	if s.data, err = unix.Mmap(int(f.Fd()), 0, len(data), unix.PROT_READ, unix.MAP_SHARED); err != nil {
		f.Close()
		return nil, fmt.Errorf("snapshot: mmap: %w", err)
	}
	return s, nil
}

// writeSparse writes data to f leaving its zero pages as holes, which take
// no memory (a snapshot's free heap is mostly zero).
func writeSparse(f *os.File, data []byte) error {
	if err := f.Truncate(int64(len(data))); err != nil {
		return err
	}
	sys := os.Getpagesize()
	for start := 0; start < len(data); {
		end := min(start+sys, len(data))
		if !allZero(data[start:end]) {
			for end < len(data) && !allZero(data[end:min(end+sys, len(data))]) {
				end = min(end+sys, len(data))
			}
			if _, err := f.WriteAt(data[start:end], int64(start)); err != nil {
				return err
			}
		}
		start = end
	}
	return nil
}

// Size returns the snapshot's size in bytes.
func (s *Snapshot) Size() uint64 { return s.size }

func (s *Snapshot) mapInto(mem []byte) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.f == nil {
		return ErrClosed
	}
	_, err := unix.MmapPtr(int(s.f.Fd()), 0, unsafe.Pointer(unsafe.SliceData(mem)), uintptr(s.size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
	if err != nil {
		return fmt.Errorf("cowmem: mapping the snapshot: %w", err)
	}
	return nil
}

// Close releases the snapshot; clones already made keep their memory. It
// is safe to call more than once.
func (s *Snapshot) Close() {
	s.freeMu.Lock()
	s.closed = true
	free := s.free
	s.free = nil
	s.freeMu.Unlock()
	for _, mem := range free {
		_ = unix.Munmap(mem)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		s.f.Close()
		_ = unix.Munmap(s.data)
		s.f, s.data = nil, nil
	}
}

// Populate makes the memory own the pages of [off, off+n) before they are
// written: one system call for the range (MADV_POPULATE_WRITE) instead of
// a copy-on-write fault for each page. It only saves time, so it is best
// effort: a kernel before 5.14 ignores it, and a range past the accessible
// memory is cut at its end.
func (m *Memory) Populate(off, n uint64) {
	if off >= m.size {
		return
	}
	sys := uint64(os.Getpagesize())
	end := min(off+min(n, m.size-off)+sys-1, m.size) / sys * sys
	if first := off / sys * sys; first < end {
		_ = unix.Madvise(m.mem[first:end], unix.MADV_POPULATE_WRITE)
	}
}

// Changed calls each, in address order, for every run of bytes of a
// clone's memory that differs from its snapshot (past the snapshot's end,
// from zero), in whole 8-byte words, never across an ImagePage: what an
// image of the clone must hold. Only the pages the clone owns (ownPages)
// are compared; the others are the snapshot's. run is the memory itself,
// valid until the guest runs again. It fails on a memory of
// no snapshot, or a closed one.
func (m *Memory) Changed(each func(off uint64, run []byte)) error {
	if m.snap == nil {
		return errors.New("cowmem: not a clone")
	}
	m.snap.mu.RLock()
	defer m.snap.mu.RUnlock()
	if m.snap.data == nil {
		return ErrClosed
	}
	sys := uint64(os.Getpagesize())
	return m.ownPages(m.size, func(first, end uint64) {
		changedIn(m.mem, m.snap.data, first*sys, end*sys, each)
	})
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
