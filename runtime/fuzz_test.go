package runtime_test

// Fuzz targets for the host's handling of what the guest (or a caller)
// controls. Those with an instance keep one per fuzz worker and replace it
// only when an input breaks it.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// FuzzValidate: any request is accepted or refused with ErrBadRequest,
// never a panic, and an accepted one has the Args the guest is promised.
func FuzzValidate(f *testing.F) {
	f.Add(int32(runtime.OpCall), "f", []byte(`[1, 2]`), []byte(nil), false)
	f.Add(int32(runtime.OpStream), "gen", []byte(` {"a": 1}`), []byte(nil), true)
	f.Add(int32(runtime.OpCallBytes), "f", []byte(nil), []byte("data"), false)
	f.Add(int32(runtime.OpExec), "print(1)", []byte(`NaN`), []byte(nil), false)
	f.Add(int32(9), "", []byte(`[`), []byte{}, false)
	f.Fuzz(func(t *testing.T, op int32, code string, args, data []byte, onChunk bool) {
		req := runtime.Request{Op: runtime.Op(op), Code: code, Args: args, Data: data}
		if onChunk {
			req.OnChunk = func(json.RawMessage) error { return nil }
		}
		err := req.Validate()
		if err != nil {
			if !errors.Is(err, runtime.ErrBadRequest) {
				t.Fatalf("untyped refusal %v", err)
			}
			return
		}
		if len(args) > 0 {
			var v any
			if json.Unmarshal(args, &v) != nil {
				t.Fatalf("accepted Args that are not JSON: %q", args)
			}
			switch v.(type) {
			case []any, map[string]any:
			default:
				t.Fatalf("accepted Args that are neither a list nor an object: %q", args)
			}
		}
	})
}

// fuzzer keeps one instance per fuzz worker, cloned from a snapshot that
// has run setup, and replaces it when an input breaks it.
type fuzzer struct {
	opts  runtime.Options
	setup string
	snap  *runtime.Snapshot
	inst  *runtime.Instance
}

func (z *fuzzer) instance(t *testing.T) *runtime.Instance {
	if z.inst != nil && z.inst.Err() == nil {
		return z.inst
	}
	z.inst.Close(ctx)
	var err error
	if z.snap == nil {
		if z.snap, err = rt(t).NewSnapshot(ctx, runtime.SnapshotOptions{Options: z.opts, Setup: z.setup}); err != nil {
			t.Fatal(err)
		}
	}
	if z.inst, err = z.snap.NewInstance(ctx, runtime.CloneOptions{}); err != nil {
		t.Fatal(err)
	}
	return z.inst
}

func (z *fuzzer) close() {
	z.inst.Close(ctx)
	z.snap.Close()
}

// FuzzHostCall: the guest calls the raw _snakepit.call with any name and
// argument bytes. A host tool sees only valid JSON within MaxHostPayload,
// under its own name; everything else is a RuntimeError in the guest, and
// the instance serves on.
func FuzzHostCall(f *testing.F) {
	const maxPayload = 1024
	var called string
	tool := func(name string) runtime.HostFunc {
		return func(_ context.Context, a json.RawMessage) (any, error) {
			called = name
			if !json.Valid(a) || len(a) > maxPayload {
				return nil, errors.New("bad argument reached the tool")
			}
			return a, nil
		}
	}
	z := &fuzzer{opts: runtime.Options{
		Limits: runtime.Limits{MaxHostPayload: maxPayload, MaxHostCalls: 1 << 30},
		Host:   map[string]runtime.HostFunc{"echo": tool("echo"), "e": tool("e")},
	}, setup: `
import _snakepit
def fz(b):
    n = b[0] if b else 0
    name, arg = b[1:1 + n].decode('utf-8', 'replace'), b[1 + n:]
    try:
        return _snakepit.call(name, arg)
    except RuntimeError as e:
        if 'bad argument reached the tool' in str(e):
            raise
        return b'refused'
`}
	f.Cleanup(z.close)
	f.Add([]byte("\x04echo[1,2]"))
	f.Add([]byte("\x01e{\"a\":\"\xff\"}"))
	f.Add([]byte("\x04echo{{{"))
	f.Add([]byte("\x00"))
	f.Add([]byte("\x04echo\"" + string(make([]byte, 2000)) + "\""))
	f.Fuzz(func(t *testing.T, b []byte) {
		i := z.instance(t)
		called = ""
		res, err := i.Run(ctx, runtime.CallBytes("fz", b))
		if err != nil {
			t.Fatalf("%v", err)
		}
		if called != "" && string(res.Bytes) != "refused" && !json.Valid(res.Bytes) {
			t.Fatalf("%s answered %q", called, res.Bytes)
		}
		if i.Err() != nil {
			t.Fatalf("a host call broke the instance: %v", i.Err())
		}
	})
}

// FuzzEmit: the guest emits any bytes through the raw _snakepit.emit;
// OnChunk sees only valid JSON within MaxResult.
func FuzzEmit(f *testing.F) {
	z := &fuzzer{opts: runtime.Options{Limits: runtime.Limits{MaxResult: 4096, MaxStreamChunks: 1 << 30, MaxStreamBytes: 1 << 30}}, setup: `
import _snakepit
def fz(b):
    try:
        _snakepit.emit(b)
    except RuntimeError:
        pass
`}
	f.Cleanup(z.close)
	f.Add([]byte(`{"a":[1,2,3]}`))
	f.Add([]byte(`NaN`))
	f.Add([]byte("\"\xff\""))
	f.Add([]byte(`[` + string(make([]byte, 5000)) + `]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		i := z.instance(t)
		_, err := i.Run(ctx, runtime.Request{Op: runtime.OpCallBytes, Code: "fz", Data: b,
			OnChunk: func(c json.RawMessage) error {
				if !json.Valid(c) || len(c) > 4096 {
					t.Errorf("OnChunk got %q", c)
				}
				return nil
			}})
		// A chunk over MaxResult stops the stream: the call says so.
		if err != nil && !errors.Is(err, runtime.ErrResultTooLarge) {
			t.Fatalf("%v", err)
		}
		if i.Err() != nil {
			t.Fatalf("an emit broke the instance: %v", i.Err())
		}
	})
}

// FuzzGuestResult: the guest's dispatcher answers with any tuple of frames
// that b describes (guestFrames), well-formed or not. Run agrees with what
// sp_run accepts and abi.DecodeTable decodes: a shape sp_run refuses,
// malformed frames and invalid JSON are abi.ErrMalformed (the instance is
// broken), an exception is a *PythonError, and a value is returned as sent.
func FuzzGuestResult(f *testing.F) {
	z := &fuzzer{setup: `
import snakepit_guest as g
def fz(kind, a, b):
    out = []
    while b:
        tag, n, how, data = b[:1], int.from_bytes(b[1:4], "little"), b[4:5], b[5:5 + int.from_bytes(b[1:4], "little")]
        b = b[5 + n:]
        if len(data) < n or not how:
            out.append(tag)  # a tag without its data
        elif how == b"s":
            out += [tag, data.decode("latin-1")]
        elif how == b"a":
            out += [tag, bytearray(data)]
        elif how == b"t":
            out += [tag.decode("latin-1"), data]
        else:
            out += [tag, data]
    return tuple(out)
g._dispatch.__code__ = fz.__code__
`}
	f.Cleanup(z.close)
	frame := func(tag byte, how byte, s string) []byte {
		return append([]byte{tag, byte(len(s)), 0, 0, how}, s...)
	}
	f.Add(frame(abi.TagJSON, 0, `{"a":1}`))
	f.Add(frame(abi.TagJSON, 's', `"\u00e9"`))
	f.Add(frame(abi.TagJSON, 's', "\"\xe9\""))
	f.Add(frame(abi.TagJSON, 0, `{{{`))
	f.Add(frame(abi.TagBytes, 0, "\x00\x01"))
	f.Add(frame(abi.TagBytes, 'a', "\x00\x01"))
	f.Add(frame(abi.TagBytes, 't', "\x00\x01"))
	f.Add(append(frame(abi.TagType, 0, "KeyError"), frame(abi.TagMessage, 's', "'\xff'")...))
	f.Add([]byte{})
	f.Add([]byte("J\xff\xff\xff\x001"))
	f.Fuzz(func(t *testing.T, b []byte) {
		i := z.instance(t)
		res, err := i.Run(ctx, runtime.CallBytes("x", b))
		sent, ok := guestFrames(b)
		var want abi.Result
		var derr error
		if ok {
			want, derr = decodeFrames(sent)
		}
		var pe *runtime.PythonError
		switch {
		case !ok || derr != nil || (want.JSON != nil && !json.Valid(want.JSON)):
			if !errors.Is(err, abi.ErrMalformed) || !errors.Is(i.Err(), abi.ErrMalformed) {
				t.Fatalf("malformed result gave %v (instance: %v)", err, i.Err())
			}
		case want.Raised():
			if !errors.As(err, &pe) || pe.Type != string(want.ExcType) || pe.Message != string(want.ExcMessage) {
				t.Fatalf("exception %q gave %v", want.ExcType, err)
			}
		case err != nil:
			t.Fatalf("a valid result gave %v", err)
		case string(res.Value) != string(want.JSON) || string(res.Bytes) != string(want.Bytes) || (res.Bytes == nil) != (want.Bytes == nil):
			t.Fatalf("got %q %q, sent %q %q", res.Value, res.Bytes, want.JSON, want.Bytes)
		}
	})
}

// guestFrames is what FuzzGuestResult's dispatcher answers for b: records
// of a tag, a 3-byte length, how to send the data and the data, where how
// is s (a str of the data's bytes as code points, sent as its UTF-8), a (a
// bytearray), t (the tag as a str) or anything else (bytes); a record
// shorter than its length is a tag alone. ok is false when sp_run must
// refuse the answer.
func guestFrames(b []byte) (frames []string, ok bool) {
	ok = true
	for len(b) > 0 {
		var hdr [5]byte
		copy(hdr[:], b)
		n := int(hdr[1]) | int(hdr[2])<<8 | int(hdr[3])<<16
		short := len(b) < 5+n
		data := string(b[min(5, len(b)):min(5+n, len(b))])
		b = b[min(5+n, len(b)):]
		switch {
		case short || hdr[4] == 'a' || hdr[4] == 't':
			ok = false
		case hdr[4] == 's':
			r := []rune{}
			for _, c := range []byte(data) {
				r = append(r, rune(c))
			}
			frames = append(frames, string(hdr[0]), string(r))
		default:
			frames = append(frames, string(hdr[0]), data)
		}
	}
	return frames, ok && len(frames)/2 <= abi.MaxFrames
}

// decodeFrames lays the (tag, data) pairs out as sp_run would, and decodes
// them with abi.DecodeTable.
func decodeFrames(pairs []string) (abi.Result, error) {
	mem := guestMem{0, 0, 0, 0}
	table := binary.LittleEndian.AppendUint32(nil, uint32(len(pairs)/2))
	for k := 0; k < len(pairs); k += 2 {
		table = binary.LittleEndian.AppendUint32(table, uint32(pairs[k][0]))
		table = binary.LittleEndian.AppendUint32(table, uint32(len(mem)))
		table = binary.LittleEndian.AppendUint32(table, uint32(len(pairs[k+1])))
		mem = append(mem, pairs[k+1]...)
	}
	t, err := abi.DecodeTable(table)
	if err != nil {
		return abi.Result{}, err
	}
	return t.Read(mem)
}

type guestMem []byte

func (m guestMem) Read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m)) {
		return nil, false
	}
	return m[off : off+n], true
}
