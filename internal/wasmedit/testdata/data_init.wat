;; memory.init names a segment by index, so StripData must refuse this module.
(module
  (memory 1)
  (data $d "passive")
  (func (export "init") (memory.init $d (i32.const 0) (i32.const 0) (i32.const 7))))
