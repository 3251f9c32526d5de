;; An interpreter-shaped module: a dispatch loop around the function's largest
;; br_table, which calls the tick import every `every` steps, as CPython's eval
;; loop does at its eval-breaker checks.
;; build.sh (run by `make test`) assembles ticks.wasm.
(module
  (import "env" "yield" (func $yield))
  (import "env" "tick" (func $tick))

  ;; m iterations of a plain loop (its header runs m times, m >= 1), then n
  ;; dispatched steps (the dispatch header runs n+1 times) with a tick after
  ;; every step i where (i+1) % every == 0. Returns the sum of the ops' values.
  (func (export "interp") (param $n i32) (param $every i32) (param $m i32) (result i32)
    (local $i i32) (local $acc i32)
    (loop $pre
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $pre (i32.lt_u (local.get $i) (local.get $m))))
    (local.set $i (i32.const 0))
    (block $done
      (loop $dispatch
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (block $next
          (block $op2 (block $op1 (block $op0
            (br_table $op0 $op1 $op2 $op2 (i32.rem_u (local.get $i) (i32.const 3))))
            (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
            (br $next))
            (local.set $acc (i32.add (local.get $acc) (i32.const 10)))
            (br $next))
          (local.set $acc (i32.add (local.get $acc) (i32.const 100))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.eqz (i32.rem_u (local.get $i) (local.get $every)))
          (then (call $tick)))
        (br $dispatch)))
    (local.get $acc))

  ;; The same dispatch without ticks: its loop keeps its check (header runs n+1 times).
  (func (export "plain") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $dispatch
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (block $next
          (block $op1 (block $op0
            (br_table $op0 $op1 $op1 (i32.rem_u (local.get $i) (i32.const 2))))
            (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
            (br $next))
          (local.set $acc (i32.add (local.get $acc) (i32.const 10))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $dispatch)))
    (local.get $acc)))
