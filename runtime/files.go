package runtime

import (
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/snakepit-wasm/snakepit/internal/scratchfs"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// scratchFS is the instance's scratch file system (package scratchfs).
type scratchFS = scratchfs.FS

// errnoExport is the guest's errno global, through which refuse passes
// the errnos wazero cannot express (see package mountfs).
const errnoExport = "sp_errno"

// refuse makes the guest's current WASI call fail with errno (a
// mountfs.Refuse).
func (i *Instance) refuse(errno uint32) experimentalsys.Errno {
	if i.errno != nil {
		i.errno.Set(uint64(errno))
	}
	return experimentalsys.EIO
}

// errnoErr turns an errno of the scratch file system into an error for the
// host.
func errnoErr(op, name string, errno experimentalsys.Errno) error {
	var err error
	switch errno {
	case scratchfs.ErrNoSpace:
		err = ErrScratchFull
	case experimentalsys.ENOENT:
		err = fs.ErrNotExist
	case experimentalsys.EEXIST:
		err = fs.ErrExist
	case experimentalsys.EPERM:
		err = fs.ErrPermission
	default:
		err = errno
	}
	return fmt.Errorf("scratch: %s %q: %w", op, name, err)
}

// scratchName resolves a host-given name: relative to the scratch root,
// or absolute under the guest path root. Nothing may climb out ("..").
func scratchName(root, name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		rel, ok := strings.CutPrefix(path.Clean(name), root)
		if !ok || (rel != "" && rel[0] != '/') {
			return "", fmt.Errorf("scratch: %q is not under %s", name, root)
		}
		name = rel
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("scratch: %q holds a NUL byte", name)
	}
	if errno := scratchfs.CheckPath(name); errno != 0 {
		return "", errnoErr("resolve", name, errno)
	}
	return name, nil
}

// putFiles writes a request's files, in name order, and returns the
// scratch file system's generation after them: the call's changes are
// those after it.
func (i *Instance) putFiles(files map[string][]byte) (gen uint64, err error) {
	if i.scratch == nil {
		if len(files) > 0 {
			return 0, fmt.Errorf("%w: Files given, but the scratch file system is disabled", ErrBadRequest)
		}
		return 0, nil
	}
	if len(files) == 0 {
		return i.scratch.Gen(), nil // without sorting no names (3 allocations a call)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		rel, err := scratchName(i.opts.Scratch.Path, name)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		if errno := i.scratch.WriteFile(rel, files[name]); errno != 0 {
			return 0, errnoErr("write", name, errno)
		}
	}
	return i.scratch.Gen(), nil
}

// Scratch returns the instance's scratch file system as a read-only fs.FS,
// with names relative to its root ("report.json", "out/chart.svg"); use
// fs.ReadFile, fs.WalkDir, fs.Glob. It shows the files as they are at each
// use, also while a call runs; an Open'ed file or directory holds its
// content as it was at Open. After Close, and when the scratch file system
// is disabled, every use fails.
func (i *Instance) Scratch() fs.FS {
	return scratchfs.View(func() (*scratchfs.FS, error) {
		if i.scratch == nil || i.life.Closed() {
			return nil, ErrClosed
		}
		return i.scratch, nil
	})
}

// WriteFile creates or replaces a file in the instance's scratch file
// system, creating the directories above it; name is relative to its root
// or absolute under Options.Scratch.Path. It counts against the caps
// (ErrScratchFull past them, the old content then left in place). It is
// safe while a call runs, which then sees the file appear (and lists it in
// its Result.Files, as a file created during the call).
func (i *Instance) WriteFile(name string, data []byte) error {
	if i.scratch == nil {
		return fmt.Errorf("scratch: write %q: the scratch file system is disabled", name)
	}
	if i.life.Closed() {
		return ErrClosed
	}
	rel, err := scratchName(i.opts.Scratch.Path, name)
	if err != nil {
		return err
	}
	if errno := i.scratch.WriteFile(rel, data); errno != 0 {
		return errnoErr("write", name, errno)
	}
	return nil
}
