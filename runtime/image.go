// Images: a snapshot clone as bytes, and back.

package runtime

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/cowmem"
	"github.com/snakepit-wasm/snakepit/internal/errkind"
	"github.com/tetratelabs/wazero"
)

var (
	// ErrBadImage is wrapped, with the reason, by the error of
	// Snapshot.Restore when it refuses an image: not an image, of another
	// format version, built by another python.wasm, taken from another
	// snapshot, corrupt, or beyond the clone's limits. Nothing is left of
	// the attempt. Kind image.
	ErrBadImage = errkind.New(errkind.Image, "image refused")
	// ErrNotImaged is wrapped, with the reason, by the error of
	// Instance.Image when the instance's state cannot be captured whole:
	// it is not a snapshot clone, or it holds files open or closed a
	// descriptor of the snapshot's (wazero's table of descriptors is not
	// in its memory). The instance is unchanged. Kind image.
	ErrNotImaged = errkind.New(errkind.Image, "no image taken")
)

// An image is a header, then a flate stream:
//
//	header = "SPIM" version(uint16 BE) build(32 bytes) snapshot(32 bytes)
//	body   = memory bufPtr bufCap calls pages runs scratch
//	pages  = count { gap length }
//	runs   = count { skip length bytes }
//	scratch = 0 | 1 scratchfs-image
//
// integers are unsigned varints; memory is the linear memory's size in
// bytes; each run is bytes (at least one, at most cowmem.ImagePage) that
// differ from the snapshot's (from zero past its end), skip bytes after
// the end of the last (from 0). Runs, not pages: a call changes a few
// words of most pages it writes (reference counts), and what flate is not
// given costs it no time. pages are the ranges of cowmem.ImagePage pages
// the runs are in (gap pages after the end of the last range), which
// Restore makes the clone's before it writes them: a copy-on-write fault
// per page costs more than one system call per range.
const (
	imageMagic   = "SPIM"
	imageVersion = 2
	imageHeader  = len(imageMagic) + 2 + 2*sha256.Size
)

// ID returns the snapshot's identity, in hex: a digest of the build
// (python.wasm's SHA-256), Preload, Setup, the memory and the scratch
// files it froze. An image restores only on a snapshot of the same ID.
// Snapshots of the same build and SnapshotOptions have the same ID in any
// process when SnapshotOptions.Seed is set; otherwise the template's
// entropy (the string hash secret, random's state) makes every snapshot's
// its own.
func (s *Snapshot) ID() string { return hex.EncodeToString(s.id[:]) }

// identify computes s.id from the template's memory, Preload and Setup.
func (s *Snapshot) identify(so SnapshotOptions, mem []byte) {
	h := sha256.New()
	field := func(b []byte) {
		h.Write(binary.AppendUvarint(nil, uint64(len(b))))
		h.Write(b)
	}
	field([]byte("snakepit snapshot 1"))
	field([]byte(s.rt.build.SHA256))
	for _, m := range so.Preload {
		field([]byte(m))
	}
	field([]byte(so.Setup))
	field(mem)
	if s.scratch != nil {
		s.scratch.Digest(h)
	}
	h.Sum(s.id[:0])
}

type seedKey struct{}

// reproducible gives a seeded snapshot's template its entropy from the
// seed, and clocks that start at a fixed time (its own, and its scratch
// files' times, which the guest keeps in memory when it stats them), so
// that the same build, options and seed make the same memory in every
// process (see SnapshotOptions.Seed). Other instances keep the host's.
func (i *Instance) reproducible(ctx context.Context, mc wazero.ModuleConfig) wazero.ModuleConfig {
	seed, _ := ctx.Value(seedKey{}).([]byte)
	if seed == nil {
		return mc
	}
	// The clocks advance with each reading: a Setup that waits for time to
	// pass must not wait forever.
	var ticks atomic.Int64
	tick := func() int64 { return ticks.Add(int64(time.Millisecond)) }
	if i.scratch != nil {
		var fticks atomic.Int64
		i.scratch.SetClock(func() int64 { return templateTime*int64(time.Second) + fticks.Add(int64(time.Millisecond)) })
	}
	return mc.WithRandSource(rand.NewChaCha8(sha256.Sum256(seed))).
		WithWalltime(func() (int64, int32) {
			t := time.Unix(templateTime, tick())
			return t.Unix(), int32(t.Nanosecond())
		}, 1).
		WithNanotime(tick, 1)
}

// templateTime is where a seeded template's wall clock starts (in
// seconds): 2026-01-01 UTC.
const templateTime = 1767225600

// imageWriters keeps flate writers, whose state is hundreds of KiB,
// imageReaders flate readers (tens of KiB), and imageRuns the buffers of
// the runs (Instance.Image).
var (
	imageWriters = sync.Pool{New: func() any {
		w, _ := flate.NewWriter(nil, flate.BestSpeed)
		return w
	}}
	imageReaders = sync.Pool{New: func() any { return flate.NewReader(nil) }}
	imageRuns    = sync.Pool{New: func() any { return new([]byte) }}
)

// maxPooledRuns bounds the buffers imageRuns keeps: a session that changed
// a large memory does not leave its size behind.
const maxPooledRuns = 4 << 20

// Image returns the instance, a snapshot clone, as bytes that
// Snapshot.Restore brings back in this process or another, with the same
// build and snapshot (see Snapshot.ID): the pages of its memory that differ
// from the snapshot's, its scratch files (those it changed; the rest are
// named), and what the host keeps for it (its request buffer, its count of
// calls), compressed. Its seed for `random` is in its memory. It waits for
// a running call. It fails with an error wrapping ErrNotImaged, leaving
// the instance as it was, when the state is not all in memory and scratch:
// the instance is not a clone, holds files open, or closed a descriptor of
// the snapshot's; with ErrBroken on a broken instance, ErrClosed on a
// closed one.
func (i *Instance) Image(ctx context.Context) ([]byte, error) {
	i.callMu.Lock()
	defer i.callMu.Unlock()
	if !i.life.Enter() {
		return nil, ErrClosed
	}
	defer i.life.Exit()
	if err := i.brokenErr(); err != nil {
		return nil, err
	}
	if i.snap == nil {
		return nil, fmt.Errorf("%w: not a snapshot clone", ErrNotImaged)
	}
	if n := i.open.GuestOpen(); n != 0 {
		return nil, fmt.Errorf("%w: %d files held open", ErrNotImaged, n)
	}
	ret, err := i.call(ctx, nil, i.fdsIntact)
	if err != nil {
		return nil, i.breakWith(fmt.Errorf("%w: sp_fds_intact: %v", ErrTrap, err))
	}
	if ret[0] != 1 {
		return nil, fmt.Errorf("%w: a descriptor of the snapshot's was closed", ErrNotImaged)
	}

	runs := imageRuns.Get().(*[]byte)
	defer func() {
		if cap(*runs) <= maxPooledRuns {
			imageRuns.Put(runs)
		}
	}()
	*runs = (*runs)[:0]
	var pages [][2]uint64 // ranges [first, end) of the pages the runs are in
	count, end := uint64(0), uint64(0)
	err = i.mem.Changed(func(off uint64, run []byte) {
		*runs = binary.AppendUvarint(*runs, off-end)
		*runs = binary.AppendUvarint(*runs, uint64(len(run)))
		*runs = append(*runs, run...)
		count, end = count+1, off+uint64(len(run))
		switch p := off / cowmem.ImagePage; {
		case len(pages) > 0 && pages[len(pages)-1][1] > p: // the same page
		case len(pages) > 0 && pages[len(pages)-1][1] == p:
			pages[len(pages)-1][1]++
		default:
			pages = append(pages, [2]uint64{p, p + 1})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%w: reading the page table: %w", ErrNotImaged, err)
	}

	var out bytes.Buffer
	out.Grow(imageHeader + len(*runs)/2) // flate about halves them
	out.WriteString(imageMagic)
	out.Write(binary.BigEndian.AppendUint16(nil, imageVersion))
	build, _ := hex.DecodeString(i.rt.build.SHA256)
	out.Write(append(build, make([]byte, sha256.Size-len(build))...)[:sha256.Size])
	out.Write(i.snap.id[:])
	zw := imageWriters.Get().(*flate.Writer)
	defer imageWriters.Put(zw)
	zw.Reset(&out)
	b := binary.AppendUvarint(nil, i.mem.Size())
	b = binary.AppendUvarint(b, uint64(i.bufPtr))
	b = binary.AppendUvarint(b, uint64(i.bufCap))
	b = binary.AppendUvarint(b, uint64(i.Calls()))
	b = binary.AppendUvarint(b, uint64(len(pages)))
	last := uint64(0)
	for _, r := range pages {
		b = binary.AppendUvarint(b, r[0]-last)
		b = binary.AppendUvarint(b, r[1]-r[0])
		last = r[1]
	}
	b = binary.AppendUvarint(b, count)
	zw.Write(b)
	zw.Write(*runs)
	if i.scratch == nil {
		zw.Write([]byte{0})
	} else {
		zw.Write(i.scratch.AppendImage([]byte{1}, i.snap.scratch))
	}
	if err := zw.Close(); err != nil { // writes to a bytes.Buffer do not fail
		return nil, err
	}
	return out.Bytes(), nil
}

// Restore starts a clone of the snapshot, with co as NewInstance takes it,
// holding the state an image (Instance.Image) captured: its variables,
// imports, scratch files and seed, as they were. The image may come from
// anywhere (a store shared between processes, say): everything in it is
// checked against the snapshot and the clone's limits, and one that does
// not fit is refused with an error wrapping ErrBadImage, without a clone
// left behind. Restoring costs about what a new clone does, plus the
// pages written.
func (s *Snapshot) Restore(ctx context.Context, image []byte, co CloneOptions) (*Instance, error) {
	if err := s.checkImageHeader(image); err != nil {
		return nil, err
	}
	if !s.life.Enter() {
		return nil, ErrClosed
	}
	defer s.life.Exit()
	o, err := s.cloneOptions(co)
	if err != nil {
		return nil, err
	}
	mod, err := s.rt.cloneModule(ctx)
	if err != nil {
		return nil, err
	}
	i, err := s.rt.instantiate(ctx, o, mod, s.mem, s.scratch)
	if err != nil {
		return nil, err
	}
	i.snap = s
	if err := i.load(bytes.NewReader(image[imageHeader:])); err != nil {
		i.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return i, nil
}

func (s *Snapshot) checkImageHeader(image []byte) error {
	build, _ := hex.DecodeString(s.rt.build.SHA256)
	switch {
	case len(image) < imageHeader || string(image[:len(imageMagic)]) != imageMagic:
		return fmt.Errorf("%w: not an image", ErrBadImage)
	case binary.BigEndian.Uint16(image[len(imageMagic):]) != imageVersion:
		return fmt.Errorf("%w: format version %d, this package reads %d", ErrBadImage, binary.BigEndian.Uint16(image[len(imageMagic):]), imageVersion)
	case !bytes.HasPrefix(image[len(imageMagic)+2:], build):
		return fmt.Errorf("%w: taken with another python.wasm (this one is %s)", ErrBadImage, s.rt.build.SHA256)
	case !bytes.Equal(image[len(imageMagic)+2+sha256.Size:imageHeader], s.id[:]):
		return fmt.Errorf("%w: taken from another snapshot than %s (in another process, snapshots match only with the same SnapshotOptions.Seed)", ErrBadImage, s.ID())
	}
	return nil
}

// load puts an image's body into i, a new clone: every value is checked
// before it is used, and a failure leaves i to be closed.
func (i *Instance) load(body io.Reader) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadImage, fmt.Sprintf(format, args...))
	}
	zr := imageReaders.Get().(io.ReadCloser)
	defer imageReaders.Put(zr)
	_ = zr.(flate.Resetter).Reset(body, nil) // fails only with a dictionary
	r := bufio.NewReader(zr)
	var vals [5]uint64
	for k := range vals {
		v, err := binary.ReadUvarint(r)
		if err != nil {
			return bad("truncated")
		}
		vals[k] = v
	}
	size, bufPtr, bufCap, calls, nranges := vals[0], vals[1], vals[2], vals[3], vals[4]
	mem := i.mod.Memory()
	have := uint64(mem.Size())
	switch {
	case size%cowmem.PageSize != 0 || size < have:
		return bad("a memory of %d bytes, the snapshot's is %d", size, have)
	case size > uint64(i.opts.Limits.MaxMemory):
		return bad("a memory of %d bytes, over the clone's MaxMemory of %d", size, i.opts.Limits.MaxMemory)
	case bufPtr+bufCap > size || bufCap > 1<<30:
		return bad("a request buffer out of bounds")
	case calls > math.MaxInt32:
		return bad("%d calls", calls)
	case nranges > size/cowmem.ImagePage:
		return bad("%d ranges of pages in a memory of %d bytes", nranges, size)
	}
	if size > have {
		if _, ok := mem.Grow(uint32((size - have) / cowmem.PageSize)); !ok {
			return bad("a memory of %d bytes could not be reserved", size)
		}
	}
	// span reads a span of at most most units: its gap after last, then
	// its length (at least one), all before limit.
	span := func(last, limit, most uint64, what string) (start, n uint64, err error) {
		gap, err1 := binary.ReadUvarint(r)
		n, err2 := binary.ReadUvarint(r)
		switch {
		case err1 != nil || err2 != nil:
			return 0, 0, bad("truncated")
		case n == 0 || n > most || gap > limit-last || n > limit-last-gap:
			return 0, 0, bad("%s out of bounds", what)
		}
		return last + gap, n, nil
	}
	// The pages the runs change, made the clone's in one system call per
	// range rather than a fault per page.
	pages, last := size/cowmem.ImagePage, uint64(0)
	for range nranges {
		start, n, err := span(last, pages, pages, "a range of pages")
		if err != nil {
			return err
		}
		i.mem.Populate(start*cowmem.ImagePage, n*cowmem.ImagePage)
		last = start + n
	}
	count, err := binary.ReadUvarint(r)
	switch {
	case err != nil:
		return bad("truncated")
	case count > size:
		return bad("%d runs in a memory of %d bytes", count, size)
	}
	end := uint64(0) // of the last run
	for range count {
		start, n, err := span(end, size, cowmem.ImagePage, "a run")
		if err != nil {
			return err
		}
		run, ok := mem.Read(uint32(start), uint32(n))
		if !ok {
			return bad("a run out of bounds")
		}
		if _, err := io.ReadFull(r, run); err != nil {
			return bad("truncated")
		}
		end = start + n
	}
	flag, err := r.ReadByte()
	switch {
	case err != nil || flag > 1:
		return bad("truncated")
	case (flag == 1) != (i.scratch != nil):
		return bad("scratch files, where the snapshot has them disabled, or the other way round")
	}
	if i.scratch != nil {
		// Names, metadata and content: bounded by the caps.
		l := i.opts.Limits
		maxLen := l.MaxScratchBytes + int64(l.MaxScratchFiles)*512 + 64
		rest, err := io.ReadAll(io.LimitReader(r, maxLen+1))
		switch {
		case err != nil:
			return bad("scratch: %v", err)
		case int64(len(rest)) > maxLen:
			return bad("scratch files over the caps")
		}
		if rest, err = i.scratch.LoadImage(i.snap.scratch, rest); err != nil {
			return bad("scratch: %v", err)
		}
		if len(rest) != 0 {
			return bad("%d bytes after the end", len(rest))
		}
		if errno := i.open.ReopenScratch(); errno != 0 {
			return bad("reopening the scratch root: %v", errno)
		}
	} else if _, err := r.ReadByte(); err != io.EOF {
		return bad("bytes after the end")
	}
	i.bufPtr, i.bufCap = uint32(bufPtr), uint32(bufCap)
	i.mu.Lock()
	i.calls = int(calls)
	i.mu.Unlock()
	return nil
}
