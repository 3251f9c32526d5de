;; data.drop names a segment by index, so StripData must refuse this module.
(module
  (memory 1)
  (data $d "passive")
  (func (export "drop") (data.drop $d)))
