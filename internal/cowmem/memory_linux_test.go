package cowmem

import (
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A copy-on-write clone owns the pages it writes and no others, reading
// included; a recycled clone owns all of its snapshot.
func TestPrivateCountsTheWrittenPages(t *testing.T) {
	sys := os.Getpagesize()
	s, data := newSnapshot(t, true)
	m, err := NewMemory(1<<20, s)
	require.NoError(t, err)
	lm := m.Allocator().Allocate(PageSize, 1<<32)
	b := lm.Reallocate(PageSize)
	require.Equal(t, data, b, "every page read")
	n, err := m.Private()
	require.NoError(t, err)
	require.Zero(t, n)

	b[0], b[1], b[PageSize+3*sys] = 1, 1, 1 // a page of data, one of a hole
	n, err = m.Private()
	require.NoError(t, err)
	require.Equal(t, uint64(2*sys), n)

	b = lm.Reallocate(uint64(len(data)) + PageSize)
	b[len(b)-1] = 1 // a page of growth
	n, err = m.Private()
	require.NoError(t, err)
	require.Equal(t, uint64(3*sys), n)

	m.Free() // kept by the recycling snapshot, and handed to the next clone
	m, err = NewMemory(1<<20, s)
	require.NoError(t, err)
	instantiate(t, m, 1<<32)
	n, err = m.Private()
	require.NoError(t, err)
	require.Equal(t, uint64(len(data)), n)
}

// A recycled clone's memory holds nothing of the clone before it: the
// snapshot is copied over, and what that one grew is zero again.
func TestRecycledMemorySeesNothingOfThePreviousClone(t *testing.T) {
	s, data := newSnapshot(t, true)
	var first unsafe.Pointer
	for round := range 3 {
		m, err := NewMemory(1<<20, s)
		require.NoError(t, err)
		lm := m.Allocator().Allocate(PageSize, 1<<32)
		b := lm.Reallocate(uint64(len(data)) + PageSize)
		if round == 0 {
			first = unsafe.Pointer(&b[0])
		}
		require.Equal(t, first, unsafe.Pointer(&b[0]), "round %d: the reservation is reused", round)
		require.Equal(t, data, b[:len(data)], "round %d", round)
		require.Equal(t, make([]byte, PageSize), b[len(data):], "round %d", round)
		for k := range b {
			b[k] = 'S'
		}
		m.Free()
	}
}

// Growth makes more of the reservation accessible: the slice never moves,
// so wazero's view of it stays valid.
func TestGrowthNeverMovesTheSlice(t *testing.T) {
	s, _ := newSnapshot(t, false)
	for _, snap := range []*Snapshot{nil, s} {
		m, err := NewMemory(64*PageSize, snap)
		require.NoError(t, err)
		lm := m.Allocator().Allocate(PageSize, 1<<32)
		b := lm.Reallocate(PageSize)
		start := unsafe.Pointer(&b[0])
		for size := uint64(len(b)); size <= 64*PageSize; size += 5 * PageSize {
			b = lm.Reallocate(size)
			require.Equal(t, start, unsafe.Pointer(&b[0]))
			b[size-1] = 1
		}
		m.Free()
	}
}

// ownedClone returns a copy-on-write clone of a snapshot of the given
// wasm pages with every page read, every stride-th system page written,
// and a page of growth past it.
func ownedClone(t testing.TB, pages, stride int) *Memory {
	data := make([]byte, pages*PageSize)
	for k := range data {
		data[k] = byte(k%251 + 1)
	}
	s, err := New(data, false)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	m, err := NewMemory(uint64(2*len(data)), s)
	require.NoError(t, err)
	t.Cleanup(m.Free)
	b := m.Allocator().Allocate(PageSize, 1<<32).Reallocate(uint64(len(data) + PageSize))
	sys := os.Getpagesize()
	sum := byte(0)
	for k := 0; k < len(data); k += sys {
		sum += b[k] // present, and still the snapshot's
	}
	for k := 0; k < len(data); k += stride * sys {
		b[k+7] += sum | 1
	}
	b[len(b)-1] = 1
	return m
}

// owned lists the pages a way of reading the page table says m owns.
func owned(t testing.TB, m *Memory, read func(*Memory, uint64, func(first, end uint64)) error) map[uint64]bool {
	pages := map[uint64]bool{}
	require.NoError(t, read(m, m.Size(), func(first, end uint64) {
		for p := first; p < end; p++ {
			pages[p] = true
		}
	}))
	return pages
}

// PAGEMAP_SCAN finds the pages the per-page table does, runs that span
// its buffer included.
func TestPagemapScanFindsThePagesThePageTableDoes(t *testing.T) {
	for _, stride := range []int{1, 2, 3, 50} {
		m := ownedClone(t, 64, stride)
		if err := m.scanPagemap(m.Size(), func(_, _ uint64) {}); err == unix.ENOTTY || err == unix.EINVAL {
			t.Skipf("this kernel has no PAGEMAP_SCAN (Linux 6.7): %v; ownPages reads the page table", err)
		}
		want := owned(t, m, (*Memory).readPagemap)
		require.Len(t, want, (64*PageSize/os.Getpagesize()+stride-1)/stride+1)
		require.Equal(t, want, owned(t, m, (*Memory).scanPagemap), "stride %d", stride)
	}
}

// BenchmarkOwnPages is the page-table read of a reset: a 32 MiB memory
// (about what a fresh interpreter's is) with 1 page in 40 written.
func BenchmarkOwnPages(b *testing.B) {
	m := ownedClone(b, 512, 40)
	for _, way := range []struct {
		name string
		read func(*Memory, uint64, func(first, end uint64)) error
	}{{"pagemap-read", (*Memory).readPagemap}, {"pagemap-scan", (*Memory).scanPagemap}} {
		b.Run(way.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				if err := way.read(m, m.Size(), func(first, end uint64) { n += int(end - first) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
