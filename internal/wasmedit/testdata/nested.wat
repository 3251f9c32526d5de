;; Loops in callers and callees, left by every kind of exit, to check that the
;; budget count stays exact across calls. Each function returns the number of
;; loop headers it ran, its callees' included.
;; build.sh (run by `make test`) assembles nested.wasm.
(module
  (import "env" "yield" (func $yield))
  (type $i2i (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $byreturn)

  ;; k headers, left by falling off the end.
  (func $inner (param $k i32) (result i32)
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $k))))
    (local.get $i))

  ;; k headers, left by return from inside the loop.
  (func $byreturn (param $k i32) (result i32)
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (if (i32.ge_u (local.get $i) (local.get $k)) (then (return (local.get $i))))
      (br $l))
    (unreachable))

  ;; k headers, left by a br_table to the function's label (a br_if to it,
  ;; never taken, stands in the loop).
  (func $bybranch (param $k i32) (result i32)
    (local $i i32)
    (drop (block $x (result i32)
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (drop (br_if 2 (local.get $i) (i32.gt_u (local.get $i) (local.get $k))))
        (br_if $l (i32.lt_u (local.get $i) (local.get $k))))
      (br_table $x 1 (local.get $i) (i32.const 1))))
    (i32.const -1))

  ;; 2k headers: a call outside its loop, then its own loop.
  (func $prefixed (param $k i32) (result i32)
    (local $i i32) (local $sub i32)
    (local.set $sub (call $inner (local.get $k)))
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $k))))
    (i32.add (local.get $sub) (local.get $i)))

  ;; No loop, no call: it never checks, so a call to it needs no handover.
  (func $leaf (param $x i32) (result i32)
    (i32.add (local.get $x) (i32.const 0)))

  ;; k headers in a tight loop, then a call to $leaf and one to $inner (which
  ;; checks): the count is handed over around the second call only.
  (func $withleaf (param $k i32) (result i32)
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $k))))
    (i32.add (call $leaf (local.get $i)) (call $inner (local.get $k))))

  ;; n headers, each iteration calling the five above (directly and through
  ;; the table) with k.
  (func (export "outer") (param $n i32) (param $k i32) (result i32)
    (local $i i32) (local $total i32)
    (loop $l
      (local.set $total (i32.add (local.get $total) (i32.const 1)))
      (local.set $total (i32.add (local.get $total) (call $inner (local.get $k))))
      (local.set $total (i32.add (local.get $total) (call_indirect (type $i2i) (local.get $k) (i32.const 0))))
      (local.set $total (i32.add (local.get $total) (call $bybranch (local.get $k))))
      (local.set $total (i32.add (local.get $total) (call $prefixed (local.get $k))))
      (local.set $total (i32.add (local.get $total) (call $withleaf (local.get $k))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $total)))
