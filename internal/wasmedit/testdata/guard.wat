;; Calls to WASI imports with path lengths and errnos, some guarded and one
;; not, from several functions, one of them in a loop.
;; build.sh (run by `make test`) assembles guard.wasm.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "env" "yield" (func $yield))
  (import "wasi_snapshot_preview1" "path_rename"
    (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_sync" (func $fd_sync (param i32) (result i32)))
  (memory (export "memory") 1)

  (func (export "open") (param $len i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 1) (i32.const 100) (local.get $len)
      (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 200)))

  (func (export "rename") (param $old i32) (param $new i32) (result i32)
    (call $path_rename (i32.const 3) (i32.const 100) (local.get $old)
      (i32.const 4) (i32.const 300) (local.get $new)))

  (func (export "write") (param $fd i32) (result i32)
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))

  ;; n calls in a loop (n >= 1); returns the sum of their results.
  (func (export "writes") (param $n i32) (result i32)
    (local $i i32) (local $sum i32)
    (loop $l
      (local.set $sum (i32.add (local.get $sum)
        (call $fd_write (local.get $i) (i32.const 0) (i32.const 1) (i32.const 8))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $sum))

  (func (export "sync") (param $fd i32) (result i32)
    (call $fd_sync (local.get $fd))))
