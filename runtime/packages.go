package runtime

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/mountfs"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// PackagesPath is where the guest sees Options.Packages: the n-th at
// PackagesPath/n, each on sys.path after the standard library.
const PackagesPath = "/packages"

// Package is Python code for the guest: a tree whose root holds modules and
// packages, mounted read-only and put on sys.path. Exactly one of its
// fields is set. Importing it is Preload's job (SnapshotOptions.Preload,
// pool.Options.Preload), so that a snapshot's clones start with it loaded.
type Package struct {
	// FS is a file system, e.g. a directory embedded in the Go binary
	// (all: keeps __init__.py, which a plain pattern leaves out):
	//
	//	//go:embed all:py
	//	var py embed.FS
	//	sub, _ := fs.Sub(py, "py") // its root holds the modules
	FS fs.FS
	// HostDir is a host directory, served through os.Root like
	// Mount.HostDir.
	HostDir string
	// Zip is a zip archive, e.g. a pure-Python wheel; its files are served
	// as a directory tree (not through zipimport).
	Zip []byte
	// Files are modules given as source: file name ("helpers.py",
	// "pkg/__init__.py") to content.
	Files map[string]string
}

// resolvePackages turns o.Packages into mounts; it also returns the guest
// paths to put on sys.path.
func resolvePackages(o Options) (Options, []string, error) {
	if len(o.Packages) == 0 {
		return o, nil, nil
	}
	mounts := slices.Clone(o.Mounts)
	var paths []string
	for n, p := range o.Packages {
		m := Mount{GuestPath: PackagesPath + "/" + strconv.Itoa(n), HostDir: p.HostDir, FS: p.FS}
		if err := p.check(); err != nil {
			return o, nil, fmt.Errorf("%w: package %d: %w", ErrBadOptions, n, err)
		}
		var err error
		switch {
		case p.Zip != nil:
			m.FS, err = zip.NewReader(bytes.NewReader(p.Zip), int64(len(p.Zip)))
		case p.Files != nil:
			m.FS, err = mountfs.Files(p.Files)
		}
		if err != nil {
			return o, nil, fmt.Errorf("%w: package %d: %w", ErrBadOptions, n, err)
		}
		mounts = append(mounts, m)
		paths = append(paths, m.GuestPath)
	}
	o.Mounts, o.Packages = mounts, nil
	return o, paths, nil
}

func (p Package) check() error {
	set := 0
	for _, on := range []bool{p.FS != nil, p.HostDir != "", p.Zip != nil, p.Files != nil} {
		if on {
			set++
		}
	}
	if set != 1 {
		return errors.New("exactly one of FS, HostDir, Zip and Files must be set")
	}
	return nil
}

// extendPath is the source that puts paths on the guest's sys.path.
func extendPath(paths []string) string {
	b, _ := json.Marshal(paths) // a JSON list of strings is a Python literal
	return "import sys\nsys.path.extend(" + string(b) + ")\n"
}

// reservedPath reports whether a mount at p would cover a path the runtime
// mounts itself.
func reservedPath(p string) bool {
	p = path.Clean(p)
	for _, r := range []string{PackagesPath, abi.GuestLibPath, SitePackagesPath, StdlibPath, ZoneinfoPath, DevPath} {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// guestLib serves abi.GuestLib; stateless, so shared by every instance.
var guestLib = &sysfs.AdaptFS{FS: abi.GuestLib}
