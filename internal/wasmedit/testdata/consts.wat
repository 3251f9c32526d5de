;; Provides the global that loops.wat imports.
(module (global (export "g") i32 (i32.const 5)))
