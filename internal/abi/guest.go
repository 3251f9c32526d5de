package abi

import (
	"embed"
	"io/fs"
)

// GuestPython is guest/snakepit_guest.py, the guest half of the ABI that is
// not compiled into python.wasm: request dispatch, result encoding and the
// `snakepit` module that user code imports. The host hands it to sp_init
// when it starts an interpreter, so changing it changes no binary.
//
//go:embed guest/snakepit_guest.py
var GuestPython []byte

//go:embed guest/snakepit_adapter.py guest/snakepit_posix.py guest/pwd.py guest/grp.py
var guestLib embed.FS

// GuestLib holds the guest's own Python modules, which the host serves
// read-only at GuestLibPath (on the guest's sys.path): snakepit_adapter.py,
// the adapter half of the `snakepit` module (exported functions, their
// catalog, asyncio over host tools), imported on first use;
// snakepit_posix.py, imported at start (os ids, os.dup and os.dup2 over
// /dev); pwd.py and grp.py, the sandbox's one user and group.
var GuestLib = mustSub(guestLib, "guest")

// GuestLibPath is where the guest sees GuestLib.
const GuestLibPath = "/usr/lib/snakepit"

// Entry points of snakepit_adapter.py that the host calls with
// KindCallJSON. Each returns its answer as JSON in a bytes value.
const (
	// AdapterCall calls an exported function: b is the JSON list
	// [name, args], args a JSON list, object or null.
	AdapterCall = "snakepit_adapter._call"
	// AdapterStream is AdapterCall for a function whose result is iterated:
	// each item is emitted as a stream chunk, and the iterator is closed
	// (a generator's finally runs) before the call returns, also when the
	// host stops the stream.
	AdapterStream = "snakepit_adapter._stream"
	// AdapterCatalog returns the catalog of exported functions.
	AdapterCatalog = "snakepit_adapter._catalog"
)

// Host calls whose names start with ReservedPrefix are control operations
// of the guest's event loop (snakepit.acall), never host tools.
const (
	ReservedPrefix = "snakepit."
	// HostStart starts the tool named in its argument, the JSON list
	// [name, args], on a goroutine of its own; the answer is a handle (an
	// integer), or null when the call's async slots are all taken.
	HostStart = ReservedPrefix + "start"
	// HostWait waits until at least one started tool has finished, or its
	// argument's timeout (seconds, or null for none) passes; the answer is
	// a JSON list of [handle, ok, value-or-error-message].
	HostWait = ReservedPrefix + "wait"
	// HostCancel cancels the context of the tools whose handles its
	// argument lists; they are still reported by HostWait when they end.
	HostCancel = ReservedPrefix + "cancel"
)

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
