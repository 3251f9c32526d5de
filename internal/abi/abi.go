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
// version 4 added sp_fds_intact.
const Version = 4

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
	KindExec       Kind = 1 // a: source, run in __main__; result the value of its last statement if that is an expression
	KindEval       Kind = 2 // a: expression; result its value
	KindCallJSON   Kind = 3 // a: "func" or "module.func"; b: JSON list or object of arguments
	KindCallBytes  Kind = 4 // a: function name; b: raw bytes, passed as one bytes argument
	KindCallStream Kind = 5 // as KindCallJSON; each item of the returned iterable is emitted as a chunk
)

// Result frame tags.
const (
	TagJSON      = 'J'
	TagBytes     = 'B'
	TagType      = 'E'
	TagMessage   = 'M'
	TagTraceback = 'T'
)

// MaxFrames bounds how many frames one result may hold; the guest writes at
// most three.
const MaxFrames = 8

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

// Result is one decoded result. The byte slices alias the input.
type Result struct {
	JSON  []byte // the JSON value, if the call returned a non-bytes value
	Bytes []byte // the value, if the call returned bytes
	// Set when the call raised: the exception's qualified type name, its
	// message and formatted traceback.
	ExcType, ExcMessage, Traceback []byte
}

// Raised reports whether the call ended in a Python exception.
func (r *Result) Raised() bool { return r.ExcType != nil }

// Decode parses result frames. It accepts each tag at most once, rejects
// unknown tags, a value together with an exception, and trailing bytes.
func Decode(b []byte) (Result, error) {
	var r Result
	for n := 0; len(b) > 0; n++ {
		if n == MaxFrames {
			return Result{}, malformed("more than %d frames", MaxFrames)
		}
		if len(b) < 5 {
			return Result{}, malformed("truncated frame header (%d bytes)", len(b))
		}
		tag, size := b[0], binary.LittleEndian.Uint32(b[1:5])
		if uint64(size) > uint64(len(b)-5) {
			return Result{}, malformed("frame %q claims %d bytes, %d left", tag, size, len(b)-5)
		}
		data := b[5 : 5+size : 5+size]
		b = b[5+size:]
		var slot *[]byte
		switch tag {
		case TagJSON:
			slot = &r.JSON
		case TagBytes:
			slot = &r.Bytes
		case TagType:
			slot = &r.ExcType
		case TagMessage:
			slot = &r.ExcMessage
		case TagTraceback:
			slot = &r.Traceback
		default:
			return Result{}, malformed("unknown frame tag 0x%02x", tag)
		}
		if *slot != nil {
			return Result{}, malformed("frame %q twice", tag)
		}
		*slot = data
	}
	if r.JSON != nil && r.Bytes != nil {
		return Result{}, malformed("both a JSON and a bytes value")
	}
	if r.ExcType == nil && (r.ExcMessage != nil || r.Traceback != nil) {
		return Result{}, malformed("exception details without a type")
	}
	if r.ExcType != nil && (r.JSON != nil || r.Bytes != nil) {
		return Result{}, malformed("a value and an exception")
	}
	return r, nil
}

// PackPtrLen and UnpackPtrLen encode the (pointer << 32) | length values
// that sp_run and host_call return.
func PackPtrLen(hi, lo uint32) uint64 { return uint64(hi)<<32 | uint64(lo) }

// UnpackPtrLen splits a value made by PackPtrLen.
func UnpackPtrLen(v uint64) (hi, lo uint32) { return uint32(v >> 32), uint32(v) }
