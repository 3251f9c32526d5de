// Package cowmem is the linear memory of wasm instances, handed to wazero
// through its experimental allocator, and the snapshots that clones start
// from. It knows nothing of Python.
//
// What it promises, on Linux:
//   - A Memory is a reservation of its whole cap, inaccessible until the
//     guest grows into it: growth never moves the slice, and growth past the
//     cap fails inside the guest (memory.grow returns -1) and sets HitLimit,
//     instead of harming the host; the memory stays as it was.
//   - A Snapshot is written once into a sealed memfd, its zero pages left as
//     holes. A clone maps it copy-on-write over the start of its
//     reservation: it shares the snapshot's pages until it writes them, and
//     owns only those it wrote (Private counts them).
//   - Restore gives a clone its snapshot's content again, in place: only the
//     pages it wrote are copied back, and they stay in memory. A memory that
//     grew past its snapshot is refused (wazero cannot shrink one).
//   - A recycling snapshot keeps the reservations of freed clones and fills
//     the next clone's by copying: no page faults in its first call, for
//     the snapshot's size in memory per clone.
//   - Close releases the snapshot: clones made keep working, a clone being
//     mapped is waited for, and later ones fail with ErrClosed.
//
// Elsewhere a Memory is a Go slice, grown by reallocating, and a clone
// copies its snapshot: the cap holds, nothing is shared.
//
// Measured on a 2-core VM (RATIONALE.md has the method): a clone that maps
// its snapshot was ready in about 0.7 ms, one that copies it (about 20 MiB)
// in a few.
// A worker that is a clone costs 1.0 MiB of marginal PSS idle and 1.4 MiB
// after a small call, against 6.6 MiB for an interpreter of its own. Reset
// in place, a copy-on-write clone took 133 µs p50 (444 µs p99) per reset
// and call, a recycled one 360 µs (it copies the whole snapshot back),
// against 857 µs for a new recycled clone and 3.5 ms for a new
// copy-on-write one (its page faults, 0.1-0.3 ms each under load). About
// 70 µs of a reset is reading the page table and copying the pages the
// clone owns (0.4 MiB after thousands of small calls).
package cowmem

import (
	"encoding/binary"
	"errors"
)

// PageSize is a wasm page: memories grow by whole pages.
const PageSize = 65536

// ErrClosed means a clone was asked of a closed Snapshot.
var ErrClosed = errors.New("cowmem: snapshot closed")

// HitLimit reports whether the guest asked to grow past the cap (or growth
// failed) since the memory was made or ClearHitLimit last called: the call
// that did so saw memory.grow fail, which a guest may survive (CPython
// raises MemoryError).
func (m *Memory) HitLimit() bool { return m.hitLimit }

// ClearHitLimit starts HitLimit afresh, before a call. It must not run
// while the guest does.
func (m *Memory) ClearHitLimit() { m.hitLimit = false }

// ImagePage is the unit in which a memory image is compared with its
// snapshot (see Memory.Changed): equal pages are skipped whole, the same
// size on every system (whose own pages may be larger).
const ImagePage = 4096

// diffWord is the unit of the runs Changed reports: a wasm32 pointer or
// refcount fits one, and a run costs its caller a few bytes of header, so
// that splitting at every equal word loses nothing worth the scan.
const diffWord = 8

// changedIn calls each for every run of diffWord-sized words of
// mem[first:end] that differ from snap (past snap's end, from zero, what
// growth starts as). Runs do not cross an ImagePage.
func changedIn(mem, snap []byte, first, end uint64, each func(off uint64, run []byte)) {
	var zero [ImagePage]byte
	for off := first; off < end; off += ImagePage {
		page := mem[off : off+ImagePage]
		base := zero[:]
		if off+ImagePage <= uint64(len(snap)) {
			base = snap[off : off+ImagePage]
		}
		if string(page) == string(base) {
			continue
		}
		start := -1 // of the current run
		for w := 0; w < ImagePage; w += diffWord {
			same := binary.LittleEndian.Uint64(page[w:]) == binary.LittleEndian.Uint64(base[w:])
			switch {
			case !same && start < 0:
				start = w
			case same && start >= 0:
				each(off+uint64(start), page[start:w])
				start = -1
			}
		}
		if start >= 0 {
			each(off+uint64(start), page[start:])
		}
	}
}
