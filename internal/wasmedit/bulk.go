package wasmedit

// DefaultBulkChunk is the most bytes a memory.copy or memory.fill moves
// between two budget checks when Options.BulkChunk is 0. wazero runs
// memory.copy as a call to Go's memmove, which switches to non-temporal
// stores at 1 MiB on amd64: copying 12 MiB in chunks of 64 or 256 KiB took
// 1.46x or 1.36x as long as in one instruction, in chunks of 1 MiB 1.02x
// (fill: 1.34x, 1.15x, 1.15x; the fastest of 200 interleaved runs each on
// the 2-core VM, of what BenchmarkBulk measures). A chunk of 1 MiB takes
// 30-60 µs, so a stop requested at a deadline waits at most that long, well
// under what the loop checks allow. An operation of at most a chunk costs
// about 4-8 ns more than the instruction (the call and the charge).
const DefaultBulkChunk = 1 << 20

// maxBulkChunk keeps the charge's rounding, (k + 63) >> 6, from overflowing.
const maxBulkChunk = 1 << 30

// BulkUnit is the number of bytes copied or filled per unit of budget; a
// unit is what one loop check charges. 64 bytes take 2-4 ns to copy (17-32
// GB/s here), a little longer than the tightest loop iteration, so the budget
// measures time for both: the runtime's budget of 20,000 units lasts 1.25 MiB
// of copying, 40-80 µs, against 20-40 µs for 20,000 iterations of a tight C
// loop. Charging less (more bytes per unit) would let bulk work run longer
// than any loop between two yields; charging more would make yields, which
// cost about 0.1 µs each, a noticeable share of a big copy. A chunk's units
// are charged at once, so between two yields a budget can last up to a chunk
// longer: with 20,000 units and chunks of 1 MiB (16,384 units), a yield comes
// every 2 MiB.
const BulkUnit = 64

const bulkShift = 6 // log2(BulkUnit)

// bulkParams is the type of the functions that replace memory.copy and
// memory.fill: the instruction's three i32 operands, no results.
var bulkParams = []byte{0x7f, 0x7f, 0x7f}

// bulkBody returns the body of the function that replaces memory.fill (fill)
// or memory.copy, with its operands as parameters: (dst, src or value, n).
// It charges the budget global B a unit per BulkUnit bytes, rounded up, before
// each chunk of at most chunk bytes, and calls yield import Y when the budget
// is at or below zero. As wat:
//
//	(local $k i32) (local $size i64)
//	(if (i32.le_u (local.get $n) (i32.const chunk))   ;; one chunk: the instruction
//	  (then charge($n) (memory.copy (local.get $d) (local.get $s) (local.get $n)) (return)))
//	(local.set $size (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
//	(if (i32.or (i64.gt_u (i64.add (i64.extend_i32_u (local.get $d)) (i64.extend_i32_u (local.get $n))) (local.get $size))
//	            (i64.gt_u (i64.add (i64.extend_i32_u (local.get $s)) (i64.extend_i32_u (local.get $n))) (local.get $size)))
//	  (then (memory.copy (local.get $d) (local.get $s) (local.get $n)) (return)))  ;; traps
//	(if (i32.le_u (local.get $d) (local.get $s))
//	  (then (loop $fwd   ;; front to back
//	    (local.set $k (select (local.get $n) (i32.const chunk) (i32.lt_u (local.get $n) (i32.const chunk))))
//	    charge($k) (memory.copy (local.get $d) (local.get $s) (local.get $k))
//	    (local.set $d (i32.add (local.get $d) (local.get $k)))
//	    (local.set $s (i32.add (local.get $s) (local.get $k)))
//	    (br_if $fwd (local.tee $n (i32.sub (local.get $n) (local.get $k))))))
//	  (else (loop $back  ;; back to front: dst is above an overlapping src
//	    (local.set $k (select ...))
//	    (local.set $n (i32.sub (local.get $n) (local.get $k)))
//	    charge($k) (memory.copy (i32.add (local.get $d) (local.get $n)) (i32.add (local.get $s) (local.get $n)) (local.get $k))
//	    (br_if $back (local.get $n)))))
//
// where charge(x) is
//
//	(global.set $budget (i32.sub (global.get $budget) (i32.shr_u (i32.add x (i32.const 63)) (i32.const 6))))
//	(if (i32.le_s (global.get $budget) (i32.const 0)) (then (call $yield)))
//
// Fill is the same without $s's bounds check, its increment and the
// backward loop. The bounds check runs once, before the first chunk, so an
// out-of-bounds operation traps in the original instruction, before it
// writes anything, and the chunks' addresses cannot wrap around.
func bulkBody(fill bool, B, Y, chunk uint32) []byte {
	const d, s, n, k, size = 0, 1, 2, 3, 4
	op := []byte{0xfc, 10, 0, 0} // memory.copy 0 0
	if fill {
		op = []byte{0xfc, 11, 0} // memory.fill 0
	}
	c := []byte{0x02, 0x01, 0x7f, 0x01, 0x7e} // locals: $k i32, $size i64
	get := func(i byte) { c = append(c, 0x20, i) }
	set := func(i byte) { c = append(c, 0x21, i) }
	chunkConst := func() { c = appendS32(append(c, 0x41), int32(chunk)) } // i32.const chunk
	charge := func(x byte) {
		c = appendOp(c, 0x23, B) // global.get $budget
		get(x)
		c = append(c, 0x41, 1<<bulkShift-1, 0x6a, 0x41, bulkShift, 0x76, 0x6b) // i32.const 63; i32.add; i32.const 6; i32.shr_u; i32.sub
		c = appendOp(c, 0x24, B)                                               // global.set $budget
		c = appendOp(c, 0x23, B)                                               // global.get $budget
		c = append(c, 0x41, 0x00, 0x4c, 0x04, 0x40)                            // i32.const 0; i32.le_s; if
		c = append(appendOp(c, 0x10, Y), 0x0b)                                 // call $yield; end
	}
	whole := func() { get(d); get(s); get(n); c = append(append(c, op...), 0x0f) } // the instruction; return
	// past pushes whether [$x, $x+$n) runs past the end of the memory.
	past := func(x byte) {
		get(x)
		c = append(c, 0xad) // i64.extend_i32_u
		get(n)
		c = append(c, 0xad, 0x7c) // i64.extend_i32_u; i64.add
		get(size)
		c = append(c, 0x56) // i64.gt_u
	}
	kmin := func() { // $k = min($n, chunk)
		get(n)
		chunkConst()
		get(n)
		chunkConst()
		c = append(c, 0x49, 0x1b) // i32.lt_u; select
		set(k)
	}
	advance := func(x byte) { get(x); get(k); c = append(c, 0x6a); set(x) } // $x += $k

	get(n)
	chunkConst()
	c = append(c, 0x4d, 0x04, 0x40) // i32.le_u; if
	charge(n)
	whole()
	c = append(c, 0x0b)
	c = append(c, 0x3f, 0x00, 0xad, 0x42, 0x10, 0x86) // memory.size; i64.extend_i32_u; i64.const 16; i64.shl
	set(size)
	past(d)
	if !fill {
		past(s)
		c = append(c, 0x72) // i32.or
	}
	c = append(c, 0x04, 0x40) // if
	whole()
	c = append(c, 0x0b)
	if !fill {
		get(d)
		get(s)
		c = append(c, 0x4d, 0x04, 0x40) // i32.le_u; if
	}
	c = append(c, 0x03, 0x40) // loop
	kmin()
	charge(k)
	get(d)
	get(s)
	get(k)
	c = append(c, op...)
	advance(d)
	if !fill {
		advance(s)
	}
	get(n)
	get(k)
	c = append(c, 0x6b, 0x22, n, 0x0d, 0x00, 0x0b) // i32.sub; local.tee $n; br_if 0; end
	if !fill {
		c = append(c, 0x05, 0x03, 0x40) // else; loop
		kmin()
		get(n)
		get(k)
		c = append(c, 0x6b) // i32.sub
		set(n)
		charge(k)
		get(d)
		get(n)
		c = append(c, 0x6a) // i32.add
		get(s)
		get(n)
		c = append(c, 0x6a) // i32.add
		get(k)
		c = append(c, op...)
		get(n)
		c = append(c, 0x0d, 0x00, 0x0b, 0x0b) // br_if 0; end; end
	}
	return append(c, 0x0b)
}
