package abi

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func frame(tag byte, data string) []byte {
	b := []byte{tag, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:], uint32(len(data)))
	return append(b, data...)
}

func cat(fs ...[]byte) []byte {
	var b []byte
	for _, f := range fs {
		b = append(b, f...)
	}
	return b
}

func TestDecodeValues(t *testing.T) {
	r, err := Decode(nil)
	require.NoError(t, err)
	require.Nil(t, r.JSON)
	require.False(t, r.Raised())

	r, err = Decode(frame(TagJSON, `[1,2]`))
	require.NoError(t, err)
	require.Equal(t, `[1,2]`, string(r.JSON))

	r, err = Decode(frame(TagBytes, "\x00\xff"))
	require.NoError(t, err)
	require.Equal(t, []byte("\x00\xff"), r.Bytes)

	r, err = Decode(cat(frame(TagType, "ValueError"), frame(TagMessage, "bad"), frame(TagTraceback, "tb")))
	require.NoError(t, err)
	require.True(t, r.Raised())
	require.Equal(t, "ValueError", string(r.ExcType))
	require.Equal(t, "bad", string(r.ExcMessage))
	require.Equal(t, "tb", string(r.Traceback))
}

func TestDecodeRejectsMalformed(t *testing.T) {
	huge := []byte{TagJSON, 0xff, 0xff, 0xff, 0xff, '1'}
	many := cat(frame(TagJSON, "1"))
	for range MaxFrames {
		many = append(many, frame(TagTraceback, "")...)
	}
	for name, in := range map[string][]byte{
		"short header":       {TagJSON, 1, 0},
		"length past end":    huge,
		"unknown tag":        frame('Z', ""),
		"tag twice":          cat(frame(TagJSON, "1"), frame(TagJSON, "2")),
		"json and bytes":     cat(frame(TagJSON, "1"), frame(TagBytes, "2")),
		"message, no type":   frame(TagMessage, "m"),
		"value and error":    cat(frame(TagType, "E"), frame(TagJSON, "1")),
		"too many frames":    many,
		"trailing half-byte": append(frame(TagJSON, "1"), TagJSON),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(in)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrMalformed), "%v", err)
			var ae *Error
			require.ErrorAs(t, err, &ae)
		})
	}
}

func TestPackPtrLen(t *testing.T) {
	hi, lo := UnpackPtrLen(PackPtrLen(0xdeadbeef, 7))
	require.Equal(t, uint32(0xdeadbeef), hi)
	require.Equal(t, uint32(7), lo)
}

// FuzzDecode: any input decodes or fails with *Error; a success never
// points outside the input.
func FuzzDecode(f *testing.F) {
	f.Add(frame(TagJSON, `{"a":1}`))
	f.Add(cat(frame(TagType, "KeyError"), frame(TagMessage, "'x'"), frame(TagTraceback, "...")))
	f.Add([]byte{TagBytes, 3, 0, 0, 0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		total := len(r.JSON) + len(r.Bytes) + len(r.ExcType) + len(r.ExcMessage) + len(r.Traceback)
		if total > len(b) {
			t.Fatalf("decoded %d bytes from %d", total, len(b))
		}
	})
}
