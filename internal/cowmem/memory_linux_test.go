package cowmem

import (
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
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
