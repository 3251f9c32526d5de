// Package abi is the contract between the Go host and the python.wasm guest:
// the functions each side exports, how request and result bytes cross, and
// the version both sides must agree on.
//
// The guest side lives in guest/: snakepit.c (the reactor's exports and the
// `snakepit` imports), linked into python.wasm by wasm/python.wasm.build, and
// snakepit_guest.py (request dispatch and result encoding), which the host
// embeds and hands to sp_init, so that changing it rebuilds no binary.
//
// Everything that comes from the guest is untrusted: user code runs in the
// same interpreter as the dispatcher and may replace it. Decoders here bound
// every length and count and return *Error, never panic.
package abi

import (
	"encoding/binary"
	"fmt"
	"github.com/snakepit-wasm/snakepit/internal/errkind"
)

// Version is the ABI version this package speaks; python.wasm reports its own
// through sp_abi_version, and the two must be equal. Version 2 added the tick
// import; version 3 has sp_init take the dispatcher's source from the host;
// version 4 added sp_fds_intact; version 5 has sp_run return a table of
// frame descriptors (DecodeTable) instead of framed bytes, and added
// sp_interrupt.
const Version = 5

// Guest exports.
const (
	ExportVersion    = "sp_abi_version"
	ExportInit       = "sp_init"
	ExportBuffer     = "sp_buffer"
	ExportRun        = "sp_run"
	ExportRelease    = "sp_release"
	ExportSeed       = "sp_seed"
	ExportSeedFlag   = "sp_seed_flag"
	ExportFdsIntact  = "sp_fds_intact"
	ExportInitialize = "_initialize" // wasi-libc's reactor constructor
	// ExportInterrupt makes the running request raise KeyboardInterrupt at
	// its next eval-breaker check. Only a host import may call it, during a
	// request (re-entrantly: wazero lets a host function call its caller's
	// exports); it queues the interrupt and returns.
	ExportInterrupt = "sp_interrupt"
)

// Host imports, all in module ImportModule.
const (
	ImportModule   = "snakepit"
	ImportYield    = "yield"
	ImportHostCall = "host_call"
	ImportHostTake = "host_take"
	ImportEmit     = "emit"
	// ImportTick marks the guest's own preemption points (CPython's
	// eval-breaker checks and Python frame entries). The host rewrites every
	// call to it at load time (internal/wasmedit), so it is never called.
	ImportTick = "tick"
)

// Kind selects what sp_run does with its two byte strings a and b.
type Kind int32

const (
	KindExec       Kind = 1 // a: source, run in __main__; result the value of its last statement if that is an expression; b: see below
	KindEval       Kind = 2 // a: expression; result its value; b: see below
	KindCallJSON   Kind = 3 // a: "func" or "module.func"; b: JSON list or object of arguments
	KindCallBytes  Kind = 4 // a: function name; b: raw bytes, passed as one bytes argument
	KindCallStream Kind = 5 // as KindCallJSON; each item of the returned iterable is emitted as a chunk
)

// MarshalFunction is the dispatcher's function that compiles a source as
// KindExec or KindEval does and returns its code marshalled; called with
// KindCallBytes, b is the kind's byte then the source. Only the host's own
// compiler instance calls it (runtime's code cache), whose answer may then
// come back as b of a KindExec or KindEval request of that source, for the
// guest to load instead of compiling: b is empty otherwise.
const MarshalFunction = "snakepit_guest._marshal"

// Result frame tags.
const (
	TagJSON      = 'J'
	TagBytes     = 'B'
	TagType      = 'E'
	TagMessage   = 'M'
	TagTraceback = 'T'
	// TagHostJSON is a value the host already holds as JSON: the last
	// answer of the call's HostJSON host call. Its data is empty.
	TagHostJSON = 'H'
)

// MaxFrames bounds how many frames one result may hold; the guest writes at
// most three.
const MaxFrames = 8

// A result's frames stay in guest memory, in the objects the dispatcher
// returned: sp_run returns PackPtrLen(table, size) of a table describing
// them, a little-endian uint32 count, then a uint32 tag, pointer and length
// for each frame (size is 4 + 12 × count). The table and the frames stay
// valid until the next sp_run or sp_release.
const frameSize = 12

// MaxTable is the largest frame table sp_run may describe a result with.
const MaxTable = 4 + frameSize*MaxFrames

// ErrMalformed is wrapped by every decoding error: the guest broke the contract.
var ErrMalformed = errkind.New(errkind.Crash, "malformed guest data")

// Error is a contract violation by the guest, with what was wrong.
type Error struct{ Reason string }

func (e *Error) Error() string { return "malformed guest data: " + e.Reason }

// Unwrap lets errors.Is(err, ErrMalformed) match.
func (e *Error) Unwrap() error { return ErrMalformed }

func malformed(format string, args ...any) error {
	return &Error{Reason: fmt.Sprintf(format, args...)}
}

// Result is one decoded result, copied out of guest memory.
type Result struct {
	JSON  []byte // the JSON value, if the call returned a non-bytes value
	Bytes []byte // the value, if the call returned bytes
	// HostJSON: the value is the JSON the host made during the call
	// (TagHostJSON).
	HostJSON bool
	// Set when the call raised: the exception's qualified type name, its
	// message and formatted traceback.
	ExcType, ExcMessage, Traceback []byte
}

// Raised reports whether the call ended in a Python exception.
func (r *Result) Raised() bool { return r.ExcType != nil }

// Frame is one result frame: its tag, and where its bytes are in guest
// memory.
type Frame struct {
	Tag      byte
	Ptr, Len uint32
}

// Table is a result's frames, as DecodeTable accepts them.
type Table []Frame

// DecodeTable parses a frame table. It accepts each tag at most once and
// rejects unknown tags, a value together with an exception, and a size
// that does not match the count. It looks at the tags only: Read checks
// where the frames are.
func DecodeTable(b []byte) (Table, error) {
	if len(b) < 4 || len(b) > MaxTable {
		return nil, malformed("frame table of %d bytes", len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	if n > MaxFrames {
		return nil, malformed("more than %d frames", MaxFrames)
	}
	if len(b) != 4+frameSize*int(n) {
		return nil, malformed("frame table of %d bytes for %d frames", len(b), n)
	}
	t := make(Table, n)
	var seen [256]bool
	for k := range t {
		e := b[4+frameSize*k:]
		tag := binary.LittleEndian.Uint32(e)
		switch tag {
		case TagJSON, TagBytes, TagType, TagMessage, TagTraceback, TagHostJSON:
		default:
			return nil, malformed("unknown frame tag 0x%02x", tag)
		}
		if seen[tag] {
			return nil, malformed("frame %q twice", rune(tag))
		}
		seen[tag] = true
		t[k] = Frame{Tag: byte(tag), Ptr: binary.LittleEndian.Uint32(e[4:]), Len: binary.LittleEndian.Uint32(e[8:])}
	}
	value, raised := seen[TagJSON] || seen[TagBytes] || seen[TagHostJSON], seen[TagType]
	switch {
	case seen[TagJSON] && seen[TagBytes], seen[TagHostJSON] && (seen[TagJSON] || seen[TagBytes]):
		return nil, malformed("two values")
	case !raised && (seen[TagMessage] || seen[TagTraceback]):
		return nil, malformed("exception details without a type")
	case raised && value:
		return nil, malformed("a value and an exception")
	}
	return t, nil
}

// Size is the frames' total length: what Read copies.
func (t Table) Size() uint64 {
	var n uint64
	for _, f := range t {
		if f.Tag != TagHostJSON {
			n += uint64(f.Len)
		}
	}
	return n
}

// Memory is the guest memory Read copies from (wazero's api.Memory).
type Memory interface {
	// Read returns a view of n bytes at offset, false if any is outside.
	Read(offset, n uint32) ([]byte, bool)
}

// Read copies each frame's bytes out of mem, once, into a Result; a frame
// outside mem is an *Error. Check Size against a limit first: Read copies
// whatever the table says.
func (t Table) Read(mem Memory) (Result, error) {
	var r Result
	for _, f := range t {
		if f.Tag == TagHostJSON {
			r.HostJSON = true // nothing to read
			continue
		}
		view, ok := mem.Read(f.Ptr, f.Len)
		if !ok {
			return Result{}, malformed("frame %q out of bounds (%d bytes at 0x%x)", rune(f.Tag), f.Len, f.Ptr)
		}
		// Never nil, even empty: nil means the frame is absent.
		data := append(make([]byte, 0, len(view)), view...)
		switch f.Tag {
		case TagJSON:
			r.JSON = data
		case TagBytes:
			r.Bytes = data
		case TagType:
			r.ExcType = data
		case TagMessage:
			r.ExcMessage = data
		case TagTraceback:
			r.Traceback = data
		default:
			return Result{}, malformed("unknown frame tag 0x%02x", f.Tag) // a Table DecodeTable did not make
		}
	}
	return r, nil
}

// PackPtrLen and UnpackPtrLen encode the (pointer << 32) | length values
// that sp_run and host_call return.
func PackPtrLen(hi, lo uint32) uint64 { return uint64(hi)<<32 | uint64(lo) }

// UnpackPtrLen splits a value made by PackPtrLen.
func UnpackPtrLen(v uint64) (hi, lo uint32) { return uint32(v >> 32), uint32(v) }
