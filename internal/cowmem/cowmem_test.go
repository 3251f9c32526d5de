package cowmem

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// snapshotData is four wasm pages: a pattern, a zero page (a hole in the
// snapshot's file), and the pattern again.
func snapshotData() []byte {
	data := make([]byte, 4*PageSize)
	for k := range data {
		if k/PageSize != 1 {
			data[k] = byte(k*7 + 1)
		}
	}
	return data
}

func newSnapshot(t *testing.T, recycle bool) (*Snapshot, []byte) {
	data := snapshotData()
	s, err := New(data, recycle)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s, data
}

// instantiate does what wazero does with a memory: allocate it under the
// module's maximum, then reallocate it to the module's minimum (one page).
func instantiate(t *testing.T, m *Memory, maxBytes uint64) []byte {
	t.Cleanup(m.Free)
	b := m.Allocator().Allocate(PageSize, maxBytes).Reallocate(PageSize)
	require.NotNil(t, b)
	return b
}

func clone(t *testing.T, s *Snapshot) []byte {
	m, err := NewMemory(1<<20, s)
	require.NoError(t, err)
	return instantiate(t, m, 1<<32)
}

func TestCloneSeesTheSnapshotAndKeepsItsWritesPrivate(t *testing.T) {
	for _, recycle := range []bool{false, true} {
		s, data := newSnapshot(t, recycle)
		a, b := clone(t, s), clone(t, s)
		require.Equal(t, data, a, "recycle %v", recycle)
		a[0], a[PageSize+5], a[len(a)-1] = 0xAA, 0xBB, 0xCC
		require.Equal(t, data, b, "recycle %v: a clone sees another's writes", recycle)
		require.Equal(t, data, clone(t, s), "recycle %v: a new clone sees an older one's writes", recycle)
		require.Equal(t, snapshotData(), data, "the caller's slice is not the snapshot")
	}
}

func TestRestoreBringsBackTheSnapshotUnlessTheMemoryGrew(t *testing.T) {
	for _, recycle := range []bool{false, true} {
		s, data := newSnapshot(t, recycle)
		m, err := NewMemory(1<<20, s)
		require.NoError(t, err)
		lm := m.Allocator().Allocate(PageSize, 1<<32)
		t.Cleanup(m.Free)
		b := lm.Reallocate(PageSize)
		b[3], b[2*PageSize] = 1, 2
		ok, err := m.Restore()
		require.NoError(t, err)
		require.True(t, ok, "recycle %v", recycle)
		require.Equal(t, data, b, "recycle %v", recycle)

		b[3] = 1
		grown := lm.Reallocate(uint64(len(data)) + PageSize)
		require.NotNil(t, grown)
		ok, err = m.Restore()
		require.NoError(t, err)
		require.False(t, ok, "recycle %v: a memory grown past its snapshot cannot be restored", recycle)
		require.Equal(t, byte(1), grown[3], "a refused restore changes nothing")
	}
}

func TestRestoreRefusesAMemoryOfNoSnapshot(t *testing.T) {
	m, err := NewMemory(1<<20, nil)
	require.NoError(t, err)
	instantiate(t, m, 1<<32)
	ok, err := m.Restore()
	require.NoError(t, err)
	require.False(t, ok)
}

func TestGrowthStopsAtTheLimit(t *testing.T) {
	m, err := NewMemory(4*PageSize, nil)
	require.NoError(t, err)
	lm := m.Allocator().Allocate(PageSize, 1<<32)
	t.Cleanup(m.Free)
	b := lm.Reallocate(4 * PageSize)
	require.Len(t, b, 4*PageSize)
	require.True(t, bytes.Equal(b, make([]byte, 4*PageSize)), "new memory is zero")
	require.False(t, m.HitLimit())
	require.Nil(t, lm.Reallocate(5*PageSize))
	require.True(t, m.HitLimit())
	m.ClearHitLimit()
	require.False(t, m.HitLimit())
	require.Len(t, lm.Reallocate(4*PageSize), 4*PageSize, "a refused growth changes nothing")
	require.False(t, m.HitLimit())

	// The module's own maximum caps it too.
	m, err = NewMemory(4*PageSize, nil)
	require.NoError(t, err)
	lm = m.Allocator().Allocate(PageSize, 2*PageSize)
	t.Cleanup(m.Free)
	require.NotNil(t, lm.Reallocate(2*PageSize))
	require.Nil(t, lm.Reallocate(3*PageSize))
	require.True(t, m.HitLimit())
}

// A clone holds its snapshot whatever its limit; it grows no further.
func TestACloneLimitBelowTheSnapshotIsTheSnapshot(t *testing.T) {
	s, data := newSnapshot(t, false)
	m, err := NewMemory(PageSize, s)
	require.NoError(t, err)
	lm := m.Allocator().Allocate(PageSize, 1<<32)
	t.Cleanup(m.Free)
	require.Equal(t, data, lm.Reallocate(PageSize))
	require.Nil(t, lm.Reallocate(uint64(len(data))+PageSize))
	require.True(t, m.HitLimit())
}

func TestCloseKeepsClonesAndRefusesNewOnes(t *testing.T) {
	for _, recycle := range []bool{false, true} {
		s, data := newSnapshot(t, recycle)
		m, err := NewMemory(1<<20, s)
		require.NoError(t, err)
		b := instantiate(t, m, 1<<32)
		b[0] = 9
		s.Close()
		s.Close()
		require.Equal(t, data[1:], b[1:], "recycle %v: a clone outlives its snapshot", recycle)
		b[1] = 9
		require.Equal(t, byte(9), b[1])
		_, err = NewMemory(1<<20, s)
		require.ErrorIs(t, err, ErrClosed, "recycle %v", recycle)
		ok, err := m.Restore()
		require.NoError(t, err)
		require.False(t, ok, "recycle %v: nothing to restore from", recycle)
		m.Free()
		m.Free()
	}
}

// Close may run while clones are being made: each must come out whole, with
// the snapshot's content, or fail with ErrClosed.
func TestSnapshotCloseRacingNewMemory(t *testing.T) {
	for round := range 20 {
		for _, recycle := range []bool{false, true} {
			s, err := New(snapshotData(), recycle)
			require.NoError(t, err)
			errs := make([]error, 4)
			var wg sync.WaitGroup
			for k := range errs {
				wg.Go(func() {
					for {
						m, err := NewMemory(1<<20, s)
						if err != nil {
							errs[k] = err
							return
						}
						b := m.Allocator().Allocate(PageSize, 1<<32).Reallocate(PageSize)
						if !bytes.Equal(b, snapshotData()) {
							errs[k] = errors.New("a clone does not hold its snapshot")
							m.Free()
							return
						}
						b[0] = 0
						m.Free()
					}
				})
			}
			time.Sleep(time.Duration(round) * 50 * time.Microsecond)
			s.Close()
			wg.Wait()
			for _, err := range errs {
				require.ErrorIs(t, err, ErrClosed, "round %d, recycle %v", round, recycle)
			}
		}
	}
}

// Changed finds the words a clone changed, written or grown, and no
// others: not those it wrote back to the snapshot's content, nor growth
// left zero.
func TestChangedFindsTheWordsThatDifferFromTheSnapshot(t *testing.T) {
	type run struct {
		Off  uint64
		Data []byte
	}
	for _, recycle := range []bool{false, true} {
		s, data := newSnapshot(t, recycle)
		m, err := NewMemory(1<<20, s)
		require.NoError(t, err)
		lm := m.Allocator().Allocate(PageSize, 1<<32)
		t.Cleanup(m.Free)
		b := lm.Reallocate(uint64(len(data)) + 2*PageSize)
		b[5] = ^b[5] // page 0
		b[6] = ^b[6]
		b[17] = ^b[17]                                                        // the next word but one
		b[PageSize+ImagePage+1] = 1                                           // a page of the hole
		b[2*PageSize] = data[2*PageSize]                                      // written, but unchanged
		b[2*ImagePage-1], b[2*ImagePage] = ^b[2*ImagePage-1], ^b[2*ImagePage] // two words across a page's end
		b[len(data)+PageSize+ImagePage] = 7                                   // growth
		var runs []run
		require.NoError(t, m.Changed(func(off uint64, r []byte) {
			runs = append(runs, run{off, bytes.Clone(r)})
		}))
		word := func(off uint64) run { return run{off, bytes.Clone(b[off : off+8])} }
		require.Equal(t, []run{word(0), word(16), word(2*ImagePage - 8), word(2 * ImagePage),
			word(PageSize + ImagePage), word(uint64(len(data)) + PageSize + ImagePage)}, runs, "recycle %v", recycle)
	}
	m, err := NewMemory(1<<20, nil)
	require.NoError(t, err)
	instantiate(t, m, 1<<32)
	require.Error(t, m.Changed(func(uint64, []byte) {}), "a memory of no snapshot has no image")
}
