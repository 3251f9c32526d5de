package runtime

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/snakepit-wasm/snakepit/internal/scratchfs"
)

// ErrUnsafeName is returned by HostPath for a guest-chosen file name that is
// not safe to use as a host path.
var ErrUnsafeName = errors.New("unsafe file name")

// HostPath joins name, a key of Result.Files or a name read from
// Instance.Scratch, onto the host directory dir, or fails with an error
// wrapping ErrUnsafeName when name could reach outside dir or mean something
// else on this host: a name that is an ordinary file on Linux ("..\..\x",
// "C:\x", "con") is a path out of dir or a device on Windows, and a control
// character ("a\nb") forges lines in logs. Use it before writing a guest's
// files to disk.
func HostPath(dir, name string) (string, error) {
	if why := scratchfs.HostName(name); why != "" {
		return "", fmt.Errorf("%w: %q %s", ErrUnsafeName, name, why)
	}
	return filepath.Join(dir, filepath.FromSlash(name)), nil
}
