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

// typeParams returns the number of parameters of every function type, and
// funcTypeShape the parameters and results of one.
func (m *module) typeParams() ([]uint32, error) {
	var params []uint32
	err := m.eachType(func(p, _ uint32) bool { params = append(params, p); return true })
	return params, err
}

func (m *module) funcTypeShape(idx uint32) (params, results uint32, err error) {
	i, found := uint32(0), false
	err = m.eachType(func(p, r uint32) bool {
		if i == idx {
			params, results, found = p, r, true
			return false
		}
		i++
		return true
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: type index %d out of range", ErrMalformed, idx)
	}
	return params, results, err
}

func (m *module) eachType(f func(params, results uint32) bool) error {
	b := m.b
	sec, ok := m.section(secType)
	if !ok {
		return nil
	}
	count, pos, err := readU32(b, sec.payload, sec.end)
	if err != nil {
		return err
	}
	for ; count > 0; count-- {
		if pos >= sec.end {
			return malformed(pos, "truncated type section")
		}
		if b[pos] != 0x60 {
			return fmt.Errorf("%w: type form 0x%02x at offset %#x", ErrUnsupported, b[pos], pos)
		}
		var params, results uint32
		if params, pos, err = skipValTypes(b, pos+1, sec.end); err != nil {
			return err
		}
		if results, pos, err = skipValTypes(b, pos, sec.end); err != nil {
			return err
		}
		if !f(params, results) {
			return nil
		}
	}
	return nil
}

// funcTypes returns the type index of every function the module defines.
func (m *module) funcTypes() ([]uint32, error) {
	sec, ok := m.section(secFunction)
	if !ok {
		return nil, nil
	}
	count, pos, err := readU32(m.b, sec.payload, sec.end)
	if err != nil {
		return nil, err
	}
	types := make([]uint32, 0, min(int(count), sec.end-pos))
	for ; count > 0; count-- {
		var t uint32
		if t, pos, err = readU32(m.b, pos, sec.end); err != nil {
			return nil, err
		}
		types = append(types, t)
	}
	return types, nil
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

// Options says what Instrument adds and where.
type Options struct {
	// YieldModule and YieldName name the imported function, of type [] -> [],
	// that a check calls when the budget runs out.
	YieldModule, YieldName string
	// TickName, if not empty, names a second import of YieldModule, of type
	// [] -> [], whose calls mark the guest's own preemption points. Each call
	// becomes a check, and in every function that has one, the loop around
	// the function's largest br_table (an interpreter's dispatch loop) is
	// left without a check: the guest promises that it cannot run long
	// without reaching a tick.
	TickName string
	// BudgetExport names the budget global Instrument adds and exports.
	BudgetExport string
	// Budget is the budget's initial value.
	Budget int32
}

// Instrument returns a copy of module with a countdown check at every loop
// header (and at every call to the tick import, which it replaces):
//
//	global.get $budget; i32.const 1; i32.sub; global.set $budget;
//	global.get $budget; i32.const 0; i32.le_s; if (empty) call $yield end
//
// $budget is a new mutable i32 global, appended after the existing globals
// and exported under o.BudgetExport. A function whose loops make no calls
// counts in a new local instead and hands the count to $budget around its
// calls and at its exits, so the count is the same.
//
// Function bodies are rewritten in place without any index renumbering:
// branches use label depths, so straight-line code inserted after the `loop`
// instruction changes nothing else. Only body sizes, the code section, and the
// global and export sections change; every other section is copied byte for
// byte. Custom sections that record code offsets, such as DWARF, are
// therefore left stale.
//
// The yield function is called with the budget at or below zero and must
// reset it through the export, or every later check will call it again.
func Instrument(module []byte, o Options) ([]byte, error) {
	if o.BudgetExport == "" || !utf8.ValidString(o.BudgetExport) {
		return nil, fmt.Errorf("wasmedit: budget export name %q must be non-empty valid UTF-8", o.BudgetExport)
	}
	m, err := parseModule(module)
	if err != nil {
		return nil, err
	}
	im, err := m.scanImports(o.YieldModule, o.YieldName)
	if err != nil {
		return nil, err
	}
	yield, err := m.nullaryImport(im, o.YieldModule, o.YieldName)
	if err != nil {
		return nil, err
	}
	tick := int64(-1)
	if o.TickName != "" {
		if tick, err = m.findNullaryImport(o.YieldModule, o.TickName); err != nil {
			return nil, err
		}
	}
	nglobals, globalsRest, err := m.globals()
	if err != nil {
		return nil, err
	}
	budget := im.globals + nglobals
	if budget < im.globals {
		return nil, fmt.Errorf("%w: too many globals", ErrMalformed)
	}
	nexports, exportsRest, err := m.exports(o.BudgetExport)
	if err != nil {
		return nil, err
	}
	code, err := m.scanCode(im.funcs, true, tick)
	if err != nil {
		return nil, err
	}
	params, err := m.typeParams()
	if err != nil {
		return nil, err
	}
	ftypes, err := m.funcTypes()
	if err != nil {
		return nil, err
	}

	var global []byte
	global = appendU32(global, nglobals+1)
	if s, ok := m.section(secGlobal); ok {
		global = append(global, m.b[globalsRest:s.end]...)
	}
	global = append(global, 0x7f, 0x01, 0x41) // i32, mutable, i32.const
	global = appendS32(global, o.Budget)
	global = append(global, 0x0b)

	var export []byte
	export = appendU32(export, nexports+1)
	if s, ok := m.section(secExport); ok {
		export = append(export, m.b[exportsRest:s.end]...)
	}
	export = appendU32(export, uint32(len(o.BudgetExport)))
	export = append(export, o.BudgetExport...)
	export = append(export, 0x03) // global
	export = appendU32(export, budget)

	var codeSec []byte
	if _, ok := m.section(secCode); ok {
		codeSec = appendU32(make([]byte, 0, len(m.b)+len(m.b)/8), uint32(len(code.bodies)))
		e := emitter{b: m.b, budget: budget, yield: yield}
		for i, bd := range code.bodies {
			local := uint64(maxLocal) // an unknown type: the engine rejects the module
			if t := ftypes[i]; int(t) < len(params) {
				local = uint64(params[t]) + bd.locals
			}
			e.buf = e.body(e.buf[:0], bd, code.sites[bd.first:bd.first+bd.n], local)
			codeSec = appendU32(codeSec, uint32(len(e.buf)))
			codeSec = append(codeSec, e.buf...)
		}
		if uint64(len(codeSec)) > 1<<32-1 {
			return nil, errors.New("wasmedit: instrumented code section exceeds 4 GiB")
		}
	}

	size := len(module)
	for _, p := range [][]byte{global, export, codeSec} {
		size += 1 + sizeU32(uint32(len(p))) + len(p)
	}
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
			out = appendSection(out, secCode, codeSec)
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

// NopCalls returns a copy of module in which every call to the imported
// function (importModule, name), of type [] -> [], is overwritten with nops
// of the same length: the module then runs as if the calls were not there,
// at no cost, with every offset unchanged.
func NopCalls(module []byte, importModule, name string) ([]byte, error) {
	m, err := parseModule(module)
	if err != nil {
		return nil, err
	}
	im, err := m.scanImports(importModule, name)
	if err != nil {
		return nil, err
	}
	tick, err := m.nullaryImport(im, importModule, name)
	if err != nil {
		return nil, err
	}
	code, err := m.scanCode(im.funcs, true, int64(tick))
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), module...)
	for _, st := range code.sites {
		if st.kind == siteTick {
			for i := st.at; i < st.at+st.del; i++ {
				out[i] = 0x01 // nop
			}
		}
	}
	return out, nil
}

func (m *module) findNullaryImport(importModule, name string) (int64, error) {
	im, err := m.scanImports(importModule, name)
	if err != nil {
		return 0, err
	}
	idx, err := m.nullaryImport(im, importModule, name)
	return int64(idx), err
}

// nullaryImport checks that the import im found is a function of type [] -> [].
func (m *module) nullaryImport(im imports, importModule, name string) (uint32, error) {
	if im.yieldKind < 0 {
		return 0, fmt.Errorf("wasmedit: module does not import %q %q; it must import it as a function of type [] -> []", importModule, name)
	}
	if im.yield < 0 {
		return 0, fmt.Errorf("wasmedit: import %q %q is not a function (import kind %d)", importModule, name, im.yieldKind)
	}
	params, results, err := m.funcTypeShape(im.yieldType)
	if err != nil {
		return 0, err
	}
	if params != 0 || results != 0 {
		return 0, fmt.Errorf("wasmedit: import %q %q has %d params and %d results; it must have type [] -> []", importModule, name, params, results)
	}
	return uint32(im.yield), nil
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

// maxLocal bounds the index of the local the budget is copied into; a body
// with more locals checks the global in place. Engines refuse far fewer.
const maxLocal = 50_000

// emitter writes instrumented function bodies.
type emitter struct {
	b             []byte
	budget, yield uint32
	buf           []byte
}

// body appends bd with its checks. A function whose loops make no calls
// keeps the budget in a new local, a register in compiled code, and hands it
// back to the global around its calls and at its exits: the count stays exact
// across calls, and a tight loop's check costs no memory access. Any other
// function (with calls in its loops, ticks, or too many locals) decrements
// the global at each check, which is cheaper than handing it over at every
// call.
func (e *emitter) body(dst []byte, bd body, sites []site, local uint64) []byte {
	b, B, Y := e.b, e.budget, e.yield
	if len(sites) == 0 || bd.loops == 0 && bd.ticks == 0 {
		return append(dst, b[bd.start:bd.end]...)
	}
	pos := bd.code
	if bd.ticks > 0 || bd.callInLoop || local >= maxLocal {
		dst = append(dst, b[bd.start:bd.code]...)
		for _, st := range sites {
			if st.skip || st.kind != siteLoop && st.kind != siteTick {
				continue
			}
			dst = append(dst, b[pos:st.at]...)
			dst = appendOp(dst, 0x23, B)                    // global.get $budget
			dst = append(dst, 0x41, 0x01, 0x6b)             // i32.const 1; i32.sub
			dst = appendOp(dst, 0x24, B)                    // global.set $budget
			dst = appendOp(dst, 0x23, B)                    // global.get $budget
			dst = append(dst, 0x41, 0x00, 0x4c, 0x04, 0x40) // i32.const 0; i32.le_s; if
			dst = append(appendOp(dst, 0x10, Y), 0x0b)      // call $yield; end
			pos = st.at + st.del
		}
		return append(dst, b[pos:bd.end]...)
	}
	L := uint32(local)
	// The locals with one more i32, then the copy of the budget.
	n, p, _ := readU32(b, bd.start, bd.code)
	dst = appendU32(dst, n+1)
	dst = append(dst, b[p:bd.code]...)
	dst = append(dst, 0x01, 0x7f)
	dst = appendOp(appendOp(dst, 0x23, B), 0x21, L) // global.get $budget; local.set $l
	for _, st := range sites {
		dst = append(dst, b[pos:st.at]...)
		switch st.kind {
		case siteLoop:
			dst = appendOp(dst, 0x20, L)                    // local.get $l
			dst = append(dst, 0x41, 0x01, 0x6b)             // i32.const 1; i32.sub
			dst = appendOp(dst, 0x22, L)                    // local.tee $l
			dst = append(dst, 0x41, 0x00, 0x4c, 0x04, 0x40) // i32.const 0; i32.le_s; if
			dst = appendOp(appendOp(dst, 0x20, L), 0x24, B) //   local.get $l; global.set $budget
			dst = appendOp(dst, 0x10, Y)                    //   call $yield
			dst = appendOp(appendOp(dst, 0x23, B), 0x21, L) //   global.get $budget; local.set $l
			dst = append(dst, 0x0b)                         // end
		case siteCall:
			dst = appendOp(appendOp(dst, 0x20, L), 0x24, B)
			dst = append(dst, b[st.at:st.at+st.del]...)
			dst = appendOp(appendOp(dst, 0x23, B), 0x21, L)
		case siteExit:
			dst = appendOp(appendOp(dst, 0x20, L), 0x24, B)
		}
		pos = st.at + st.del
	}
	return append(dst, b[pos:bd.end]...)
}

func appendOp(dst []byte, op byte, idx uint32) []byte {
	return appendU32(append(dst, op), idx)
}

// ImportsFunc reports whether module imports a function named (importModule, name).
func ImportsFunc(module []byte, importModule, name string) (bool, error) {
	m, err := parseModule(module)
	if err != nil {
		return false, err
	}
	im, err := m.scanImports(importModule, name)
	return im.yield >= 0, err
}
