package runtime_test

import (
	"bytes"
	"compress/flate"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// imageSnapshot is what the image tests share: a copy-on-write snapshot
// (as a pool's) with a file of its own, reproducible.
var imageSnapshotOptions = runtime.SnapshotOptions{CopyOnWrite: true, Preload: []string{"json"},
	Setup: "open('base.txt', 'w').write('from the snapshot')\n", Seed: []byte("image tests")}

// sessionCode leaves variables, an import and files in a session.
const sessionCode = `
import fractions
x = {"answer": 42, "items": list(range(10))}
f = fractions.Fraction(3, 4)
with open("notes.txt", "w") as fh:
    fh.write("hello from the session")
import os
os.rename("base.txt", "moved.txt")
`

// checkSession requires i to hold what sessionCode left.
func checkSession(t *testing.T, i *runtime.Instance) {
	t.Helper()
	r, err := i.Run(ctx, runtime.Eval(`(x, str(f), 'fractions' in __import__('sys').modules, open('notes.txt').read(), open('moved.txt').read(), __import__('os').path.exists('base.txt'))`))
	require.NoError(t, err)
	require.JSONEq(t, `[{"answer":42,"items":[0,1,2,3,4,5,6,7,8,9]},"3/4",true,"hello from the session","from the snapshot",false]`, string(r.Value))
}

func TestImageRestoresVariablesImportsAndFiles(t *testing.T) {
	s := newSnapshot(t, imageSnapshotOptions)
	i := clone(t, s)
	_, err := i.Run(ctx, runtime.Exec(sessionCode))
	require.NoError(t, err)
	img, err := i.Image(ctx)
	require.NoError(t, err)
	require.Less(t, len(img), 1<<20, "a small session's image")
	t.Logf("image: %d bytes", len(img))

	j, err := s.Restore(ctx, img, runtime.CloneOptions{})
	require.NoError(t, err)
	defer j.Close(ctx)
	checkSession(t, j)
	require.Equal(t, i.Calls()+1, j.Calls(), "the count of calls goes on")

	// The two go their own ways.
	_, err = j.Run(ctx, runtime.Exec("x['answer'] = 0\nopen('notes.txt', 'w').write('changed')"))
	require.NoError(t, err)
	checkSession(t, i)

	// An image of a restored clone restores too, and a restored clone
	// resets to the snapshot like any clone.
	img2, err := j.Image(ctx)
	require.NoError(t, err)
	k, err := s.Restore(ctx, img2, runtime.CloneOptions{})
	require.NoError(t, err)
	defer k.Close(ctx)
	r, err := k.Run(ctx, runtime.Eval("(x['answer'], open('notes.txt').read())"))
	require.NoError(t, err)
	require.JSONEq(t, `[0, "changed"]`, string(r.Value))
	require.NoError(t, k.Reset(ctx))
	r, err = k.Run(ctx, runtime.Eval("('x' in globals(), open('base.txt').read())"))
	require.NoError(t, err)
	require.JSONEq(t, `[false, "from the snapshot"]`, string(r.Value))
}

// A session whose memory grew past the snapshot's restores with it.
func TestImageOfAGrownMemory(t *testing.T) {
	s := newSnapshot(t, imageSnapshotOptions)
	i := clone(t, s)
	_, err := i.Run(ctx, runtime.Exec("big = bytes(range(256)) * (64 * 1024)"))
	require.NoError(t, err)
	require.Greater(t, i.MemoryBytes(), s.Bytes())
	img, err := i.Image(ctx)
	require.NoError(t, err)
	j, err := s.Restore(ctx, img, runtime.CloneOptions{})
	require.NoError(t, err)
	defer j.Close(ctx)
	require.Equal(t, i.MemoryBytes(), j.MemoryBytes())
	r, err := j.Run(ctx, runtime.Eval("big == bytes(range(256)) * (64 * 1024)"))
	require.NoError(t, err)
	require.JSONEq(t, "true", string(r.Value))

	_, err = s.Restore(ctx, img, runtime.CloneOptions{Limits: runtime.Limits{MaxMemory: int64(s.Bytes())}})
	require.ErrorIs(t, err, runtime.ErrBadImage, "a memory over the clone's MaxMemory")
}

func TestImageRefusals(t *testing.T) {
	s := newSnapshot(t, imageSnapshotOptions)
	i := clone(t, s)
	_, err := i.Run(ctx, runtime.Exec(sessionCode))
	require.NoError(t, err)
	img, err := i.Image(ctx)
	require.NoError(t, err)

	other := newSnapshot(t, runtime.SnapshotOptions{CopyOnWrite: true, Seed: []byte("another")})
	_, err = other.Restore(ctx, img, runtime.CloneOptions{})
	require.ErrorIs(t, err, runtime.ErrBadImage)
	require.Equal(t, runtime.KindImage, runtime.KindOf(err))
	require.Contains(t, err.Error(), "another snapshot")

	for name, bad := range map[string][]byte{
		"empty":     nil,
		"truncated": img[:len(img)/2],
		"version":   append([]byte("SPIM\x00\x01"), img[6:]...), // the format before runs
		"build":     append(append(bytes.Clone(img[:6]), 0xff), img[7:]...),
		"body":      append(bytes.Clone(img[:70]), bytes.Repeat([]byte{0x55}, 1000)...),
	} {
		_, err := s.Restore(ctx, bad, runtime.CloneOptions{})
		require.ErrorIs(t, err, runtime.ErrBadImage, name)
	}

	// What memory and scratch do not hold is refused, the instance kept.
	_, err = i.Run(ctx, runtime.Exec("held = open('notes.txt')"))
	require.NoError(t, err)
	_, err = i.Image(ctx)
	require.ErrorIs(t, err, runtime.ErrNotImaged)
	require.Equal(t, runtime.KindImage, runtime.KindOf(err))
	_, err = i.Run(ctx, runtime.Exec("held.close()\nimport os\nos.close(1)"))
	require.NoError(t, err)
	_, err = i.Image(ctx)
	require.ErrorIs(t, err, runtime.ErrNotImaged)
	require.NoError(t, i.Err())

	_, err = newInstance(t, runtime.Options{}).Image(ctx)
	require.ErrorIs(t, err, runtime.ErrNotImaged, "not a clone")
}

// Snapshots with the same Seed are the same in any process; without
// one, each is its own.
func TestSeededSnapshotsShareTheirID(t *testing.T) {
	a, b := newSnapshot(t, imageSnapshotOptions), newSnapshot(t, imageSnapshotOptions)
	require.Equal(t, a.ID(), b.ID())
	so := imageSnapshotOptions
	so.Seed = nil
	require.NotEqual(t, newSnapshot(t, so).ID(), newSnapshot(t, so).ID())
	// Clones still get fresh entropy.
	r1, err := clone(t, a).Run(ctx, runtime.Eval("(__import__('random').random(), __import__('os').urandom(8).hex())"))
	require.NoError(t, err)
	r2, err := clone(t, a).Run(ctx, runtime.Eval("(__import__('random').random(), __import__('os').urandom(8).hex())"))
	require.NoError(t, err)
	require.NotEqual(t, string(r1.Value), string(r2.Value))
}

// The image is restored by a new process, which builds its own Runtime
// and snapshot from the same options and seed.
func TestImageRestoresInANewProcess(t *testing.T) {
	if path := os.Getenv("SNAKEPIT_TEST_IMAGE"); path != "" {
		img, err := os.ReadFile(path)
		require.NoError(t, err)
		s := newSnapshot(t, imageSnapshotOptions)
		i, err := s.Restore(ctx, img, runtime.CloneOptions{})
		require.NoError(t, err)
		defer i.Close(ctx)
		checkSession(t, i)
		return
	}
	s := newSnapshot(t, imageSnapshotOptions)
	i := clone(t, s)
	_, err := i.Run(ctx, runtime.Exec(sessionCode))
	require.NoError(t, err)
	img, err := i.Image(ctx)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "session.img")
	require.NoError(t, os.WriteFile(path, img, 0o600))
	cmd := exec.Command(os.Args[0], "-test.run=^TestImageRestoresInANewProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "SNAKEPIT_TEST_IMAGE="+path)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: TestImageRestoresInANewProcess")
}

// FuzzRestore feeds Restore images with a valid header and any body,
// compressed as Image does (deflate) when inflated is set, so that the
// fuzzer reaches the parser: it must refuse or restore, never panic, and
// leave nothing behind.
func FuzzRestore(f *testing.F) {
	s, err := rt(f).NewSnapshot(ctx, imageSnapshotOptions)
	require.NoError(f, err)
	defer s.Close()
	i, err := s.NewInstance(ctx, runtime.CloneOptions{})
	require.NoError(f, err)
	_, err = i.Run(ctx, runtime.Exec("x = 1\nopen('a', 'w').write('b')"))
	require.NoError(f, err)
	img, err := i.Image(ctx)
	require.NoError(f, err)
	i.Close(ctx)
	header := bytes.Clone(img[:70])
	body, err := io.ReadAll(flate.NewReader(bytes.NewReader(img[70:])))
	require.NoError(f, err)
	f.Add(img[70:], false)
	f.Add(body, true)
	f.Add([]byte{}, false)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, body []byte, inflated bool) {
		if inflated {
			var b bytes.Buffer
			w, _ := flate.NewWriter(&b, flate.BestSpeed)
			w.Write(body)
			w.Close()
			body = b.Bytes()
		}
		j, err := s.Restore(ctx, append(bytes.Clone(header), body...), runtime.CloneOptions{})
		if err != nil {
			require.ErrorIs(t, err, runtime.ErrBadImage)
			return
		}
		defer j.Close(ctx)
		// A restored memory is the guest's: it may fail, or spin, as any
		// guest may.
		c, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err = j.Run(c, runtime.Eval("1"))
		_ = err
	})
}

// smallSession is the small session: a few variables and a small
// file, no import beyond the snapshot's.
const smallSession = `
x = 1
names = ["ada", "grace", "barbara"]
scores = {n: len(n) * 10 for n in names}
with open("notes.txt", "w") as fh:
    fh.write("a small file\n" * 20)
`

// BenchmarkImage saves and restores a session: small (smallSession) or
// with an import (sessionCode: fractions pulls in decimal and numbers).
// Restore is timed to a clone ready to run; a new clone is the floor.
func BenchmarkImage(b *testing.B) {
	s, err := rt(b).NewSnapshot(ctx, imageSnapshotOptions)
	require.NoError(b, err)
	defer s.Close()
	for _, session := range []struct{ name, code string }{{"small", smallSession}, {"import", sessionCode}} {
		i, err := s.NewInstance(ctx, runtime.CloneOptions{})
		require.NoError(b, err)
		_, err = i.Run(ctx, runtime.Exec(session.code))
		require.NoError(b, err)
		var img []byte
		b.Run(session.name+"/save", func(b *testing.B) {
			var l latencies
			for b.Loop() {
				l.time(func() { img, err = i.Image(ctx) })
				require.NoError(b, err)
			}
			l.report(b, "µs")
			b.ReportMetric(float64(len(img))/1024, "image-KiB")
		})
		i.Close(ctx)
		b.Run(session.name+"/restore", func(b *testing.B) {
			var l latencies
			for b.Loop() {
				var j *runtime.Instance
				l.time(func() { j, err = s.Restore(ctx, img, runtime.CloneOptions{}) })
				require.NoError(b, err)
				j.Close(ctx)
			}
			l.report(b, "µs")
		})
	}
	b.Run("new-clone", func(b *testing.B) {
		var l latencies
		for b.Loop() {
			var j *runtime.Instance
			l.time(func() { j, err = s.NewInstance(ctx, runtime.CloneOptions{}) })
			require.NoError(b, err)
			j.Close(ctx)
		}
		l.report(b, "µs")
	})
}
