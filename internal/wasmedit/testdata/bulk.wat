;; memory.copy and memory.fill with their operands from the caller, to compare
;; the chunked replacements with the instructions byte for byte, and loops
;; around them to check that the budget count stays exact across them.
;; build.sh (run by `make test`) assembles bulk.wasm.
(module
  (import "env" "yield" (func $yield))
  (memory (export "memory") 8) ;; 512 KiB

  (func (export "grow") (param $pages i32) (result i32)
    (memory.grow (local.get $pages)))

  (func (export "copy") (param $d i32) (param $s i32) (param $n i32)
    (memory.copy (local.get $d) (local.get $s) (local.get $n)))

  (func (export "fill") (param $d i32) (param $v i32) (param $n i32)
    (memory.fill (local.get $d) (local.get $v) (local.get $n)))

  ;; k loop headers, one copy of n bytes, k more headers: the loops make no
  ;; calls, so the function counts in a local around the copy.
  (func (export "around") (param $d i32) (param $s i32) (param $n i32) (param $k i32)
    (local $i i32)
    (loop $a
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $a (i32.lt_u (local.get $i) (local.get $k))))
    (memory.copy (local.get $d) (local.get $s) (local.get $n))
    (local.set $i (i32.const 0))
    (loop $b
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $b (i32.lt_u (local.get $i) (local.get $k)))))

  ;; k loop headers, each filling n bytes: the loop calls, so the function
  ;; counts in the global.
  (func (export "inside") (param $d i32) (param $n i32) (param $k i32)
    (local $i i32)
    (loop $l
      (memory.fill (local.get $d) (local.get $i) (local.get $n))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $k))))))
