package abi

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// mem is guest memory as a byte slice, with api.Memory's bounds.
type mem []byte

func (m mem) Read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m)) {
		return nil, false
	}
	return m[off : off+n : off+n], true
}

// frames lays out (tag, data) pairs the way sp_run does: the data in
// memory, and a table pointing to it.
func frames(pairs ...string) (table []byte, m mem) {
	m = mem("\x00\x00\x00\x00") // nothing at address 0, as in the guest
	table = binary.LittleEndian.AppendUint32(nil, uint32(len(pairs)/2))
	for k := 0; k < len(pairs); k += 2 {
		table = binary.LittleEndian.AppendUint32(table, uint32(pairs[k][0]))
		table = binary.LittleEndian.AppendUint32(table, uint32(len(m)))
		table = binary.LittleEndian.AppendUint32(table, uint32(len(pairs[k+1])))
		m = append(m, pairs[k+1]...)
	}
	return table, m
}

func decode(table []byte, m mem) (Result, error) {
	t, err := DecodeTable(table)
	if err != nil {
		return Result{}, err
	}
	return t.Read(m)
}

func TestDecodeValues(t *testing.T) {
	r, err := decode(frames())
	require.NoError(t, err)
	require.Nil(t, r.JSON)
	require.Nil(t, r.Bytes)
	require.False(t, r.Raised())

	r, err = decode(frames("J", `[1,2]`))
	require.NoError(t, err)
	require.Equal(t, `[1,2]`, string(r.JSON))

	r, err = decode(frames("B", "\x00\xff"))
	require.NoError(t, err)
	require.Equal(t, []byte("\x00\xff"), r.Bytes)

	r, err = decode(frames("B", ""))
	require.NoError(t, err)
	require.NotNil(t, r.Bytes, "an empty bytes value is not None")

	r, err = decode(frames("E", "ValueError", "M", "bad", "T", "tb"))
	require.NoError(t, err)
	require.True(t, r.Raised())
	require.Equal(t, "ValueError", string(r.ExcType))
	require.Equal(t, "bad", string(r.ExcMessage))
	require.Equal(t, "tb", string(r.Traceback))
}

func TestReadCopiesOutOfGuestMemory(t *testing.T) {
	table, m := frames("J", `"abc"`)
	r, err := decode(table, m)
	require.NoError(t, err)
	for k := range m {
		m[k] = 0 // the next call reuses guest memory
	}
	require.Equal(t, `"abc"`, string(r.JSON))
}

func TestDecodeTableRejectsMalformed(t *testing.T) {
	table := func(words ...uint32) []byte {
		var b []byte
		for _, w := range words {
			b = binary.LittleEndian.AppendUint32(b, w)
		}
		return b
	}
	many := make([]string, 0, 2*(MaxFrames+1))
	for range MaxFrames + 1 {
		many = append(many, "T", "")
	}
	tooMany, _ := frames(many...)
	for name, in := range map[string][]byte{
		"empty":               nil,
		"short count":         {0, 0},
		"too many frames":     tooMany,
		"count past the end":  table(2, 'J', 4, 1),
		"trailing bytes":      append(table(0), 0),
		"unknown tag":         table(1, 'Z', 4, 0),
		"tag over a byte":     table(1, 0x100+'J', 4, 0),
		"tag twice":           table(2, 'J', 4, 1, 'J', 4, 1),
		"json and bytes":      table(2, 'J', 4, 1, 'B', 4, 1),
		"message, no type":    table(1, 'M', 4, 1),
		"traceback, no type":  table(1, 'T', 4, 1),
		"value and error":     table(2, 'E', 4, 1, 'J', 4, 1),
		"bytes and error":     table(2, 'B', 4, 1, 'E', 4, 1),
		"huge count":          table(0xffffffff),
		"table over MaxTable": make([]byte, MaxTable+frameSize),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeTable(in)
			require.ErrorIs(t, err, ErrMalformed)
			var ae *Error
			require.ErrorAs(t, err, &ae)
		})
	}
}

func TestReadRejectsFramesOutsideMemory(t *testing.T) {
	m := mem("0123456789")
	for name, f := range map[string]Frame{
		"past the end":   {Tag: TagJSON, Ptr: 8, Len: 3},
		"wraps around":   {Tag: TagJSON, Ptr: 0xffffffff, Len: 2},
		"huge length":    {Tag: TagBytes, Ptr: 0, Len: 0xffffffff},
		"start past end": {Tag: TagBytes, Ptr: 11, Len: 0},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Table{f}.Read(m)
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
	require.Equal(t, uint64(0xffffffff)+3, Table{{Len: 3}, {Len: 0xffffffff}}.Size())
}

func TestPackPtrLen(t *testing.T) {
	hi, lo := UnpackPtrLen(PackPtrLen(0xdeadbeef, 7))
	require.Equal(t, uint32(0xdeadbeef), hi)
	require.Equal(t, uint32(7), lo)
}

// FuzzDecode: any table decodes or fails with *Error, and so does reading
// it from any memory; a success copies no more than Size, all of it from
// inside the memory.
func FuzzDecode(f *testing.F) {
	add := func(table []byte, m mem) { f.Add(table, []byte(m)) }
	add(frames("J", `{"a":1}`))
	add(frames("E", "KeyError", "M", "'x'", "T", "..."))
	add(frames("B", "\x01\x02"))
	add(frames())
	f.Add([]byte("\x01\x00\x00\x00J\x00\x00\x00\x00\x00\x00\xf0\x05\x00\x00\x00"), []byte("12345"))
	f.Fuzz(func(t *testing.T, table, m []byte) {
		tab, err := DecodeTable(table)
		if err != nil {
			if !errors.As(err, new(*Error)) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		r, err := tab.Read(mem(m))
		if err != nil {
			if !errors.As(err, new(*Error)) {
				t.Fatalf("untyped error %v", err)
			}
			for _, f := range tab {
				if uint64(f.Ptr)+uint64(f.Len) > uint64(len(m)) {
					return
				}
			}
			t.Fatalf("every frame is inside memory, yet %v", err)
		}
		total := len(r.JSON) + len(r.Bytes) + len(r.ExcType) + len(r.ExcMessage) + len(r.Traceback)
		if uint64(total) != tab.Size() || (len(tab) > 0 && total > len(m)*len(tab)) {
			t.Fatalf("read %d bytes for a table of %d from %d", total, tab.Size(), len(m))
		}
	})
}
