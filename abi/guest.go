package abi

import _ "embed"

// GuestPython is guest/snakepit_guest.py, the guest half of the ABI that is
// not compiled into python.wasm: request dispatch, result encoding and the
// `snakepit` module that user code imports. The host hands it to sp_init
// when it starts an interpreter, so changing it changes no binary.
//
//go:embed guest/snakepit_guest.py
var GuestPython []byte
