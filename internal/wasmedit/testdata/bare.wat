;; No global or export section, and a start function that loops: instrumenting
;; it must insert both sections in order, and instantiation itself yields.
(module
  (import "env" "yield" (func $yield))
  (func $start
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10)))))
  (start $start))
