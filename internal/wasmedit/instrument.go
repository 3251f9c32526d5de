package wasmedit

import (
	"bytes"
	"cmp"
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
	list      []funcImport // the imported functions, by function index
}

type funcImport struct {
	module, name []byte
	typ          uint32
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
	// Every import takes at least four bytes, which bounds the allocation for hostile counts.
	im.list = make([]funcImport, 0, min(int(count), (sec.end-pos)/4))
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
			im.list = append(im.list, funcImport{module: mod, name: field, typ: typ})
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

// funcType is a function type: its parameter and result value types.
type funcType struct{ params, results []byte }

// types returns every function type, and funcTypeShape the number of
// parameters and results of one.
func (m *module) types() ([]funcType, error) {
	var types []funcType
	err := m.eachType(func(t funcType) bool { types = append(types, t); return true })
	return types, err
}

func (m *module) funcTypeShape(idx uint32) (params, results uint32, err error) {
	i, found := uint32(0), false
	err = m.eachType(func(t funcType) bool {
		if i == idx {
			params, results, found = uint32(len(t.params)), uint32(len(t.results)), true
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

// typeIndex returns the index of the first type equal to (params) ->
// (results) and, if there is none, the type section with it appended.
func (m *module) typeIndex(types []funcType, params, results []byte) (uint32, []byte, error) {
	for i, t := range types {
		if bytes.Equal(t.params, params) && bytes.Equal(t.results, results) {
			return uint32(i), nil, nil
		}
	}
	count, rest, err := m.vecCount(secType)
	if err != nil {
		return 0, nil, err
	}
	p := appendU32(nil, count+1)
	if s, ok := m.section(secType); ok {
		p = append(p, m.b[rest:s.end]...)
	}
	p = append(appendU32(append(p, 0x60), uint32(len(params))), params...)
	p = append(appendU32(p, uint32(len(results))), results...)
	return count, p, nil
}

func (m *module) eachType(f func(funcType) bool) error {
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
		var t funcType
		if t.params, pos, err = skipValTypes(b, pos+1, sec.end); err != nil {
			return err
		}
		if t.results, pos, err = skipValTypes(b, pos, sec.end); err != nil {
			return err
		}
		if !f(t) {
			return nil
		}
	}
	if pos != sec.end {
		return malformed(pos, "bytes after the last type")
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

func skipValTypes(b []byte, pos, end int) ([]byte, int, error) {
	n, p, err := readU32(b, pos, end)
	if err != nil {
		return nil, p, err
	}
	if uint64(n) > uint64(end-p) {
		return nil, p, malformed(p, "truncated value types")
	}
	for _, c := range b[p : p+int(n)] {
		if !isValType(c) {
			return nil, p, malformed(p, "value type 0x%02x", c)
		}
	}
	return b[p : p+int(n)], p + int(n), nil
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
	// BulkChunk is the most bytes one memory.copy or memory.fill moves
	// between two budget checks (0: DefaultBulkChunk, at most 1 GiB); see
	// Instrument.
	BulkChunk uint32
	// InLoopYield puts every yield inside the loop it checks, and counts in
	// a local only in functions whose loops make no calls, as before the
	// loops were split (see Instrument). For measuring the difference only.
	InLoopYield bool
	// GuardOptions wraps imports as GuardImports does, in the same pass.
	GuardOptions
}

// Instrument returns a copy of module with a countdown check at every loop
// header (and at every call to the tick import, which it replaces):
//
//	global.get $budget; i32.const 1; i32.sub; global.set $budget;
//	global.get $budget; i32.const 0; i32.le_s; if (empty) call $yield end
//
// $budget is a new mutable i32 global, appended after the existing globals
// and exported under o.BudgetExport. A function with a loop that makes no
// call counts in a new local instead and hands the count to $budget around
// its calls (those that may reach a check: an import, a call through a
// table, a function with checks or calling one) and at its exits, so the
// count is the same. There the yield call of a loop with an empty block
// type is moved out of the loop, into a loop around it that yields when it
// is entered with the count spent.
//
// A single memory.copy or memory.fill can move gigabytes, for seconds,
// without passing a check, so each one becomes a call to a function that
// Instrument adds (one for copy, one for fill, taking the instruction's
// operands): it charges the budget a unit per 64 bytes (BulkUnit) before each
// chunk of at most o.BulkChunk bytes, and calls $yield when the budget is at
// or below zero, as the loop checks do. An operation of at most one chunk is
// charged and checked once and runs as the one original instruction; a
// longer one that is out of bounds runs as the original instruction too, so
// it traps before writing anything; copies between overlapping ranges run
// their chunks in the order that gives memmove's result. The calls count as
// calls for the budget local above. Only memory 0 is supported.
//
// With o.GuardOptions, Instrument also wraps imports as GuardImports does.
//
// Function bodies are rewritten in place without any index renumbering:
// branches use label depths, so straight-line code inserted after the `loop`
// instruction changes nothing else. Added functions come after the existing
// ones, an added type (i32 i32 i32) -> [] for the bulk functions after the
// existing types if none matches, added globals after the existing globals.
// Only body sizes, the code section, and the type, function, global and
// export sections change, by appending; every other section is copied byte
// for byte. Custom sections that record code offsets or function indices,
// such as DWARF or names, are therefore left stale or incomplete.
//
// The yield function is called with the budget at or below zero and must
// reset it through the export, or every later check will call it again
// (where the count is local, the count restarts at 1 after such a yield, so
// that the loop still progresses).
func Instrument(module []byte, o Options) ([]byte, error) {
	return rewrite(module, o, true)
}

// rewrite makes every edit in one pass over module: with checks, the budget
// checks and bulk memory calls of Instrument; with o.Guards, GuardImports' wrappers.
func rewrite(module []byte, o Options, checks bool) ([]byte, error) {
	var names []string // the exports to add, in order
	if checks {
		if o.BudgetExport == "" || !utf8.ValidString(o.BudgetExport) {
			return nil, fmt.Errorf("wasmedit: budget export name %q must be non-empty valid UTF-8", o.BudgetExport)
		}
		names = append(names, o.BudgetExport)
	}
	if o.ErrnoExport != "" {
		if !utf8.ValidString(o.ErrnoExport) || o.ErrnoExport == o.BudgetExport && checks {
			return nil, fmt.Errorf("wasmedit: errno export name %q must be valid UTF-8 and differ from the budget's", o.ErrnoExport)
		}
		names = append(names, o.ErrnoExport)
	}
	chunk := o.BulkChunk
	if chunk == 0 {
		chunk = DefaultBulkChunk
	}
	if chunk > maxBulkChunk {
		return nil, fmt.Errorf("wasmedit: bulk chunk %d is over %d", chunk, maxBulkChunk)
	}
	m, err := parseModule(module)
	if err != nil {
		return nil, err
	}
	im, err := m.scanImports(o.YieldModule, o.YieldName)
	if err != nil {
		return nil, err
	}
	w := want{record: true, checks: checks, tick: -1, bulk: checks}
	var yield uint32
	if checks {
		if yield, err = m.nullaryImport(im, o.YieldModule, o.YieldName); err != nil {
			return nil, err
		}
		if o.TickName != "" {
			if w.tick, err = m.findNullaryImport(o.YieldModule, o.TickName); err != nil {
				return nil, err
			}
		}
	}
	types, err := m.types()
	if err != nil {
		return nil, err
	}
	ftypes, err := m.funcTypes()
	if err != nil {
		return nil, err
	}
	nfuncs := uint64(im.funcs) + uint64(len(ftypes))
	guards, err := m.resolveGuards(im, types, o.GuardOptions)
	if err != nil {
		return nil, err
	}
	if nfuncs+uint64(len(guards))+2 > 1<<32-1 {
		return nil, fmt.Errorf("%w: too many functions", ErrMalformed)
	}
	if len(guards) > 0 {
		w.redirect = make([]uint32, im.funcs)
		for i, g := range guards {
			w.redirect[g.fn] = uint32(nfuncs) + uint32(i)
		}
		if err := m.checkElements(w.redirect); err != nil {
			return nil, err
		}
	}
	nglobals, globalsRest, err := m.globals(w.redirect)
	if err != nil {
		return nil, err
	}
	budget := im.globals + nglobals
	if budget < im.globals || budget+uint32(len(names)) < budget {
		return nil, fmt.Errorf("%w: too many globals", ErrMalformed)
	}
	nexports, exportsRest, err := m.exports(names...)
	if err != nil {
		return nil, err
	}
	code, err := m.scanCode(im.funcs, w)
	if err != nil {
		return nil, err
	}

	// The added functions: the wrappers, then the bulk memory functions.
	errno := int64(-1)
	if o.ErrnoExport != "" {
		errno = int64(budget)
		if checks {
			errno++
		}
	}
	var addTypes []uint32
	var addBodies [][]byte
	maxPath := cmp.Or(o.MaxPathLen, DefaultMaxPathLen)
	for _, g := range guards {
		addTypes = append(addTypes, g.typ)
		addBodies = append(addBodies, wrapperBody(g, len(types[g.typ].params), maxPath, errno))
	}
	var typeSec []byte
	e := emitter{b: m.b, checks: checks, budget: budget, yield: yield, adjust: code.adjust, inLoop: o.InLoopYield}
	if checks {
		e.mayCheck = code.checkers(im.funcs)
	}
	if code.copies+code.fills > 0 {
		var bulkType uint32
		if bulkType, typeSec, err = m.typeIndex(types, bulkParams, nil); err != nil {
			return nil, err
		}
		if code.copies > 0 {
			e.copy = uint32(nfuncs) + uint32(len(addTypes))
			addTypes = append(addTypes, bulkType)
			addBodies = append(addBodies, bulkBody(false, budget, yield, chunk))
		}
		if code.fills > 0 {
			e.fill = uint32(nfuncs) + uint32(len(addTypes))
			addTypes = append(addTypes, bulkType)
			addBodies = append(addBodies, bulkBody(true, budget, yield, chunk))
		}
	}

	var repl [secDataCount + 1][]byte // new section payloads by id; nil keeps the section
	repl[secType] = typeSec
	if len(addTypes) > 0 {
		count, rest, err := m.vecCount(secFunction)
		if err != nil {
			return nil, err
		}
		p := appendU32(nil, count+uint32(len(addTypes)))
		if s, ok := m.section(secFunction); ok {
			p = append(p, m.b[rest:s.end]...)
		}
		for _, t := range addTypes {
			p = appendU32(p, t)
		}
		repl[secFunction] = p
	}
	if len(names) > 0 {
		p := appendU32(nil, nglobals+uint32(len(names)))
		if s, ok := m.section(secGlobal); ok {
			p = append(p, m.b[globalsRest:s.end]...)
		}
		if checks {
			p = append(p, 0x7f, 0x01, 0x41) // i32, mutable, i32.const
			p = append(appendS32(p, o.Budget), 0x0b)
		}
		if errno >= 0 {
			p = append(p, 0x7f, 0x01, 0x41, 0x00, 0x0b) // i32, mutable, i32.const 0
		}
		repl[secGlobal] = p

		p = appendU32(nil, nexports+uint32(len(names)))
		if s, ok := m.section(secExport); ok {
			p = append(p, m.b[exportsRest:s.end]...)
		}
		for i, name := range names {
			p = appendU32(p, uint32(len(name)))
			p = append(p, name...)
			p = append(p, 0x03) // global
			p = appendU32(p, budget+uint32(i))
		}
		repl[secExport] = p
	}
	if _, ok := m.section(secCode); ok || len(addBodies) > 0 {
		p := appendU32(make([]byte, 0, len(m.b)+len(m.b)/8), uint32(len(code.bodies)+len(addBodies)))
		for i, bd := range code.bodies {
			local := uint64(maxLocal) // an unknown type: the engine rejects the module
			if t := ftypes[i]; int(t) < len(types) {
				local = uint64(len(types[t].params)) + bd.locals
			}
			e.buf = e.body(e.buf[:0], bd, code.sites[bd.first:bd.first+bd.n], local)
			p = appendU32(p, uint32(len(e.buf)))
			p = append(p, e.buf...)
		}
		for _, b := range addBodies {
			p = appendU32(p, uint32(len(b)))
			p = append(p, b...)
		}
		if uint64(len(p)) > 1<<32-1 {
			return nil, errors.New("wasmedit: instrumented code section exceeds 4 GiB")
		}
		repl[secCode] = p
	}
	return m.assemble(&repl), nil
}

// assemble returns m with the sections in repl (payloads by id) in place of
// its own, inserting those it lacks where their rank puts them. The result is
// allocated once, at its final size.
func (m *module) assemble(repl *[secDataCount + 1][]byte) []byte {
	size := len(m.b)
	for id, p := range repl {
		if p != nil {
			size += 1 + sizeU32(uint32(len(p))) + len(p)
			if s, ok := m.section(byte(id)); ok {
				size -= s.end - s.start
			}
		}
	}
	out := make([]byte, 0, size)
	out = append(out, header[:]...)
	var wrote [secDataCount + 1]bool
	// flush writes the replacements ranked at or before rank that are not written yet.
	flush := func(rank int) {
		for id, p := range repl {
			if p != nil && !wrote[id] && sectionRank[id] <= rank {
				// Several at once go in rank order; ids and ranks differ only for DataCount, never replaced.
				out = appendSection(out, byte(id), p)
				wrote[id] = true
			}
		}
	}
	for _, s := range m.sections {
		if s.id != secCustom {
			flush(sectionRank[s.id])
		}
		if s.id == secCustom || repl[s.id] == nil {
			out = append(out, m.b[s.start:s.end]...)
		}
	}
	flush(len(sectionRank))
	return out
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
	code, err := m.scanCode(im.funcs, want{record: true, tick: int64(tick)})
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

// globals returns the number of globals the module defines and the offset of
// the first one. Their initialisers must not take a reference to a function
// in redirect.
func (m *module) globals(redirect []uint32) (count uint32, rest int, err error) {
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
	s := codeScan{want: want{redirect: redirect}}
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
// fails if one of names is already exported.
func (m *module) exports(names ...string) (count uint32, rest int, err error) {
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
		for _, name := range names {
			if string(field) == name {
				return 0, 0, fmt.Errorf("wasmedit: module already exports %q", name)
			}
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
	checks        bool // insert the budget checks (else only replace calls)
	budget, yield uint32
	copy, fill    uint32 // the functions that replace memory.copy and memory.fill
	buf           []byte
	adjust        []uint32 // codeScan.adjust
	mayCheck      []bool   // codeScan.checkers, by function index
	inLoop        bool     // Options.InLoopYield
}

// countsLocally reports whether body bd, whose budget local would have
// index local, counts in that local: it has loops and no ticks, and a loop
// that makes no call (tight loops are where a memory access per check
// costs), or no call in any loop.
func (e *emitter) countsLocally(bd body, local uint64) bool {
	tight := bd.tight > 0 && !e.inLoop || !bd.callInLoop
	return e.checks && bd.loops > 0 && bd.ticks == 0 && tight && local < maxLocal
}

// body appends bd with its checks and replaced calls. A function with a
// tight loop (or no call in any loop) keeps the budget in a new local, a
// register in compiled code, and hands it back to the global around its
// calls and at its exits (not around a call to a function that never
// reaches a check, see codeScan.checkers): the count stays exact across
// calls, and a tight loop's check costs no memory access. Any other
// function (with calls in all its loops, ticks, or too many locals)
// decrements the global at each check, which is cheaper than handing it
// over at every call.
//
// In a function that counts locally, each loop with an empty block type is
// split: the yield moves to the head of a new loop around it, which the
// check branches to, and every branch inside that leaves the loop is
// deepened by one. wazero's register allocator keeps a value that is live
// across a call in memory for its whole life, so a yield call inside the
// loop cost the loop's carried values a store and a load per iteration
// (a third of k_mul's time); outside it, they stay in registers.
func (e *emitter) body(dst []byte, bd body, sites []site, local uint64) []byte {
	b, B, Y := e.b, e.budget, e.yield
	if len(sites) == 0 {
		return append(dst, b[bd.start:bd.end]...)
	}
	pos := bd.code
	if !e.countsLocally(bd, local) {
		dst = append(dst, b[bd.start:bd.code]...)
		for _, st := range sites {
			switch {
			case e.checks && (st.kind == siteLoop && !st.skip || st.kind == siteTick):
				dst = append(dst, b[pos:st.at]...)
				dst = appendOp(dst, 0x23, B)                    // global.get $budget
				dst = append(dst, 0x41, 0x01, 0x6b)             // i32.const 1; i32.sub
				dst = appendOp(dst, 0x24, B)                    // global.set $budget
				dst = appendOp(dst, 0x23, B)                    // global.get $budget
				dst = append(dst, 0x41, 0x00, 0x4c, 0x04, 0x40) // i32.const 0; i32.le_s; if
				dst = append(appendOp(dst, 0x10, Y), 0x0b)      // call $yield; end
			case st.kind == siteCopy || st.kind == siteFill || st.kind == siteCall && st.to != 0:
				dst = append(dst, b[pos:st.at]...)
				dst = e.call(dst, st)
			default:
				continue
			}
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
		if e.inLoop && (st.kind == siteLoopEnd || st.kind == siteBr) {
			continue
		}
		if st.kind == siteLoop && st.plain && !e.inLoop {
			// The loop goes inside a second one whose head yields when
			// the count has run out, and the check at the loop's head
			// branches there: the loop's body makes no call, so wazero
			// keeps the values it carries in registers.
			dst = append(dst, b[pos:st.at-2]...)
			dst = append(dst, 0x03, 0x40, 0x02, 0x40)       // loop; block
			dst = appendOp(dst, 0x20, L)                    //   local.get $l
			dst = append(dst, 0x41, 0x00, 0x4a, 0x0d, 0x00) //   i32.const 0; i32.gt_s; br_if 0
			dst = appendOp(appendOp(dst, 0x20, L), 0x24, B) //   local.get $l; global.set $budget
			dst = appendOp(dst, 0x10, Y)                    //   call $yield
			// max($budget, 1) + 1: the check below takes the 1 back,
			// and a host that does not refill the budget still sees the
			// loop progress, with a yield at every later header.
			dst = appendOp(dst, 0x23, B)                    //   global.get $budget
			dst = append(dst, 0x41, 0x01)                   //   i32.const 1
			dst = appendOp(dst, 0x23, B)                    //   global.get $budget
			dst = append(dst, 0x41, 0x01, 0x4a, 0x1b)       //   i32.const 1; i32.gt_s; select
			dst = append(dst, 0x41, 0x01, 0x6a)             //   i32.const 1; i32.add
			dst = appendOp(dst, 0x21, L)                    //   local.set $l
			dst = append(dst, 0x0b, 0x03, 0x40)             // end; loop (the original)
			dst = appendOp(dst, 0x20, L)                    //   local.get $l
			dst = append(dst, 0x41, 0x01, 0x6b)             //   i32.const 1; i32.sub
			dst = appendOp(dst, 0x22, L)                    //   local.tee $l
			dst = append(dst, 0x41, 0x00, 0x4c, 0x0d, 0x01) //   i32.const 0; i32.le_s; br_if 1
			pos = st.at
			continue
		}
		dst = append(dst, b[pos:st.at]...)
		switch st.kind {
		case siteLoopEnd:
			dst = append(dst, 0x0b) // end of the outer loop
		case siteBr:
			dst = e.branch(dst, st)
		case siteLoop:
			dst = appendOp(dst, 0x20, L)                    // local.get $l
			dst = append(dst, 0x41, 0x01, 0x6b)             // i32.const 1; i32.sub
			dst = appendOp(dst, 0x22, L)                    // local.tee $l
			dst = append(dst, 0x41, 0x00, 0x4c, 0x04, 0x40) // i32.const 0; i32.le_s; if
			dst = appendOp(appendOp(dst, 0x20, L), 0x24, B) //   local.get $l; global.set $budget
			dst = appendOp(dst, 0x10, Y)                    //   call $yield
			dst = appendOp(appendOp(dst, 0x23, B), 0x21, L) //   global.get $budget; local.set $l
			dst = append(dst, 0x0b)                         // end
		case siteCall, siteCopy, siteFill:
			if st.kind == siteCall && st.to == 0 && st.fn != 0 && int64(st.fn-1) < int64(len(e.mayCheck)) && !e.mayCheck[st.fn-1] {
				dst = e.call(dst, st) // a callee that never checks needs no handover
				break
			}
			dst = appendOp(appendOp(dst, 0x20, L), 0x24, B)
			dst = e.call(dst, st)
			dst = appendOp(appendOp(dst, 0x23, B), 0x21, L)
		case siteExit:
			dst = appendOp(appendOp(dst, 0x20, L), 0x24, B)
		}
		pos = st.at + st.del
	}
	return append(dst, b[pos:bd.end]...)
}

// branch appends the branch at site st with the depth of each target
// deepened by the plain loops it leaves, each now inside a loop of its own.
func (e *emitter) branch(dst []byte, st site) []byte {
	b := e.b
	op := b[st.at]
	dst = append(dst, op)
	if op != 0x0e { // br, br_if
		d, _, _ := readU32(b, st.at+1, st.at+st.del)
		return appendU32(dst, d+st.to)
	}
	n, pos, _ := readU32(b, st.at+1, st.at+st.del)
	dst = appendU32(dst, n)
	for i := uint32(0); i <= n; i++ {
		var d uint32
		d, pos, _ = readU32(b, pos, st.at+st.del)
		dst = appendU32(dst, d+e.adjust[st.to+i])
	}
	return dst
}

// call appends the call that site st becomes: the original one, or a call
// to a wrapper or a bulk memory function.
func (e *emitter) call(dst []byte, st site) []byte {
	switch {
	case st.kind == siteCopy:
		return appendOp(dst, 0x10, e.copy)
	case st.kind == siteFill:
		return appendOp(dst, 0x10, e.fill)
	case st.to != 0:
		return appendOp(dst, 0x10, st.to)
	}
	return append(dst, e.b[st.at:st.at+st.del]...)
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
