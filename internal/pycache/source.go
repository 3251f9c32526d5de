package pycache

import _ "embed"

// CompilerSource is the guest's half of Compile: exec it, call
// _pyc_start(root, have, MaxFileBytes) once and _pyc_batch(BatchBytes)
// until it returns empty bytes.
//
//go:embed compile.py
var CompilerSource string
