package scratchfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// An image of a clone's tree (AppendImage) holds what the clone changed
// since it was cloned, and names the rest by the base's inode numbers:
// a clone never owns a node below one it does not own (it copies every
// directory above a node before the node), so a node it does not own is a
// whole subtree of the base, possibly moved. Encoding, all integers
// unsigned varints unless said:
//
//	image  = nextIno node
//	node   = 0 ino                       a node of the base, with all below it
//	       | 1 meta count { name node }  a directory, entries in name order
//	       | 2 meta size bytes           a file
//	       | 3 meta                      a file with the content of the base's file of its inode
//	meta   = ino mode atime mtime ctime  (times as signed varints)
//	name   = length bytes
const (
	imgBase = iota
	imgDir
	imgFile
	imgBaseContent
)

// ErrImage is wrapped by the error of an image that LoadImage refuses.
var ErrImage = errors.New("scratchfs: bad image")

// AppendImage appends an image of s, a clone of base (or a new FS, with
// base nil), to b. No file of s's may be open but the root (the caller
// checks): a file unlinked while open would be lost.
func (s *FS) AppendImage(b []byte, base *FS) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	b = binary.AppendUvarint(b, s.nextIno)
	return s.appendNode(b, s.root, base)
}

func (s *FS) appendNode(b []byte, n *node, base *FS) []byte {
	if base != nil && n.owner != s {
		b = append(b, imgBase)
		return binary.AppendUvarint(b, n.ino)
	}
	kind := imgFile
	switch {
	case n.dir:
		kind = imgDir
	case n.shared && base != nil:
		kind = imgBaseContent
	}
	b = append(b, byte(kind))
	b = binary.AppendUvarint(b, n.ino)
	b = binary.AppendUvarint(b, uint64(n.mode))
	b = binary.AppendVarint(b, n.atime)
	b = binary.AppendVarint(b, n.mtime)
	b = binary.AppendVarint(b, n.ctime)
	switch kind {
	case imgDir:
		b = binary.AppendUvarint(b, uint64(len(n.ents)))
		for _, e := range n.ents {
			b = binary.AppendUvarint(b, uint64(len(e.name)))
			b = append(b, e.name...)
			b = s.appendNode(b, e.n, base)
		}
	case imgFile:
		b = binary.AppendUvarint(b, uint64(len(n.data)))
		b = append(b, n.data...)
	}
	return b
}

// baseNode is a node of a frozen tree, with the entries and content bytes
// of its subtree (itself included), for LoadImage's caps.
type baseNode struct {
	n       *node
	entries int
	bytes   int64
}

// index returns base's nodes by inode, built once.
func (s *FS) index() map[uint64]baseNode {
	s.idxOnce.Do(func() {
		s.idx = make(map[uint64]baseNode)
		var walk func(n *node) baseNode
		walk = func(n *node) baseNode {
			bn := baseNode{n: n, entries: 1, bytes: int64(len(n.data))}
			for _, e := range n.ents {
				c := walk(e.n)
				bn.entries += c.entries
				bn.bytes += c.bytes
			}
			s.idx[n.ino] = bn
			return bn
		}
		walk(s.root)
	})
	return s.idx
}

// maxImageDepth bounds the depth of a tree that LoadImage takes, and so
// its recursion: a guest's paths stop at MaxPathLen, 2,048 levels of
// one-letter names (renaming a directory can nest deeper, and such a tree
// cannot be restored).
const maxImageDepth = MaxPathLen

// LoadImage makes s, a clone of base (the result of Freeze; nil for an
// image of a new FS) with no file open, hold the tree of img, an image
// AppendImage made of a clone of the same base, and returns the bytes after
// the image. The image may come from anywhere: whatever it holds, s ends
// within its caps, with a tree a guest could have made (names it could
// give, each once per directory, in order), or LoadImage returns an error
// wrapping ErrImage and leaves s unchanged. It never panics.
func (s *FS) LoadImage(base *FS, img []byte) ([]byte, error) {
	t := &FS{maxBytes: s.maxBytes, maxFiles: s.maxFiles}
	if base != nil {
		t.gen, t.nextIno = base.gen, base.nextIno
	}
	d := decoder{s: t, owner: s, b: img, base: base}
	next := d.uvarint()
	root := d.node(0)
	switch {
	case d.err != nil:
		return nil, d.err
	case !root.dir:
		return nil, fmt.Errorf("%w: the root is not a directory", ErrImage)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen {
		return nil, fmt.Errorf("%w: the file system is closed", ErrImage)
	}
	s.root, s.bytes, s.entries, s.held = root, t.bytes, t.entries, t.held
	s.gen = max(s.gen, t.gen) + 1 // after every node the image made: nothing changed since
	s.nextIno = max(t.nextIno, next, d.maxIno+1)
	return d.b, nil
}

type decoder struct {
	s      *FS // the counts
	owner  *FS // of the nodes made
	b      []byte
	base   *FS
	err    error
	maxIno uint64
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrImage, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("truncated")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// count charges a node's entries (the root excepted) and content bytes
// against the caps.
func (d *decoder) count(entries int, bytes int64) {
	d.s.entries += entries
	d.s.bytes += bytes
	if d.s.entries > d.s.maxFiles || d.s.bytes > d.s.maxBytes {
		d.fail("over the caps (%d files, %d bytes)", d.s.maxFiles, d.s.maxBytes)
	}
}

func (d *decoder) baseNode(ino uint64) (baseNode, bool) {
	if d.base == nil {
		d.fail("a reference to a base, without one")
		return baseNode{}, false
	}
	bn, ok := d.base.index()[ino]
	if !ok {
		d.fail("no inode %d in the base", ino)
	}
	return bn, ok
}

// node decodes one node at depth (the root's 0). Depth is bounded by the
// entries, which the caps bound.
func (d *decoder) node(depth int) *node {
	if d.err != nil || len(d.b) == 0 {
		d.fail("truncated")
		return nil
	}
	kind := d.b[0]
	d.b = d.b[1:]
	if kind == imgBase {
		bn, ok := d.baseNode(d.uvarint())
		if !ok {
			return nil
		}
		entries := bn.entries
		if depth == 0 {
			entries-- // the root is no entry
		}
		d.count(entries, bn.bytes)
		return bn.n
	}
	if kind > imgBaseContent {
		d.fail("unknown node kind %d", kind)
		return nil
	}
	if depth > maxImageDepth {
		d.fail("deeper than %d", maxImageDepth)
		return nil
	}
	n := &node{owner: d.owner, ino: d.uvarint(), dir: kind == imgDir, gen: d.s.gen + 1}
	n.mode = fs.FileMode(d.uvarint()) & fs.ModePerm
	n.atime, n.mtime, n.ctime = d.varint(), d.varint(), d.varint()
	d.maxIno = max(d.maxIno, n.ino)
	if depth > 0 {
		d.count(1, 0)
	}
	if d.err != nil {
		return nil
	}
	switch kind {
	case imgDir:
		count := d.uvarint()
		if count > uint64(d.s.maxFiles) {
			d.fail("a directory of %d entries", count)
			return nil
		}
		n.ents = make([]dirent, 0, count)
		for range count {
			name := string(d.bytes(d.uvarint()))
			if d.err != nil {
				return nil
			}
			if name == "" || name == "." || name == ".." || len(name) > maxNameLen || strings.ContainsAny(name, "/\x00") {
				d.fail("the name %q", name)
				return nil
			}
			if len(n.ents) > 0 && n.ents[len(n.ents)-1].name >= name {
				d.fail("entries out of order at %q", name)
				return nil
			}
			c := d.node(depth + 1)
			if d.err != nil {
				return nil
			}
			n.ents = append(n.ents, dirent{name, c})
		}
	case imgFile:
		size := d.uvarint()
		if size > uint64(d.s.maxBytes) {
			d.fail("a file of %d bytes", size)
			return nil
		}
		data := d.bytes(size)
		d.count(0, int64(len(data)))
		if d.err != nil {
			return nil
		}
		n.data = make([]byte, len(data))
		copy(n.data, data)
		d.s.held += int64(cap(n.data))
	case imgBaseContent:
		// A copy made by own() shares the content of the node it copied,
		// whose inode it kept.
		bn, ok := d.baseNode(n.ino)
		if !ok {
			return nil
		}
		if bn.n.dir {
			d.fail("a file with a directory's content")
			return nil
		}
		d.count(0, int64(len(bn.n.data)))
		n.data, n.shared = bn.n.data[:len(bn.n.data):len(bn.n.data)], true
	}
	return n
}

// Digest writes what images of s's clones depend on to h: its tree's
// names, inodes, kinds, modes and content, not its times (a template's
// files are made at a different time in every process).
func (s *FS) Digest(h io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var walk func(n *node)
	walk = func(n *node) {
		b := binary.AppendUvarint(nil, n.ino)
		if n.dir {
			b = append(b, imgDir)
		} else {
			b = append(b, imgFile)
		}
		b = binary.AppendUvarint(b, uint64(n.mode))
		b = binary.AppendUvarint(b, uint64(len(n.ents)))
		b = binary.AppendUvarint(b, uint64(len(n.data)))
		h.Write(b)
		h.Write(n.data)
		for _, e := range n.ents {
			h.Write(binary.AppendUvarint(nil, uint64(len(e.name))))
			io.WriteString(h, e.name)
			walk(e.n)
		}
	}
	walk(s.root)
}
