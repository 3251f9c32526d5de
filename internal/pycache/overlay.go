package pycache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"time"
)

// Overlay serves base with the bytecode of s: each file of s at its name,
// and each __pycache__ directory holding them, unless base has one there
// already (base's own __pycache__ wins for listing; the files of s are
// still served by name). Listings of base's directories are base's: they do
// not show the directories added. It is read-only, as base is.
func Overlay(base fs.FS, s *Set) fs.FS { return overlay{base, s} }

type overlay struct {
	base fs.FS
	set  *Set
}

func (o overlay) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if path.Base(name) == "__pycache__" || strings.HasSuffix(name, ".pyc") {
		fl := o.set.files.Load()
		if data, ok := fl.byName[name]; ok {
			return &memFile{Reader: bytes.NewReader(data), info: memInfo{name: path.Base(name), size: int64(len(data))}}, nil
		}
		if entries, ok := fl.dirs[name]; ok {
			if f, err := o.base.Open(name); err == nil {
				return f, nil
			}
			return &memDir{info: memInfo{name: path.Base(name), dir: true}, names: entries, fl: fl, dir: name}, nil
		}
	}
	return o.base.Open(name)
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}

type memFile struct {
	*bytes.Reader
	info memInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }

type memDir struct {
	info  memInfo
	names []string
	fl    *files
	dir   string
	off   int
}

func (d *memDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *memDir) Close() error               { return nil }
func (d *memDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.dir, Err: errors.New("is a directory")}
}

func (d *memDir) ReadDir(n int) ([]fs.DirEntry, error) {
	names := slices.Sorted(slices.Values(d.names))[d.off:]
	if n > 0 && len(names) == 0 {
		return nil, io.EOF
	}
	if n > 0 && n < len(names) {
		names = names[:n]
	}
	d.off += len(names)
	out := make([]fs.DirEntry, len(names))
	for k, name := range names {
		out[k] = fs.FileInfoToDirEntry(memInfo{name: name, size: int64(len(d.fl.byName[d.dir+"/"+name]))})
	}
	return out, nil
}

// FilesKey returns the key of a package given as files by name.
func FilesKey(files map[string]string) string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%d:%s%d:", len(name), name, len(files[name]))
		io.WriteString(h, files[name])
	}
	return "files:" + hex.EncodeToString(h.Sum(nil))
}

// BytesKey returns the key of a package given as an archive.
func BytesKey(b []byte) string {
	sum := sha256.Sum256(b)
	return "zip:" + hex.EncodeToString(sum[:])
}

// SourceKey returns the key of the content of the .py files of fsys, as
// the guest sees them (name, size, mtime, content); "" when they are
// fewer than MinSourceBytes. It reads them all, up to MaxSourceBytes.
func SourceKey(fsys fs.FS) (string, error) {
	h := sha256.New()
	var total int64
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(name, ".py") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if total += info.Size(); total > MaxSourceBytes {
			return fmt.Errorf("sources past %d bytes", MaxSourceBytes)
		}
		f, err := fsys.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%d:%s%d:%d:", len(name), name, info.ModTime().Unix(), info.Size())
		n, err := io.Copy(h, io.LimitReader(f, info.Size()+1))
		if err == nil && n != info.Size() {
			err = fmt.Errorf("%s changed while read", name)
		}
		return err
	})
	if err != nil || total < MinSourceBytes {
		return "", err
	}
	return "src:" + hex.EncodeToString(h.Sum(nil)), nil
}
