;; Hand-written loops that exercise every decoded instruction family.
;; build.sh (run by `make test`) assembles loops.wasm.
(module
  (type $void (func))
  (type $i2i (func (param i32) (result i32)))
  (type $pair (func (param i32 i32) (result i32 i32)))
  (import "env" "other" (func $other (param i32)))
  (import "env" "yield" (func $yield))
  (import "consts" "g" (global $g i32))
  (memory (export "memory") 1)
  (table $t0 2 funcref)
  (table $t1 1 externref)
  (table $t2 2 funcref)
  (global $acc (mut i32) (i32.const 0))
  (elem (table $t2) (i32.const 0) func $double $triple)

  (func $double (type $i2i) (i32.mul (local.get 0) (i32.const 2)))
  (func $triple (type $i2i) (i32.mul (local.get 0) (i32.const 3)))
  (func $step (type $pair) (local.get 1) (i32.add (local.get 0) (local.get 1)))

  ;; The loop header runs exactly n times for n >= 1.
  (func (export "count") (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (br_if $done (i32.eqz (local.get $n)))
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))
    (local.get $i))

  (func (export "nested") (param $n i32) (param $m i32) (result i32)
    (local $i i32) (local $j i32) (local $sum i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $sum (i32.add (local.get $sum)
          (i32.add (i32.mul (local.get $i) (local.get $j)) (global.get $g))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (local.get $m))))
      (call $other (local.get $i))
      (global.set $acc (i32.add (global.get $acc) (local.get $sum)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
    (i32.add (local.get $sum) (global.get $acc)))

  (func (export "brtable") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    block $exit
      loop $top
        local.get $i
        local.get $n
        i32.ge_u
        br_if $exit
        block $c2
          block $c1
            block $c0
              local.get $i
              i32.const 3
              i32.rem_u
              br_table $c0 $c1 $c2
            end
            local.get $acc
            i32.const 1
            i32.add
            local.set $acc
            local.get $i
            i32.const 1
            i32.add
            local.set $i
            br $top
          end
          local.get $acc
          i32.const 10
          i32.add
          local.tee $acc
          i32.const 2000
          i32.gt_u
          br_if $exit
        end
        local.get $acc
        i32.const 100
        i32.add
        local.set $acc
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br $top
      end
    end
    local.get $acc)

  ;; A loop that takes and returns two values (multi-value block type index).
  (func (export "fibmv") (param $n i32) (result i32)
    i32.const 0
    i32.const 1
    loop $l (type $pair)
      call $step
      local.get $n
      i32.const 1
      i32.sub
      local.tee $n
      i32.const 0
      i32.gt_s
      br_if $l
    end
    block (param i32 i32) (result i32 i32)
      call $step
    end
    drop)

  (func (export "manylocals") (param $n i32) (result i64)
    (local $i i32)
    (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (local $last i64)
    (loop $l
      (local.set 150 (i64.add (local.get 150) (i64.extend_i32_u (local.get $i))))
      (local.set $last (i64.add (local.get $last) (local.get 150)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $last))

  (func (export "reftypes") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (table.set $t0 (i32.const 0) (ref.func $double))
    (drop (table.grow $t1 (ref.null extern) (i32.const 3)))
    (table.fill $t1 (i32.const 0) (ref.null extern) (i32.const 2))
    (table.copy $t0 $t2 (i32.const 1) (i32.const 1) (i32.const 1))
    (loop $l
      (local.set $acc (i32.add (local.get $acc)
        (call_indirect $t2 (type $i2i) (local.get $i) (i32.rem_u (local.get $i) (i32.const 2)))))
      (local.set $acc (i32.add (local.get $acc)
        (call_indirect $t0 (type $i2i) (local.get $i) (i32.const 1))))
      (local.set $acc (i32.add (local.get $acc)
        (select (result i32) (i32.const 1) (i32.const 0) (ref.is_null (table.get $t1 (i32.const 0))))))
      (local.set $acc (i32.add (local.get $acc) (table.size $t1)))
      (local.set $acc (i32.add (local.get $acc) (ref.is_null (table.get $t0 (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))

  (func (export "bulk") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (memory.fill (i32.const 0) (i32.const 0x85) (i32.const 64))
    (loop $l
      (memory.copy (i32.add (i32.const 64) (local.get $i)) (local.get $i) (i32.const 8))
      (local.set $acc (i32.add (local.get $acc) (i32.load8_s offset=64 (local.get $i))))
      (local.set $acc (i32.add (local.get $acc) (i32.extend8_s (i32.mul (local.get $i) (i32.const 37)))))
      (local.set $acc (i32.add (local.get $acc) (i32.wrap_i64 (i64.extend32_s (i64.extend_i32_u (local.get $i))))))
      (local.set $acc (i32.add (local.get $acc)
        (i32.trunc_sat_f64_s (f64.mul (f64.convert_i32_s (local.get $i)) (f64.const 1e9)))))
      (local.set $acc (i32.xor (local.get $acc)
        (i32.wrap_i64 (i64.trunc_sat_f32_u (f32.const -1.5)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.add (local.get $acc) (i32.load offset=64 (i32.const 0))))

  (func (export "simd") (param $n i32) (result i32)
    (local $v v128) (local $i i32)
    (local.set $v (v128.const i32x4 1 2 3 4))
    (loop $l
      (local.set $v (i32x4.add (local.get $v) (i32x4.splat (local.get $i))))
      (local.set $v (i8x16.shuffle 1 0 3 2 5 4 7 6 9 8 11 10 13 12 15 14 (local.get $v) (local.get $v)))
      (v128.store offset=128 (i32.const 0) (local.get $v))
      (local.set $v (v128.load32_lane offset=132 3 (i32.const 0) (local.get $v)))
      (local.set $v (i32x4.replace_lane 0 (local.get $v) (i32.add (i32x4.extract_lane 1 (local.get $v)) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 0 (local.get $v))))

  (func (export "ifloop") (param $n i32) (result i32)
    (local $i i32)
    (if (i32.gt_s (local.get $n) (i32.const 0))
      (then (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br_if $l (i32.lt_s (local.get $i) (local.get $n)))))
      (else (loop $m
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br_if $m (i32.gt_s (local.get $i) (local.get $n))))))
    (block $b
      (br $b)
      (loop $dead (br $dead)))
    (local.get $i))
)
