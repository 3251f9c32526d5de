package wasmedit

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// imports summarises the import section.
type imports struct {
	funcs, globals uint32
	// yield is the function index of the import named by the caller, -1 if absent.
	yield     int64
	yieldType uint32
	// yieldKind is the import kind found under the caller's name, -1 if absent.
	yieldKind int
}

func (m *module) scanImports(modName, name string) (imports, error) {
	b := m.b
	im := imports{yield: -1, yieldKind: -1}
	sec, ok := m.section(secImport)
	if !ok {
		return im, nil
	}
	count, pos, err := readU32(b, sec.payload, sec.end)
	if err != nil {
		return im, err
	}
	for ; count > 0; count-- {
		var mod, field []byte
		if mod, pos, err = skipName(b, pos, sec.end); err != nil {
			return im, err
		}
		if field, pos, err = skipName(b, pos, sec.end); err != nil {
			return im, err
		}
		if pos+1 >= sec.end {
			return im, malformed(pos, "truncated import")
		}
		kind := b[pos]
		pos++
		match := string(mod) == modName && string(field) == name
		if match && im.yieldKind < 0 {
			im.yieldKind = int(kind)
		}
		switch kind {
		case 0x00: // function
			var typ uint32
			if typ, pos, err = readU32(b, pos, sec.end); err != nil {
				return im, err
			}
			if match && im.yield < 0 {
				im.yield, im.yieldType = int64(im.funcs), typ
			}
			im.funcs++
		case 0x01: // table: reference type, limits
			if b[pos] != 0x70 && b[pos] != 0x6f {
				return im, malformed(pos, "table element type 0x%02x", b[pos])
			}
			pos, err = skipLimits(b, pos+1, sec.end)
		case 0x02: // memory: limits
			pos, err = skipLimits(b, pos, sec.end)
		case 0x03: // global: value type, mutability
			if pos+1 >= sec.end || !isValType(b[pos]) || b[pos+1] > 1 {
				return im, malformed(pos, "bad global import type")
			}
			pos += 2
			im.globals++
		default:
			return im, fmt.Errorf("%w: import kind %d at offset %#x", ErrUnsupported, kind, pos-1)
		}
		if err != nil {
			return im, err
		}
	}
	if pos != sec.end {
		return im, malformed(pos, "bytes after the last import")
	}
	return im, nil
}

func skipLimits(b []byte, pos, end int) (int, error) {
	if pos >= end {
		return pos, malformed(pos, "truncated limits")
	}
	flags := b[pos]
	if flags > 7 { // bit 0: has max, bit 1: shared, bit 2: 64-bit
		return pos, malformed(pos, "limits flags 0x%02x", flags)
	}
	pos, err := skipLEB(b, pos+1, end, 10)
	if err == nil && flags&1 != 0 {
		pos, err = skipLEB(b, pos, end, 10)
	}
	return pos, err
}

// funcTypeShape returns the number of parameters and results of type idx.
func (m *module) funcTypeShape(idx uint32) (params, results uint32, err error) {
	b := m.b
	sec, ok := m.section(secType)
	if !ok {
		return 0, 0, fmt.Errorf("%w: type %d referenced but there is no type section", ErrMalformed, idx)
	}
	count, pos, err := readU32(b, sec.payload, sec.end)
	if err != nil {
		return 0, 0, err
	}
	if idx >= count {
		return 0, 0, fmt.Errorf("%w: type index %d out of range", ErrMalformed, idx)
	}
	for i := uint32(0); ; i++ {
		if pos >= sec.end {
			return 0, 0, malformed(pos, "truncated type section")
		}
		if b[pos] != 0x60 {
			return 0, 0, fmt.Errorf("%w: type form 0x%02x at offset %#x", ErrUnsupported, b[pos], pos)
		}
		if params, pos, err = skipValTypes(b, pos+1, sec.end); err != nil {
			return 0, 0, err
		}
		if results, pos, err = skipValTypes(b, pos, sec.end); err != nil {
			return 0, 0, err
		}
		if i == idx {
			return params, results, nil
		}
	}
}

func skipValTypes(b []byte, pos, end int) (uint32, int, error) {
	n, p, err := readU32(b, pos, end)
	if err != nil {
		return 0, p, err
	}
	if uint64(n) > uint64(end-p) {
		return 0, p, malformed(p, "truncated value types")
	}
	for _, c := range b[p : p+int(n)] {
		if !isValType(c) {
			return 0, p, malformed(p, "value type 0x%02x", c)
		}
	}
	return n, p + int(n), nil
}

// InstrumentLoops returns a copy of module in which every `loop` header starts with a countdown check:
//
//	global.get $budget; i32.const 1; i32.sub; global.set $budget;
//	global.get $budget; i32.const 0; i32.le_s; if (empty) call $yield end
//
// $budget is a new mutable i32 global, initialised to initial, appended after the existing globals
// and exported under the name budgetExport. $yield is the function imported as (yieldModule, yieldName),
// which must already exist in the module's import section with type [] -> [].
//
// Function bodies are rewritten in place without any index renumbering: branches use label depths,
// so straight-line code inserted after the `loop` instruction changes nothing else. Only body sizes,
// the code section, and the global and export sections change; every other section is copied byte for
// byte. Custom sections that record code offsets, such as DWARF, are therefore left stale.
//
// The yield function is called with the budget at or below zero and must reset it through the
// export, or every later loop header will call it again.
func InstrumentLoops(module []byte, yieldModule, yieldName, budgetExport string, initial int32) ([]byte, error) {
	if budgetExport == "" || !utf8.ValidString(budgetExport) {
		return nil, fmt.Errorf("wasmedit: budget export name %q must be non-empty valid UTF-8", budgetExport)
	}
	m, err := parseModule(module)
	if err != nil {
		return nil, err
	}
	im, err := m.scanImports(yieldModule, yieldName)
	if err != nil {
		return nil, err
	}
	if im.yieldKind < 0 {
		return nil, fmt.Errorf("wasmedit: module does not import %q %q; it must import it as a function of type [] -> []", yieldModule, yieldName)
	}
	if im.yield < 0 {
		return nil, fmt.Errorf("wasmedit: import %q %q is not a function (import kind %d)", yieldModule, yieldName, im.yieldKind)
	}
	params, results, err := m.funcTypeShape(im.yieldType)
	if err != nil {
		return nil, err
	}
	if params != 0 || results != 0 {
		return nil, fmt.Errorf("wasmedit: import %q %q has %d params and %d results; it must have type [] -> []", yieldModule, yieldName, params, results)
	}
	nglobals, globalsRest, err := m.globals()
	if err != nil {
		return nil, err
	}
	budget := im.globals + nglobals
	if budget < im.globals {
		return nil, fmt.Errorf("%w: too many globals", ErrMalformed)
	}
	nexports, exportsRest, err := m.exports(budgetExport)
	if err != nil {
		return nil, err
	}
	code, err := m.scanCode(im.funcs, true)
	if err != nil {
		return nil, err
	}

	var inject []byte
	inject = append(inject, 0x23) // global.get
	inject = appendU32(inject, budget)
	inject = append(inject, 0x41, 0x01, 0x6b, 0x24) // i32.const 1; i32.sub; global.set
	inject = appendU32(inject, budget)
	inject = append(inject, 0x23)
	inject = appendU32(inject, budget)
	inject = append(inject, 0x41, 0x00, 0x4c, 0x04, 0x40, 0x10) // i32.const 0; i32.le_s; if; call
	inject = appendU32(inject, uint32(im.yield))
	inject = append(inject, 0x0b) // end

	var global []byte
	global = appendU32(global, nglobals+1)
	if s, ok := m.section(secGlobal); ok {
		global = append(global, m.b[globalsRest:s.end]...)
	}
	global = append(global, 0x7f, 0x01, 0x41) // i32, mutable, i32.const
	global = appendS32(global, initial)
	global = append(global, 0x0b)

	var export []byte
	export = appendU32(export, nexports+1)
	if s, ok := m.section(secExport); ok {
		export = append(export, m.b[exportsRest:s.end]...)
	}
	export = appendU32(export, uint32(len(budgetExport)))
	export = append(export, budgetExport...)
	export = append(export, 0x03) // global
	export = appendU32(export, budget)

	codeSize := sizeU32(uint32(len(code.bodies)))
	for _, bd := range code.bodies {
		n := bd.end - bd.start + bd.loops*len(inject)
		codeSize += sizeU32(uint32(n)) + n
	}
	if uint64(codeSize) > 1<<32-1 {
		return nil, errors.New("wasmedit: instrumented code section exceeds 4 GiB")
	}

	// Sized exactly up to LEB lengths, so the appends below never reallocate.
	size := len(module) + 2*(1+5) + len(global) + len(export) + 1 + 5 + codeSize
	for _, s := range m.sections {
		if s.id == secGlobal || s.id == secExport || s.id == secCode {
			size -= s.end - s.start
		}
	}
	out := make([]byte, 0, size)
	out = append(out, header[:]...)
	wroteGlobal, wroteExport := false, false
	for _, s := range m.sections {
		if s.id != secCustom {
			if !wroteGlobal && sectionRank[s.id] >= sectionRank[secGlobal] {
				out = appendSection(out, secGlobal, global)
				wroteGlobal = true
			}
			if !wroteExport && sectionRank[s.id] >= sectionRank[secExport] {
				out = appendSection(out, secExport, export)
				wroteExport = true
			}
		}
		switch s.id {
		case secGlobal, secExport:
		case secCode:
			out = code.appendInstrumented(out, m.b, inject, codeSize)
		default:
			out = append(out, m.b[s.start:s.end]...)
		}
	}
	if !wroteGlobal {
		out = appendSection(out, secGlobal, global)
	}
	if !wroteExport {
		out = appendSection(out, secExport, export)
	}
	return out, nil
}

// globals returns the number of globals the module defines and the offset of the first one.
func (m *module) globals() (count uint32, rest int, err error) {
	b := m.b
	sec, ok := m.section(secGlobal)
	if !ok {
		return 0, 0, nil
	}
	count, rest, err = readU32(b, sec.payload, sec.end)
	if err != nil {
		return 0, 0, err
	}
	pos := rest
	var s codeScan
	for i := count; i > 0; i-- {
		if pos+1 >= sec.end || !isValType(b[pos]) || b[pos+1] > 1 {
			return 0, 0, malformed(pos, "bad global type")
		}
		if pos, err = s.expr(b, pos+2, sec.end); err != nil {
			return 0, 0, err
		}
	}
	if pos != sec.end {
		return 0, 0, malformed(pos, "bytes after the last global")
	}
	return count, rest, nil
}

// exports returns the export count and the offset of the first entry, and
// fails if name is already exported.
func (m *module) exports(name string) (count uint32, rest int, err error) {
	b := m.b
	sec, ok := m.section(secExport)
	if !ok {
		return 0, 0, nil
	}
	count, rest, err = readU32(b, sec.payload, sec.end)
	if err != nil {
		return 0, 0, err
	}
	pos := rest
	for i := count; i > 0; i-- {
		var field []byte
		if field, pos, err = skipName(b, pos, sec.end); err != nil {
			return 0, 0, err
		}
		if string(field) == name {
			return 0, 0, fmt.Errorf("wasmedit: module already exports %q", name)
		}
		if pos >= sec.end || b[pos] > 3 {
			return 0, 0, malformed(pos, "bad export kind")
		}
		if pos, err = skipU32(b, pos+1, sec.end); err != nil {
			return 0, 0, err
		}
	}
	if pos != sec.end {
		return 0, 0, malformed(pos, "bytes after the last export")
	}
	return count, rest, nil
}

// appendInstrumented writes the code section with inject after every loop header.
func (s *codeScan) appendInstrumented(out, b, inject []byte, size int) []byte {
	out = append(out, secCode)
	out = appendU32(out, uint32(size))
	out = appendU32(out, uint32(len(s.bodies)))
	loops := s.loops
	for _, bd := range s.bodies {
		out = appendU32(out, uint32(bd.end-bd.start+bd.loops*len(inject)))
		pos := bd.start
		for _, at := range loops[:bd.loops] {
			out = append(out, b[pos:at]...)
			out = append(out, inject...)
			pos = at
		}
		loops = loops[bd.loops:]
		out = append(out, b[pos:bd.end]...)
	}
	return out
}
