package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/snakepit-wasm/snakepit/abi"
	"github.com/snakepit-wasm/snakepit/internal/scratchfs"
)

func (o Op) String() string {
	switch o {
	case OpExec:
		return "OpExec"
	case OpEval:
		return "OpEval"
	case OpCall:
		return "OpCall"
	case OpCallBytes:
		return "OpCallBytes"
	case OpStream:
		return "OpStream"
	}
	return fmt.Sprintf("Op(%d)", int32(o))
}

// Validate reports why r cannot run, as an error wrapping ErrBadRequest, or
// nil. Instance.Run (and the pool, before it takes a worker) calls it, so
// that a malformed request fails in Go with its reason instead of as an
// obscure Python error.
func (r Request) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
	}
	switch r.Op {
	case OpExec, OpEval:
	case OpCall, OpCallBytes, OpStream:
		if r.Code == "" {
			return bad("%v needs a function name in Code", r.Op)
		}
	case 0:
		return bad("no Op set")
	default:
		return bad("unknown %v", r.Op)
	}
	if r.Op == OpStream && r.OnChunk == nil {
		return bad("OpStream needs OnChunk")
	}
	if r.Data != nil && r.Op != OpCallBytes {
		return bad("Data is for OpCallBytes, not %v", r.Op)
	}
	for name := range r.Host {
		if strings.HasPrefix(name, abi.ReservedPrefix) {
			return bad("Host: names starting with %q are reserved", abi.ReservedPrefix)
		}
	}
	for name := range r.Files {
		if name == "" || strings.IndexByte(name, 0) >= 0 {
			return bad("Files: the name %q is empty or holds a NUL byte", name)
		}
		if scratchfs.CheckPath(name) != 0 {
			return bad("Files: the name %q is too long or climbs out (..)", name)
		}
	}
	if len(r.Args) > 0 {
		if r.Op != OpCall && r.Op != OpStream {
			return bad("Args is for OpCall and OpStream, not %v", r.Op)
		}
		// Python's json would also take NaN or a bare value; the guest
		// must get what the documentation promises.
		a := bytes.TrimLeft(r.Args, " \t\r\n")
		if len(a) == 0 || (a[0] != '[' && a[0] != '{') || !json.Valid(a) {
			return bad("Args must be a JSON list or object")
		}
	}
	return nil
}
