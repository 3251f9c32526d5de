package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// ErrUnsafeName is returned by HostPath for a guest-chosen file name that is
// not safe to use as a host path.
var ErrUnsafeName = errors.New("snakepit: unsafe file name")

// HostPath joins name, a key of Result.Files or a name read from
// Instance.Scratch, onto the host directory dir, or fails with an error
// wrapping ErrUnsafeName when name could reach outside dir or mean something
// else on this host. The guest chooses these names, and a name that is an
// ordinary file on Linux ("..\..\evil.txt", "C:\x", "con") is a path out of
// dir or a device on Windows; names with control characters ("a\nb") forge
// lines in logs and listings. Use it before writing a guest's files to disk.
func HostPath(dir, name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %q %s", ErrUnsafeName, name, why)
	}
	switch {
	case !fs.ValidPath(name) || name == ".":
		return bad("is not a relative slash-separated path")
	case strings.ContainsAny(name, `\:`):
		return bad(`holds a \ or a :, which a Windows host reads as a separator or a drive`)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return bad("holds a control character")
	}
	local := filepath.FromSlash(name)
	if !filepath.IsLocal(local) {
		// On Windows this also refuses reserved names (NUL, COM1, ...).
		return bad("is not a local path on this host")
	}
	return filepath.Join(dir, local), nil
}
