// Package wasmedit rewrites WebAssembly binary modules in the few ways the
// sandbox needs at load time: counting loop iterations, the guest's own
// preemption points (calls to a tick import) and the bytes of bulk memory
// operations so long-running guest code yields to the host, turning those
// tick calls into nops where nothing counts, wrapping WASI imports so that
// huge paths never reach the host and the host can return errnos its WASI
// layer cannot, and dropping data segments so a memory snapshot can be
// restored in their place.
//
// Edits never renumber functions, globals or types: new items are appended
// at the end of their index space, so every section that is not edited is
// copied byte for byte. Function bodies are decoded instruction by
// instruction (core wasm plus the sign-extension, multi-value,
// reference-types, saturating-truncation, bulk-memory and SIMD proposals),
// because telling a `loop` opcode from an immediate byte needs a full decode.
// The package does not validate types: a module that a runtime would reject
// may still be rewritten, and the result will be rejected the same way.
package wasmedit

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed is wrapped by errors about input that is not a well-formed binary module.
	ErrMalformed = errors.New("wasmedit: malformed module")
	// ErrUnsupported is wrapped by errors about well-formed input that uses a feature this package does not decode.
	ErrUnsupported = errors.New("wasmedit: unsupported feature")
)

// Section ids from the binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

// sectionRank gives the position a known section must take in a module; the
// binary format numbers DataCount after Data but places it before Code.
var sectionRank = [...]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secGlobal: 6, secExport: 7, secStart: 8, secElement: 9, secDataCount: 10,
	secCode: 11, secData: 12,
}

var header = [8]byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

type section struct {
	id      byte
	start   int // offset of the id byte
	payload int // offset of the first payload byte
	end     int // offset just past the payload
}

// module is the section layout of a binary module; all offsets point into b.
type module struct {
	b        []byte
	sections []section
	known    [secDataCount + 1]int // index+1 into sections by id, 0 when absent
}

func malformed(off int, format string, args ...any) error {
	return fmt.Errorf("%w: offset %#x: %s", ErrMalformed, off, fmt.Sprintf(format, args...))
}

func parseModule(b []byte) (*module, error) {
	if len(b) < len(header) || [8]byte(b[:8]) != header {
		return nil, fmt.Errorf("%w: not a version 1 binary module (bad magic or version)", ErrMalformed)
	}
	m := &module{b: b, sections: make([]section, 0, 16)}
	lastRank := 0
	for pos := len(header); pos < len(b); {
		id := b[pos]
		size, p, err := readU32(b, pos+1, len(b))
		if err != nil {
			return nil, err
		}
		if uint64(size) > uint64(len(b)-p) {
			return nil, malformed(pos, "section %d size %d runs past the end of the module", id, size)
		}
		s := section{id: id, start: pos, payload: p, end: p + int(size)}
		if id != secCustom {
			if int(id) >= len(sectionRank) || sectionRank[id] == 0 {
				return nil, fmt.Errorf("%w: section id %d at offset %#x", ErrUnsupported, id, pos)
			}
			if sectionRank[id] <= lastRank {
				return nil, malformed(pos, "section %d is out of order or repeated", id)
			}
			lastRank = sectionRank[id]
			m.known[id] = len(m.sections) + 1
		}
		m.sections = append(m.sections, s)
		pos = s.end
	}
	return m, nil
}

// section returns the known section with the given id.
func (m *module) section(id byte) (section, bool) {
	if i := m.known[id]; i != 0 {
		return m.sections[i-1], true
	}
	return section{}, false
}

// vecCount reads the element count that starts every vector-shaped section.
func (m *module) vecCount(id byte) (count uint32, next int, err error) {
	s, ok := m.section(id)
	if !ok {
		return 0, 0, nil
	}
	return readU32(m.b, s.payload, s.end)
}

// readU32 decodes an unsigned LEB128 value of at most 32 bits.
func readU32(b []byte, pos, end int) (uint32, int, error) {
	if pos < end && b[pos] < 0x80 {
		return uint32(b[pos]), pos + 1, nil
	}
	return readU32Slow(b, pos, end)
}

func readU32Slow(b []byte, pos, end int) (uint32, int, error) {
	start := pos
	var v uint32
	for shift := uint(0); ; shift += 7 {
		if pos >= end {
			return 0, pos, malformed(start, "truncated LEB128")
		}
		c := b[pos]
		pos++
		if shift == 28 && c > 0x0f {
			return 0, pos, malformed(start, "LEB128 overflows 32 bits")
		}
		v |= uint32(c&0x7f) << shift
		if c < 0x80 {
			return v, pos, nil
		}
	}
}

// skipLEB steps over a LEB128 value of at most max bytes without decoding it;
// the runtime that later validates the output checks its range.
func skipLEB(b []byte, pos, end, max int) (int, error) {
	start := pos
	for n := 0; n < max; n++ {
		if pos >= end {
			return pos, malformed(start, "truncated LEB128")
		}
		c := b[pos]
		pos++
		if c < 0x80 {
			return pos, nil
		}
	}
	return pos, malformed(start, "LEB128 longer than %d bytes", max)
}

// skipName steps over a length-prefixed byte string and returns it.
func skipName(b []byte, pos, end int) ([]byte, int, error) {
	n, p, err := readU32(b, pos, end)
	if err != nil {
		return nil, p, err
	}
	if uint64(n) > uint64(end-p) {
		return nil, p, malformed(pos, "name of %d bytes runs past its section", n)
	}
	return b[p : p+int(n)], p + int(n), nil
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func sizeU32(v uint32) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func appendSection(b []byte, id byte, payload []byte) []byte {
	b = append(b, id)
	b = appendU32(b, uint32(len(payload)))
	return append(b, payload...)
}
