package runtime

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/mountfs"
	"github.com/snakepit-wasm/snakepit/internal/pycache"
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

// resolvePackages turns o.Packages into mounts, serving each with its
// bytecode (see internal/pycache) unless it is small; it also returns the
// guest paths to put on sys.path.
func (r *Runtime) resolvePackages(o Options) (Options, []string, error) {
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
		key, size := "", int64(pycache.MinSourceBytes)
		switch {
		case p.Zip != nil:
			var z *zip.Reader
			if z, err = zip.NewReader(bytes.NewReader(p.Zip), int64(len(p.Zip))); err == nil {
				m.FS, key, size = mountfs.SeekableZip(z), pycache.BytesKey(p.Zip), zipSources(z)
			}
		case p.Files != nil:
			m.FS, err = mountfs.Files(p.Files)
			key, size = pycache.FilesKey(p.Files), filesSources(p.Files)
		case p.FS != nil:
			// Read whole on every resolve: an fs.FS may change, and its
			// mtimes may not say so.
			if key, _ = pycache.SourceKey(p.FS); key == "" {
				size = 0
			}
		case p.HostDir != "":
			// CPython checks each file's mtime and size against its
			// bytecode: an edited directory is served from source.
			if abs, err := filepath.Abs(p.HostDir); err == nil {
				key = "dir:" + abs
			}
		}
		if err != nil {
			return o, nil, fmt.Errorf("%w: package %d: %w", ErrBadOptions, n, err)
		}
		if r.pyc != nil && key != "" && size >= pycache.MinSourceBytes {
			m.pyc = r.pyc.Get(key, m.sourceKey, r.compiler(m))
			if m.HostDir == "" {
				m.FS = pycache.Overlay(m.FS, m.pyc) // fsConfig serves a HostDir's
			}
		}
		mounts = append(mounts, m)
		paths = append(paths, m.GuestPath)
	}
	o.Mounts, o.Packages = mounts, nil
	return o, paths, nil
}

func zipSources(z *zip.Reader) (n int64) {
	for _, f := range z.File {
		if strings.HasSuffix(f.Name, ".py") {
			n += int64(min(f.UncompressedSize64, 1<<40))
		}
	}
	return n
}

func filesSources(files map[string]string) (n int64) {
	for name, src := range files {
		if strings.HasSuffix(name, ".py") {
			n += int64(len(src))
		}
	}
	return n
}

// sourceKey is pycache's key of the content of a package's mount.
func (m Mount) sourceKey() (string, error) {
	if m.HostDir == "" {
		return pycache.SourceKey(m.FS)
	}
	root, err := os.OpenRoot(m.HostDir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	return pycache.SourceKey(root.FS())
}

// compileRoot is where the compiler sees the package; the bytecode does
// not depend on it (CPython sets the code's file name at import).
const compileRoot = "/src"

// compiler compiles the package mounted by m in an instance of its own
// (pycache.CompilerSource), which holds the package's files and what it
// compiles, within the caps below.
func (r *Runtime) compiler(m Mount) pycache.Compile {
	m.GuestPath, m.pyc = compileRoot, nil
	return func(ctx context.Context, have []string, add func(pycache.Batch) error) error {
		i, err := r.NewInstance(ctx, Options{
			Limits:  Limits{MaxMemory: 1 << 30, MaxResult: pycache.BatchBytes + pycache.MaxFileBytes + 1<<20},
			Mounts:  []Mount{m},
			Scratch: ScratchOptions{Disabled: true},
		})
		if err != nil {
			return err
		}
		defer i.Close(context.WithoutCancel(ctx))
		if _, err := i.Run(ctx, Exec(pycache.CompilerSource)); err != nil {
			return err
		}
		if have == nil {
			have = []string{} // JSON's null is not a list
		}
		if _, err := i.Run(ctx, Call("_pyc_start", compileRoot, have, pycache.MaxFileBytes)); err != nil {
			return err
		}
		for {
			res, err := i.Run(ctx, Call("_pyc_batch", pycache.BatchBytes))
			if err != nil {
				return err
			}
			if len(res.Bytes) == 0 {
				return nil
			}
			if err := add(res.Bytes); err != nil {
				return err
			}
		}
	}
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
