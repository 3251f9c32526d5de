package wasmedit

import "fmt"

// Guard names an imported function to wrap: one that returns an i32, a WASI
// errno.
type Guard struct {
	Module, Name string
	// LenParams are the indices of the i32 parameters that are byte lengths
	// of paths.
	LenParams []int
}

// GuardOptions says which imports GuardImports wraps and how.
type GuardOptions struct {
	// Guards lists the imports to wrap; those the module does not import
	// are skipped, and the first entry that names an import is the one used.
	Guards []Guard
	// MaxPathLen is the longest path length that reaches the import
	// (0: DefaultMaxPathLen); a longer one makes the call return
	// ENAMETOOLONG without calling it.
	MaxPathLen uint32
	// ErrnoExport, if not empty, names a mutable i32 global, initially 0,
	// that GuardImports adds and exports (even if no listed import is
	// present). When a wrapped import returns EIO (29) with the global set,
	// the call returns the global's value instead and sets it back to 0, so
	// the host can return errnos its WASI layer cannot express. The host
	// must set it only just before returning EIO from a wrapped import: any
	// other result leaves it set.
	ErrnoExport string
}

// DefaultMaxPathLen is Linux's PATH_MAX, which counts the terminating NUL:
// Linux itself refuses this long a path with ENAMETOOLONG.
const DefaultMaxPathLen = 4096

// WASI errnos the wrappers return.
const (
	errnoIO          = 29
	errnoNameTooLong = 37
)

// WASIPathGuards lists the imports of wasi_snapshot_preview1 that take paths,
// with the indices of their path lengths, and those others that a file
// system error the host cannot express (ENOSPC, EMFILE, EDQUOT) can come
// from, for errno translation only. The signatures are wazero v1.12.0's
// (imports/wasi_snapshot_preview1/fs.go, checked by TestWASIPathGuards),
// which are the WASI preview1 witx's: every path is a pointer and a length.
var WASIPathGuards = []Guard{
	{"wasi_snapshot_preview1", "path_create_directory", []int{2}},   // fd, path, path_len
	{"wasi_snapshot_preview1", "path_filestat_get", []int{3}},       // fd, flags, path, path_len, buf
	{"wasi_snapshot_preview1", "path_filestat_set_times", []int{3}}, // fd, flags, path, path_len, atim, mtim, fst_flags
	{"wasi_snapshot_preview1", "path_link", []int{3, 6}},            // old_fd, old_flags, old_path, old_path_len, new_fd, new_path, new_path_len
	{"wasi_snapshot_preview1", "path_open", []int{3}},               // fd, dirflags, path, path_len, oflags, rights_base, rights_inheriting, fdflags, fd_out
	{"wasi_snapshot_preview1", "path_readlink", []int{2}},           // fd, path, path_len, buf, buf_len, bufused
	{"wasi_snapshot_preview1", "path_remove_directory", []int{2}},   // fd, path, path_len
	{"wasi_snapshot_preview1", "path_rename", []int{2, 5}},          // fd, old_path, old_path_len, new_fd, new_path, new_path_len
	{"wasi_snapshot_preview1", "path_symlink", []int{1, 4}},         // old_path, old_path_len, fd, new_path, new_path_len
	{"wasi_snapshot_preview1", "path_unlink_file", []int{2}},        // fd, path, path_len
	{"wasi_snapshot_preview1", "fd_write", nil},                     // fd, iovs, iovs_len, nwritten
	{"wasi_snapshot_preview1", "fd_pwrite", nil},                    // fd, iovs, iovs_len, offset i64, nwritten
	{"wasi_snapshot_preview1", "fd_allocate", nil},                  // fd, offset i64, len i64
	{"wasi_snapshot_preview1", "fd_filestat_set_size", nil},         // fd, size i64
	{"wasi_snapshot_preview1", "fd_readdir", nil},                   // fd, buf, buf_len, cookie i64, bufused
	{"wasi_snapshot_preview1", "fd_read", nil},                      // fd, iovs, iovs_len, nread
	{"wasi_snapshot_preview1", "fd_pread", nil},                     // fd, iovs, iovs_len, offset i64, nread
	{"wasi_snapshot_preview1", "fd_close", nil},                     // fd
	{"wasi_snapshot_preview1", "fd_renumber", nil},                  // fd, to
}

// GuardImports returns a copy of module in which every call to an import
// listed in o.Guards goes to a wrapper that GuardImports adds, of the
// import's type, instead:
//
//	;; for each of the guard's LenParams p:
//	(if (i32.gt_u (local.get p) (i32.const MaxPathLen)) (then (return (i32.const 37))))
//	(local.set $r (call $import (local.get 0) ... (local.get n-1)))
//	;; with ErrnoExport:
//	(if (i32.eq (local.get $r) (i32.const 29))
//	  (then (if (global.get $errno)
//	    (then (global.get $errno) (global.set $errno (i32.const 0)) (return)))))
//	(local.get $r)
//
// The length check keeps a huge path from being copied around by the host
// before anything looks at it; the errno global carries errnos that the
// host's WASI layer cannot return (wazero's turns those it does not know
// into EIO). A guard with neither LenParams nor ErrnoExport has nothing to
// do and is skipped.
//
// A guarded import that an element segment or a ref.func refers to could
// be called through a table, bypassing its wrapper: GuardImports refuses
// such a module rather than leave a hole. Wrappers come after the existing
// functions, in import order, and the errno global after the existing
// globals; the wrappers use the imports' own types. No loop check or bulk
// memory call is added: Instrument does that, and wraps the imports too in
// the same pass when its Options carry GuardOptions, which costs less than
// calling both.
func GuardImports(module []byte, o GuardOptions) ([]byte, error) {
	return rewrite(module, Options{GuardOptions: o}, false)
}

// guarded is a guarded import present in the module.
type guarded struct {
	fn, typ uint32 // function and type index of the import
	lens    []int
}

// resolveGuards finds the imports that o guards, in import order, and
// checks their types.
func (m *module) resolveGuards(im imports, types []funcType, o GuardOptions) ([]guarded, error) {
	var out []guarded
	for fn, f := range im.list {
		for _, g := range o.Guards {
			if string(f.module) != g.Module || string(f.name) != g.Name {
				continue
			}
			if len(g.LenParams) == 0 && o.ErrnoExport == "" {
				break
			}
			if int(f.typ) >= len(types) {
				return nil, fmt.Errorf("%w: import %q %q has type index %d out of range", ErrMalformed, g.Module, g.Name, f.typ)
			}
			t := types[f.typ]
			if len(t.results) != 1 || t.results[0] != 0x7f {
				return nil, fmt.Errorf("wasmedit: guarded import %q %q must return one i32 (an errno)", g.Module, g.Name)
			}
			for _, p := range g.LenParams {
				if p < 0 || p >= len(t.params) || t.params[p] != 0x7f {
					return nil, fmt.Errorf("wasmedit: guarded import %q %q has no i32 parameter %d for a path length", g.Module, g.Name, p)
				}
			}
			out = append(out, guarded{fn: uint32(fn), typ: f.typ, lens: g.LenParams})
			break
		}
	}
	return out, nil
}

// wrapperBody returns the body of g's wrapper, whose type has nparams
// parameters; errno is the errno global's index, -1 for none.
func wrapperBody(g guarded, nparams int, maxPath uint32, errno int64) []byte {
	r := uint32(nparams) // the result's local
	c := []byte{0x01, 0x01, 0x7f}
	for _, p := range g.lens {
		c = appendOp(c, 0x20, uint32(p))                        // local.get p
		c = appendS32(append(c, 0x41), int32(maxPath))          // i32.const max
		c = append(c, 0x4b, 0x04, 0x40, 0x41, errnoNameTooLong) // i32.gt_u; if; i32.const 37
		c = append(c, 0x0f, 0x0b)                               // return; end
	}
	for i := range uint32(nparams) {
		c = appendOp(c, 0x20, i)
	}
	c = appendOp(c, 0x10, g.fn)
	if errno >= 0 {
		E := uint32(errno)
		c = appendOp(c, 0x22, r)                                   // local.tee $r
		c = append(c, 0x41, errnoIO, 0x46, 0x04, 0x40)             // i32.const 29; i32.eq; if
		c = append(appendOp(c, 0x23, E), 0x04, 0x40)               //   global.get $errno; if
		c = appendOp(c, 0x23, E)                                   //     global.get $errno
		c = append(appendOp(append(c, 0x41, 0x00), 0x24, E), 0x0f) //     i32.const 0; global.set $errno; return
		c = append(c, 0x0b, 0x0b)                                  //   end; end
		c = appendOp(c, 0x20, r)                                   // local.get $r
	}
	return append(c, 0x0b)
}

// checkElements fails if an element segment refers to a function in redirect.
func (m *module) checkElements(redirect []uint32) error {
	b := m.b
	sec, ok := m.section(secElement)
	if !ok {
		return nil
	}
	count, pos, err := readU32(b, sec.payload, sec.end)
	if err != nil {
		return err
	}
	s := codeScan{want: want{redirect: redirect}}
	for ; count > 0; count-- {
		var flags uint32
		if flags, pos, err = readU32(b, pos, sec.end); err != nil {
			return err
		}
		if flags > 7 {
			return malformed(pos, "element segment flags %d", flags)
		}
		// Bit 0: passive or declarative (no offset); bit 1: a table index
		// (if active) and an element kind or type; bit 2: expressions.
		if flags&3 == 2 {
			if pos, err = skipU32(b, pos, sec.end); err != nil {
				return err
			}
		}
		if flags&1 == 0 {
			if pos, err = s.expr(b, pos, sec.end); err != nil {
				return err
			}
		}
		if flags&3 != 0 {
			if pos >= sec.end {
				return malformed(pos, "truncated element segment")
			}
			pos++
		}
		var n uint32
		if n, pos, err = readU32(b, pos, sec.end); err != nil {
			return err
		}
		for ; n > 0; n-- {
			if flags&4 != 0 {
				if pos, err = s.expr(b, pos, sec.end); err != nil {
					return err
				}
				continue
			}
			var idx uint32
			if idx, pos, err = readU32(b, pos, sec.end); err != nil {
				return err
			}
			if idx < uint32(len(redirect)) && redirect[idx] != 0 {
				return fmt.Errorf("wasmedit: an element segment refers to guarded import %d: calls through its table would bypass the guard", idx)
			}
		}
	}
	if pos != sec.end {
		return malformed(pos, "bytes after the last element segment")
	}
	return nil
}
