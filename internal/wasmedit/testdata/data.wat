;; An active data segment; StripData must leave this memory zeroed.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, snapshot")
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0))))
