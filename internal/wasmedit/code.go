package wasmedit

import (
	"fmt"
	"slices"
)

// Immediate kinds of one-byte opcodes. The zero value marks opcodes this
// package does not decode, so a new proposal fails loudly instead of being
// skipped with the wrong length.
const (
	immInvalid = iota
	immNone
	immBlock // block, if
	immLoop
	immEnd
	immU32
	immU32x2
	immBrTable
	immSelectT
	immMemarg
	immI32
	immI64
	immF32
	immF64
	immRefNull
	immRefFunc
	immPrefixFC
	immPrefixFD
)

var immediates = func() (t [256]uint8) {
	set := func(lo, hi int, k uint8) {
		for op := lo; op <= hi; op++ {
			t[op] = k
		}
	}
	set(0x00, 0x01, immNone) // unreachable, nop
	t[0x02] = immBlock
	t[0x03] = immLoop
	t[0x04] = immBlock
	t[0x05] = immNone // else
	t[0x0b] = immEnd
	set(0x0c, 0x0d, immU32) // br, br_if
	t[0x0e] = immBrTable
	t[0x0f] = immNone        // return
	t[0x10] = immU32         // call
	t[0x11] = immU32x2       // call_indirect type table
	set(0x1a, 0x1b, immNone) // drop, select
	t[0x1c] = immSelectT
	set(0x20, 0x26, immU32) // local.*, global.*, table.get, table.set
	set(0x28, 0x3e, immMemarg)
	set(0x3f, 0x40, immU32) // memory.size, memory.grow: memory index
	t[0x41] = immI32
	t[0x42] = immI64
	t[0x43] = immF32
	t[0x44] = immF64
	set(0x45, 0xc4, immNone) // numeric, including sign extension 0xc0-0xc4
	t[0xd0] = immRefNull
	t[0xd1] = immNone // ref.is_null
	t[0xd2] = immRefFunc
	t[0xfc] = immPrefixFC
	t[0xfd] = immPrefixFD
	return t
}()

func isValType(c byte) bool {
	switch c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f: // i32 i64 f32 f64 v128 funcref externref
		return true
	}
	return false
}

// body is one entry of the code section; start and end bound its locals and
// instructions, after the size prefix, and code is where the instructions
// start. Its sites are sites[first:first+n].
type body struct {
	start, code, end int
	locals           uint64 // declared locals, parameters excluded
	first, n         int
	loops, ticks     int
	edits            int // sites replaced whatever the checks: bulk memory, redirected calls
	callInLoop       bool
	tight            int // loops with no call inside them, nested loops included
	indirect         bool
	callFirst, callN int // its direct callees: codeScan.callees[callFirst:callFirst+callN]
}

// Site kinds.
const (
	siteLoop    = iota // a loop header: insert after at
	siteTick           // a call to the tick import: replace its del bytes
	siteCall           // any other call: its del bytes, replaced by a call to `to` if not 0
	siteExit           // return, the final end, or a branch out of the function: insert before at
	siteCopy           // memory.copy: its del bytes, replaced by a call
	siteFill           // memory.fill: likewise
	siteLoopEnd        // the end of a plain loop: insert after at
	siteBr             // br, br_if or br_table across plain loops: its del bytes, re-encoded with depths adjusted
)

// site is a place to edit.
type site struct {
	at, del int
	kind    uint8
	skip    bool   // the dispatch loop of a function with ticks
	calls   bool   // siteLoop: the loop's body makes a call
	plain   bool   // siteLoop: the loop's block type is empty (0x40)
	fn      uint32 // siteCall: the callee's index + 1, 0 for call_indirect
	// siteCall: the function to call instead, 0 to keep the call. siteBr:
	// for br and br_if, the plain loops between the branch and its target;
	// for br_table, the index in codeScan.adjust of its first target's.
	to uint32
}

// want says what scanCode records. Without record it only decodes (and
// counts); the other fields need record.
type want struct {
	record bool
	// checks keeps the sites of every body with loops or ticks; without
	// it only bodies with ticks or edits keep theirs.
	checks bool
	tick   int64 // function index of the tick import, -1 if none
	bulk   bool  // record memory.copy and memory.fill, which must use memory 0
	// redirect maps the index of an imported function to the function
	// its calls go to instead (0: none). A reference to such a function
	// (ref.func, which could reach a table) is an error.
	redirect []uint32
}

// codeScan decodes function bodies and collects what the edits need.
type codeScan struct {
	numTypes uint32
	want
	sites   []site // in body order
	bodies  []body
	dataOp  int // offset of the first memory.init or data.drop, -1 if none
	loops   int // loop headers seen
	bulkOps int // memory.copy and memory.fill seen
	copies  int // memory.copy sites recorded
	fills   int // memory.fill sites recorded

	// Per body: the innermost loop (a site index, -1 for none) around
	// each open block, the plain loops among the open blocks up to and
	// including each, and the largest br_table so far.
	inner      []int
	plainCum   []uint32
	adjust     []uint32 // siteBr of br_table: the depth adjustment of each target, default last
	callees    []uint32 // every body's direct callees, in body order
	indirect   bool
	ticks      int
	edits      int
	callInLoop bool
	tight      int
	tableSize  uint32
	tableInner int
}

// scanCode decodes every function body. funcBase is the number of imported
// functions, used only to name functions in errors.
func (m *module) scanCode(funcBase uint32, w want) (*codeScan, error) {
	b := m.b
	s := &codeScan{want: w, dataOp: -1}
	var err error
	if s.numTypes, _, err = m.vecCount(secType); err != nil {
		return nil, err
	}
	nfuncs, _, err := m.vecCount(secFunction)
	if err != nil {
		return nil, err
	}
	sec, ok := m.section(secCode)
	if !ok {
		if nfuncs != 0 {
			return nil, fmt.Errorf("%w: %d functions declared but no code section", ErrMalformed, nfuncs)
		}
		return s, nil
	}
	count, pos, err := readU32(b, sec.payload, sec.end)
	if err != nil {
		return nil, err
	}
	if count != nfuncs {
		return nil, fmt.Errorf("%w: %d functions declared but %d bodies in the code section", ErrMalformed, nfuncs, count)
	}
	// Every body takes at least two bytes, which bounds the allocation for hostile counts.
	s.bodies = make([]body, 0, min(int(count), (sec.end-pos)/2))
	if w.record {
		s.sites = make([]site, 0, 1024)
	}
	for i := uint32(0); i < count; i++ {
		size, p, err := readU32(b, pos, sec.end)
		if err != nil {
			return nil, err
		}
		if uint64(size) > uint64(sec.end-p) {
			return nil, malformed(pos, "body of function %d runs past the code section", funcBase+i)
		}
		end := p + int(size)
		first, loops, calls := len(s.sites), s.loops, len(s.callees)
		s.inner, s.plainCum, s.ticks, s.edits, s.callInLoop, s.tight, s.indirect, s.tableSize, s.tableInner = s.inner[:0], s.plainCum[:0], 0, 0, false, 0, false, 0, -1
		code, locals, err := readLocals(b, p, end)
		q := code
		if err == nil {
			q, err = s.expr(b, q, end)
		}
		if err == nil && q != end {
			err = malformed(q, "bytes after the final end")
		}
		if err != nil {
			return nil, fmt.Errorf("%w (in function %d)", err, funcBase+i)
		}
		// The eval loop's dispatch, a loop around the largest br_table,
		// runs once per bytecode: where the guest marks its own preemption
		// points (ticks), that loop needs no check.
		if s.ticks > 0 && s.tableInner >= 0 {
			s.sites[s.tableInner].skip = true
		}
		if s.ticks == 0 && s.edits == 0 && (!s.checks || s.loops == loops) {
			s.sites = s.sites[:first] // nothing to check or replace: the calls and exits need no edit
		}
		s.bodies = append(s.bodies, body{start: p, code: code, end: end, locals: locals,
			first: first, n: len(s.sites) - first, loops: s.loops - loops, ticks: s.ticks, edits: s.edits, callInLoop: s.callInLoop, tight: s.tight,
			indirect: s.indirect, callFirst: calls, callN: len(s.callees) - calls})
		pos = end
	}
	if pos != sec.end {
		return nil, malformed(pos, "bytes after the last function body")
	}
	return s, nil
}

// readLocals skips a body's local declarations and counts the locals.
func readLocals(b []byte, pos, end int) (int, uint64, error) {
	n, pos, err := readU32(b, pos, end)
	if err != nil {
		return pos, 0, err
	}
	var total uint64
	for ; n > 0; n-- {
		var c uint32
		if c, pos, err = readU32(b, pos, end); err != nil {
			return pos, 0, err
		}
		total += uint64(c)
		if pos >= end {
			return pos, 0, malformed(pos, "truncated local declaration")
		}
		if !isValType(b[pos]) {
			return pos, 0, malformed(pos, "local type 0x%02x", b[pos])
		}
		pos++
	}
	return pos, total, nil
}

// skipU32 skips a 32-bit LEB128 index, taking the common one-byte case first.
func skipU32(b []byte, pos, end int) (int, error) {
	if pos < end && b[pos] < 0x80 {
		return pos + 1, nil
	}
	return skipLEB(b, pos, end, 5)
}

func skipBytes(pos, end, n int) (int, error) {
	if end-pos < n {
		return pos, malformed(pos, "truncated immediate")
	}
	return pos + n, nil
}

// expr decodes instructions from pos up to and including the `end` that
// closes the expression, and returns the offset just past it.
func (s *codeScan) expr(b []byte, pos, end int) (int, error) {
	depth := 0
	for pos < end {
		at := pos
		op := b[pos]
		pos++
		var err error
		switch immediates[op] {
		case immNone:
			if op == 0x0f && s.sites != nil { // return
				s.sites = append(s.sites, site{at: at, kind: siteExit})
			}
		case immU32:
			if s.sites != nil && op <= 0x10 { // br, br_if, call
				var idx uint32
				if idx, pos, err = readU32(b, pos, end); err != nil {
					break
				}
				switch {
				case op == 0x10 && int64(idx) == s.tick:
					s.sites = append(s.sites, site{at: at, del: pos - at, kind: siteTick})
					s.ticks++
				case op == 0x10:
					st := site{at: at, del: pos - at, kind: siteCall, fn: idx + 1}
					s.callees = append(s.callees, idx)
					if idx < uint32(len(s.redirect)) && s.redirect[idx] != 0 {
						st.to = s.redirect[idx]
						s.edits++
					}
					s.sites = append(s.sites, st)
					s.call()
				default:
					if int(idx) == depth { // a branch to the function's own label
						s.sites = append(s.sites, site{at: at, kind: siteExit})
					}
					if n := s.plainBetween(idx); n > 0 {
						s.sites = append(s.sites, site{at: at, del: pos - at, kind: siteBr, to: n})
					}
				}
				break
			}
			// The one-byte case by hand: skipU32 is too big for the inliner.
			if pos < end && b[pos] < 0x80 {
				pos++
			} else {
				pos, err = skipLEB(b, pos, end, 5)
			}
		case immEnd:
			if depth == 0 {
				if s.sites != nil {
					s.sites = append(s.sites, site{at: at, kind: siteExit})
				}
				return pos, nil
			}
			depth--
			if s.sites != nil {
				s.closeBlock(pos)
			}
		case immBlock:
			pos, err = s.blockType(b, pos, end)
			depth++
			if s.sites != nil {
				s.inner = append(s.inner, s.innermost())
				s.plainCum = append(s.plainCum, s.plainOpen())
			}
		case immLoop:
			pos, err = s.blockType(b, pos, end)
			depth++
			s.loops++
			if s.sites != nil && err == nil {
				plain := b[at+1] == 0x40
				s.inner = append(s.inner, len(s.sites))
				s.plainCum = append(s.plainCum, s.plainOpen()+b2u(plain))
				s.sites = append(s.sites, site{at: pos, plain: plain})
			}
		case immMemarg:
			if end-pos >= 2 && b[pos] < 0x40 && b[pos+1] < 0x80 {
				pos += 2
			} else {
				pos, err = skipMemarg(b, pos, end)
			}
		case immI32:
			if pos < end && b[pos] < 0x80 {
				pos++
			} else {
				pos, err = skipLEB(b, pos, end, 5)
			}
		case immI64:
			pos, err = skipLEB(b, pos, end, 10)
		case immF32:
			pos, err = skipBytes(pos, end, 4)
		case immF64:
			pos, err = skipBytes(pos, end, 8)
		case immU32x2:
			if pos, err = skipU32(b, pos, end); err == nil {
				pos, err = skipU32(b, pos, end)
			}
			if op == 0x11 && s.sites != nil { // call_indirect
				s.sites = append(s.sites, site{at: at, del: pos - at, kind: siteCall})
				s.indirect = true
				s.call()
			}
		case immBrTable:
			if s.sites == nil {
				pos, err = skipBrTable(b, pos, end)
				break
			}
			var n uint32
			var out bool
			first := len(s.adjust)
			if n, pos, out, err = s.brTable(b, pos, end, depth); err != nil {
				break
			}
			if n > s.tableSize {
				s.tableSize, s.tableInner = n, s.innermost()
			}
			if out {
				s.sites = append(s.sites, site{at: at, kind: siteExit})
			}
			if slices.ContainsFunc(s.adjust[first:], func(a uint32) bool { return a > 0 }) {
				s.sites = append(s.sites, site{at: at, del: pos - at, kind: siteBr, to: uint32(first)})
			} else {
				s.adjust = s.adjust[:first]
			}
		case immSelectT:
			pos, err = skipSelectT(b, pos, end)
		case immRefNull:
			if pos >= end || (b[pos] != 0x70 && b[pos] != 0x6f) {
				return pos, malformed(pos, "ref.null needs a reference type")
			}
			pos++
		case immRefFunc:
			var idx uint32
			if idx, pos, err = readU32(b, pos, end); err == nil && idx < uint32(len(s.redirect)) && s.redirect[idx] != 0 {
				err = fmt.Errorf("wasmedit: ref.func of guarded import %d at offset %#x: calls through a table would bypass the guard", idx, at)
			}
		case immPrefixFC:
			pos, err = s.prefixFC(b, at, pos, end)
		case immPrefixFD:
			pos, err = skipPrefixFD(b, at, pos, end)
		default:
			return pos, unsupportedOp(at, op)
		}
		if err != nil {
			return pos, err
		}
	}
	return pos, malformed(pos, "expression has no final end")
}

// call notes a call at the current position: in a loop, the loop and
// every loop around it are not tight.
func (s *codeScan) call() {
	if i := s.innermost(); i >= 0 {
		s.callInLoop = true
		s.sites[i].calls = true
	}
}

// closeBlock pops the innermost open block, whose end is just before pos; a
// loop hands whether it made a call to the loop around it, and counts as
// tight if it made none.
func (s *codeScan) closeBlock(pos int) {
	top := s.innermost()
	s.inner = s.inner[:len(s.inner)-1]
	s.plainCum = s.plainCum[:len(s.plainCum)-1]
	if parent := s.innermost(); top >= 0 && top != parent {
		switch {
		case !s.sites[top].calls:
			s.tight++
		case parent >= 0:
			s.sites[parent].calls = true
		}
		if s.sites[top].plain {
			s.sites = append(s.sites, site{at: pos, kind: siteLoopEnd})
		}
	}
}

// checkers reports, by function index, which functions may reach a budget
// check: every import (the host may call back into the guest), and every
// function that has a check (loops, ticks, bulk memory), calls through a
// table, or calls one that may.
func (s *codeScan) checkers(imports uint32) []bool {
	n := uint64(imports) + uint64(len(s.bodies))
	may := make([]bool, n)
	// The callers of each function, as offsets into one array.
	count := make([]uint32, n+1)
	for _, c := range s.callees {
		if uint64(c) < n {
			count[c+1]++
		}
	}
	for i := uint64(1); i <= n; i++ {
		count[i] += count[i-1]
	}
	callers, fill := make([]uint32, count[n]), slices.Clone(count[:n])
	var queue []uint32
	for i := range imports {
		may[i] = true
		queue = append(queue, i)
	}
	for j, bd := range s.bodies {
		f := imports + uint32(j)
		self := bd.loops > 0 || bd.ticks > 0 || bd.edits > 0 || bd.indirect
		for _, c := range s.callees[bd.callFirst : bd.callFirst+bd.callN] {
			if uint64(c) >= n { // the engine rejects the module; assume the worst
				self = true
				continue
			}
			callers[fill[c]] = f
			fill[c]++
		}
		if self {
			may[f] = true
			queue = append(queue, f)
		}
	}
	for len(queue) > 0 {
		f := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, c := range callers[count[f]:count[f+1]] {
			if !may[c] {
				may[c] = true
				queue = append(queue, c)
			}
		}
	}
	return may
}

// plainOpen is the number of plain loops among the open blocks.
func (s *codeScan) plainOpen() uint32 {
	if len(s.plainCum) == 0 {
		return 0
	}
	return s.plainCum[len(s.plainCum)-1]
}

// plainBetween is the number of plain loops a branch to relative depth d
// leaves: those open inside its target. A depth past the function's label
// (which the engine rejects) counts none.
func (s *codeScan) plainBetween(d uint32) uint32 {
	k := len(s.plainCum)
	switch {
	case uint64(d) > uint64(k):
		return 0
	case int(d) == k:
		return s.plainOpen()
	}
	return s.plainOpen() - s.plainCum[k-1-int(d)]
}

func b2u(v bool) uint32 {
	if v {
		return 1
	}
	return 0
}

func (s *codeScan) innermost() int {
	if len(s.inner) == 0 {
		return -1
	}
	return s.inner[len(s.inner)-1]
}

func (s *codeScan) blockType(b []byte, pos, end int) (int, error) {
	if pos >= end {
		return pos, malformed(pos, "truncated block type")
	}
	c := b[pos]
	if c == 0x40 || isValType(c) {
		return pos + 1, nil
	}
	if c&0xc0 == 0x40 {
		return pos, fmt.Errorf("%w: block type 0x%02x at offset %#x", ErrUnsupported, c, pos)
	}
	// Multi-value: a non-negative s33 type index.
	idx, p, err := readU32(b, pos, end)
	if err != nil {
		return p, err
	}
	if b[p-1]&0x40 != 0 || idx >= s.numTypes {
		return p, malformed(pos, "block type index %d out of range", idx)
	}
	return p, nil
}

func skipMemarg(b []byte, pos, end int) (int, error) {
	align, pos, err := readU32(b, pos, end)
	if err != nil {
		return pos, err
	}
	if align&0x40 != 0 { // multi-memory: an explicit memory index follows
		if pos, err = skipU32(b, pos, end); err != nil {
			return pos, err
		}
	}
	return skipLEB(b, pos, end, 10) // 10 bytes so memory64 offsets decode too
}

// brTable decodes a br_table's targets and reports their number (without
// the default) and whether one of them is the function's label, at depth.
// brTable decodes a br_table's targets, appending each one's depth
// adjustment to s.adjust, and reports whether one is the function's label.
func (s *codeScan) brTable(b []byte, pos, end, depth int) (n uint32, next int, out bool, err error) {
	if n, pos, err = readU32(b, pos, end); err != nil {
		return 0, pos, false, err
	}
	if uint64(n) >= uint64(end-pos) { // each target takes a byte at least
		return 0, pos, false, malformed(pos, "truncated br_table")
	}
	for i := uint64(0); i <= uint64(n); i++ {
		var l uint32
		if l, pos, err = readU32(b, pos, end); err != nil {
			return 0, pos, false, err
		}
		out = out || int(l) == depth
		s.adjust = append(s.adjust, s.plainBetween(l))
	}
	return n, pos, out, nil
}

func skipBrTable(b []byte, pos, end int) (int, error) {
	n, pos, err := readU32(b, pos, end)
	if err != nil {
		return pos, err
	}
	for i := uint64(0); i <= uint64(n) && err == nil; i++ { // n targets plus the default
		pos, err = skipU32(b, pos, end)
	}
	return pos, err
}

func skipSelectT(b []byte, pos, end int) (int, error) {
	n, pos, err := readU32(b, pos, end)
	if err != nil {
		return pos, err
	}
	if uint64(n) > uint64(end-pos) {
		return pos, malformed(pos, "truncated select types")
	}
	for _, c := range b[pos : pos+int(n)] {
		if !isValType(c) {
			return pos, malformed(pos, "select type 0x%02x", c)
		}
	}
	return pos + int(n), nil
}

// prefixFC decodes saturating truncation, bulk memory and table instructions.
func (s *codeScan) prefixFC(b []byte, at, pos, end int) (int, error) {
	sub, pos, err := readU32(b, pos, end)
	if err != nil {
		return pos, err
	}
	indices := 0
	switch sub {
	case 0, 1, 2, 3, 4, 5, 6, 7: // i32/i64.trunc_sat_*
	case 8, 9: // memory.init data mem, data.drop data
		if s.dataOp < 0 {
			s.dataOp = at
		}
		indices = 2 - int(sub-8)
	case 10, 11: // memory.copy dst-memory src-memory, memory.fill memory
		return s.bulkOp(b, at, pos, end, sub)
	case 12, 14: // table.init, table.copy
		indices = 2
	case 13, 15, 16, 17: // elem.drop, table.grow, table.size, table.fill
		indices = 1
	default:
		return pos, fmt.Errorf("%w: opcode 0xfc %d at offset %#x", ErrUnsupported, sub, at)
	}
	for ; indices > 0 && err == nil; indices-- {
		pos, err = skipU32(b, pos, end)
	}
	return pos, err
}

// bulkOp decodes the memory indices of memory.copy (sub 10) or memory.fill
// (sub 11) and, if wanted, records the instruction as a site.
func (s *codeScan) bulkOp(b []byte, at, pos, end int, sub uint32) (int, error) {
	var mem uint32
	for n := 12 - sub; n > 0; n-- {
		idx, p, err := readU32(b, pos, end)
		if err != nil {
			return p, err
		}
		mem, pos = mem|idx, p
	}
	s.bulkOps++
	if !s.bulk {
		return pos, nil
	}
	if mem != 0 {
		return pos, fmt.Errorf("%w: multi-memory (a bulk memory instruction on memory %d) at offset %#x", ErrUnsupported, mem, at)
	}
	kind := uint8(siteCopy)
	if sub == 11 {
		kind = siteFill
		s.fills++
	} else {
		s.copies++
	}
	s.sites = append(s.sites, site{at: at, del: pos - at, kind: kind})
	s.edits++
	s.call()
	return pos, nil
}

// skipPrefixFD decodes SIMD instructions, including relaxed SIMD.
func skipPrefixFD(b []byte, at, pos, end int) (int, error) {
	sub, pos, err := readU32(b, pos, end)
	if err != nil {
		return pos, err
	}
	switch {
	case sub <= 0x0b || sub == 0x5c || sub == 0x5d: // loads, store, load*_zero
		return skipMemarg(b, pos, end)
	case sub == 0x0c || sub == 0x0d: // v128.const, i8x16.shuffle
		return skipBytes(pos, end, 16)
	case sub >= 0x15 && sub <= 0x22: // extract_lane, replace_lane
		return skipBytes(pos, end, 1)
	case sub >= 0x54 && sub <= 0x5b: // load*_lane, store*_lane
		if pos, err = skipMemarg(b, pos, end); err != nil {
			return pos, err
		}
		return skipBytes(pos, end, 1)
	case sub <= 0x113:
		return pos, nil
	}
	return pos, fmt.Errorf("%w: opcode 0xfd %d at offset %#x", ErrUnsupported, sub, at)
}

func unsupportedOp(at int, op byte) error {
	what := "unknown opcode"
	switch op {
	case 0x06, 0x07, 0x08, 0x09, 0x0a, 0x18, 0x19, 0x1f:
		what = "exception handling"
	case 0x12, 0x13:
		what = "tail calls"
	case 0x14, 0x15, 0xd3, 0xd4, 0xd5, 0xd6:
		what = "typed function references"
	case 0xfb:
		what = "garbage collection"
	case 0xfe:
		what = "threads"
	}
	return fmt.Errorf("%w: %s (opcode 0x%02x) at offset %#x", ErrUnsupported, what, op, at)
}
