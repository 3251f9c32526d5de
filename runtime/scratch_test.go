package runtime_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io/fs"
	"maps"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestScratchServesTheStdlibsFileModules(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	for name, code := range map[string]string{
		"tempfile": `
import tempfile, os
assert tempfile.gettempdir() == '/tmp', tempfile.gettempdir()
with tempfile.NamedTemporaryFile('w+', suffix='.txt') as f:
    f.write('hello'); f.flush(); f.seek(0)
    assert f.read() == 'hello'
    name = f.name
assert not os.path.exists(name)
with tempfile.TemporaryDirectory() as d:
    open(os.path.join(d, 'x'), 'w').write('y')
    assert os.listdir(d) == ['x']
assert not os.path.exists(d)
fd, p = tempfile.mkstemp(); os.write(fd, b'abc'); os.close(fd)
assert open(p, 'rb').read() == b'abc'; os.unlink(p)
`,
		"shutil": `
import shutil, os
os.makedirs('tree/a/b', exist_ok=True)
for k, p in enumerate(['tree/1.txt', 'tree/a/2.txt', 'tree/a/b/3.txt']):
    open(p, 'w').write(str(k) * 1000)
shutil.copytree('tree', 'copy')
assert open('copy/a/b/3.txt').read() == '2' * 1000
shutil.copy('tree/1.txt', 'one.txt'); shutil.copy2('tree/1.txt', 'two.txt')
shutil.move('one.txt', 'tree/moved.txt')
shutil.rmtree('tree'); shutil.rmtree('copy'); os.unlink('two.txt')
assert not os.path.exists('tree') and not os.path.exists('copy')
`,
		"zipfile": `
import zipfile
with zipfile.ZipFile('a.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('x.txt', 'x' * 100000)
    z.writestr('d/y.bin', bytes(range(256)))
with zipfile.ZipFile('a.zip', 'a') as z:
    z.writestr('z.txt', 'appended')
with zipfile.ZipFile('a.zip') as z:
    assert z.read('x.txt') == b'x' * 100000
    assert z.read('d/y.bin') == bytes(range(256))
    assert z.read('z.txt') == b'appended'
    z.extractall('out')
assert open('out/d/y.bin', 'rb').read() == bytes(range(256))
`,
		"csv": `
import csv
rows = [['name', 'n'], ['a', '1'], ['b,c', '2'], ['"q"', '3']]
with open('t.csv', 'w', newline='') as f:
    csv.writer(f).writerows(rows)
with open('t.csv', newline='') as f:
    assert list(csv.reader(f)) == rows
with open('t.csv', newline='') as f:
    assert [r['n'] for r in csv.DictReader(f)] == ['1', '2', '3']
`,
		"os.walk": `
import os
for d in ('w/a/b/c', 'w/x'):
    os.makedirs(d, exist_ok=True)
open('w/a/f', 'w').close(); open('w/a/b/c/g', 'w').close()
got = sorted((r, sorted(ds), sorted(fs)) for r, ds, fs in os.walk('w'))
assert got == [('w', ['a', 'x'], []), ('w/a', ['b'], ['f']), ('w/a/b', ['c'], []), ('w/a/b/c', [], ['g']), ('w/x', [], [])], got
assert sorted(e.name for e in os.scandir('w/a')) == ['b', 'f']
st = os.stat('w/a/f'); assert st.st_ino != os.stat('w/a/b/c/g').st_ino and st.st_size == 0
os.utime('w/a/f', (1000000, 2000000)); assert os.stat('w/a/f').st_mtime == 2000000
`,
		"pathlib": `
from pathlib import Path
p = Path('pl/sub'); p.mkdir(parents=True)
(p / 'a.json').write_text('{"k": 1}')
(p / 'b.bin').write_bytes(b'\x00\x01')
assert sorted(x.name for x in p.iterdir()) == ['a.json', 'b.bin']
assert [x.name for x in Path('pl').rglob('*.json')] == ['a.json']
assert (p / 'a.json').stat().st_size == 8 and (p / 'a.json').is_file() and p.is_dir()
(p / 'b.bin').rename(p / 'c.bin'); assert not (p / 'b.bin').exists()
(p / 'c.bin').unlink(); (p / 'a.json').unlink(); p.rmdir()
assert Path.cwd() == Path('/tmp') and Path('pl').resolve() == Path('/tmp/pl')
`,
		"append": `
with open('log.txt', 'a+') as f:
    f.write('one\n')
with open('log.txt', 'a+') as f:
    f.seek(0); assert f.read() == 'one\n'
    f.seek(0); f.write('two\n')
    f.seek(0); assert f.read() == 'one\ntwo\n'
with open('log.txt', 'r+') as f:
    f.seek(4); f.write('TWO'); f.truncate(7)
assert open('log.txt').read() == 'one\nTWO'
import os
fd = os.open('log.txt', os.O_RDWR)
os.pwrite(fd, b'ONE', 0); assert os.pread(fd, 3, 0) == b'ONE'
os.ftruncate(fd, 2); os.close(fd)
assert open('log.txt').read() == 'ON'
try:
    os.open('log.txt', os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    raise AssertionError('O_EXCL')
except FileExistsError:
    pass
open('log.txt', 'w').close(); assert os.path.getsize('log.txt') == 0
try:
    os.open('log.txt', os.O_RDONLY | os.O_DIRECTORY)
    raise AssertionError('O_DIRECTORY')
except NotADirectoryError:
    pass
`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := i.Run(ctx, runtime.Exec(code))
			require.NoError(t, err)
		})
	}
}

func TestScratchCapsGiveENOSPCAndLeaveTheInstanceUsable(t *testing.T) {
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxScratchBytes: 1 << 20, MaxScratchFiles: 100}})
	r, err := i.Run(ctx, runtime.Exec(`
import os, errno
def code(f):
    try:
        f()
    except OSError as e:
        return errno.errorcode.get(e.errno, e.errno)
    return 'ok'
def big():
    with open('big', 'wb') as f:
        for _ in range(100):
            f.write(b'x' * 65536)
def sparse():
    with open('sparse', 'wb') as f:
        f.seek(10 ** 12); f.write(b'x')
def trunc():
    with open('t', 'wb') as f:
        f.truncate(10 ** 9)
def many():
    for k in range(1000):
        open('f%d' % k, 'w').close()
def dirs():
    for k in range(1000):
        os.mkdir('d%d' % k)
print(code(big), code(sparse), code(trunc))
os.unlink('big')
print(code(many), code(dirs))
`))

	require.NoError(t, err)
	require.Equal(t, "ENOSPC ENOSPC ENOSPC\nENOSPC ENOSPC\n", string(r.Stdout))
	require.NoError(t, i.Err())
	// Freeing room gives it back.
	r, err = i.Run(ctx, runtime.Exec("import shutil\nfor n in os.listdir('.'):\n    os.unlink(n) if os.path.isfile(n) else os.rmdir(n)\nopen('big', 'wb').write(b'y' * 900000)\nprint(os.path.getsize('big'))"))
	require.NoError(t, err)
	require.Equal(t, "900000\n", string(r.Stdout))
	// The host's own writes meet the same caps.
	err = i.WriteFile("more", make([]byte, 200000))
	require.ErrorIs(t, err, runtime.ErrScratchFull)
	_, err = i.Run(ctx, runtime.Request{Op: runtime.OpExec, Code: "pass", Files: map[string][]byte{"x": make([]byte, 2<<20)}})
	require.ErrorIs(t, err, runtime.ErrScratchFull)
}

func TestScratchFileCapWithTenThousandFilesAndDeepDirectories(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,000 files through the guest (seconds under -race)")
	}
	i := newInstance(t, runtime.Options{})
	r, err := i.Run(ctx, runtime.Exec(`
import os, errno
n = 0
try:
    os.mkdir('many')
    while n < 20000:
        open('many/%d' % n, 'w').close()
        n += 1
except OSError as e:
    print(n, errno.errorcode[e.errno])
print(len(os.listdir('many')))
import shutil
shutil.rmtree('many')
depth = 0
try:
    p = 'deep'
    while depth < 20000:
        os.mkdir(p)
        depth += 1
        p += '/d'
except OSError as e:
    print(depth, errno.errorcode[e.errno])
`))

	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(r.Stdout)), "\n")
	require.Len(t, lines, 3, string(r.Stdout))
	require.Equal(t, "9999 ENOSPC", lines[0]) // the directory is an entry too
	require.Equal(t, "9999", lines[1])
	// Paths reach PATH_MAX before 10,000 levels.
	require.Regexp(t, `^\d+ (ENAMETOOLONG|ENOSPC)$`, lines[2])
	require.NoError(t, i.Err())
}

func TestScratchCannotBeLeft(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	r, err := i.Run(ctx, runtime.Exec(`
import os
out = []
def try_(name, f):
    try:
        f()
        out.append(name + ' ALLOWED')
    except OSError as e:
        out.append(name + ' ' + type(e).__name__)
open('/tmp/in.txt', 'w').write('x')
try_('dotdot-write', lambda: open('../etc/passwd', 'w'))
try_('dotdot-read', lambda: open('../../usr/lib/python3.13/os.py.x'))
try_('abs-outside', lambda: open('/outside.txt', 'w'))
try_('stdlib-write', lambda: open('/usr/lib/python3.13/evil.py', 'w'))
try_('symlink', lambda: os.symlink('/etc/passwd', 'link'))
try_('symlink-rel', lambda: os.symlink('in.txt', 'link2'))
try_('hardlink', lambda: os.link('in.txt', 'hard'))
try_('rename-out', lambda: os.rename('in.txt', '/usr/lib/python3.13/in.txt'))
try_('rename-up', lambda: os.rename('in.txt', '../in.txt'))
try_('mkdir-up', lambda: os.mkdir('../newdir'))
print('\n'.join(out))
print(os.listdir('/tmp'))
`))

	require.NoError(t, err)
	out := string(r.Stdout)
	require.NotContains(t, out, "ALLOWED", out)
	require.Contains(t, out, "['in.txt']", out)
	// The host's names cannot climb out either.
	for _, name := range []string{"../x", "/etc/x", "a/../../x", "/tmpx/y"} {
		require.Error(t, i.WriteFile(name, []byte("x")), name)
	}
	_, err = fs.ReadFile(i.Scratch(), "../etc/passwd")
	require.Error(t, err)
}

func TestScratchFilesRoundTripExactly(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	blob := make([]byte, 3<<20)
	_, _ = rand.Read(blob)
	in := map[string][]byte{"data.bin": blob, "/tmp/dir/empty": {}, "dir/text.txt": []byte("héllo\x00\n")}
	r, err := i.Run(ctx, runtime.Request{Op: runtime.OpExec, Files: in, Code: `
import hashlib
d = open('data.bin', 'rb').read()
open('out/copy.bin', 'wb').write(d) if __import__('os').makedirs('out', exist_ok=True) is None else None
open('dir/text.txt', 'ab').write(b'more')
hashlib.sha256(d).hexdigest()
`})
	require.NoError(t, err)
	require.Equal(t, []string{"dir/text.txt", "out/copy.bin"}, keys(r.Files), "only what the call wrote")
	require.True(t, bytes.Equal(blob, r.Files["out/copy.bin"]))
	require.Equal(t, "héllo\x00\nmore", string(r.Files["dir/text.txt"]))
	got, err := fs.ReadFile(i.Scratch(), "data.bin")
	require.NoError(t, err)
	require.True(t, bytes.Equal(blob, got))
	empty, err := fs.ReadFile(i.Scratch(), "dir/empty")
	require.NoError(t, err)
	require.Empty(t, empty)
	// A call that writes nothing returns no files.
	r, err = i.Run(ctx, runtime.Exec("x = 1"))
	require.NoError(t, err)
	require.Nil(t, r.Files)
	// MaxOutput: what does not fit is named.
	j := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxResultFiles: 1000}})
	r, err = j.Run(ctx, runtime.Exec("open('a', 'w').write('a' * 600)\nopen('b', 'w').write('b' * 600)\nopen('c', 'w').write('c' * 300)"))
	require.NoError(t, err)
	require.Equal(t, []string{"a", "c"}, keys(r.Files))
	require.Equal(t, []string{"b"}, r.FilesOmitted)
	// Renamed files are new at their new names; the collection can be off.
	r, err = j.Run(ctx, runtime.Exec("import os\nos.rename('a', 'a2')"))
	require.NoError(t, err)
	require.Equal(t, []string{"a2"}, keys(r.Files))
	k := newInstance(t, runtime.Options{Scratch: runtime.ScratchOptions{NoResultFiles: true}})
	r, err = k.Run(ctx, runtime.Exec("open('a', 'w').write('a')"))
	require.NoError(t, err)
	require.Nil(t, r.Files)
	// Disabled: nothing is writable, and Files are refused.
	d := newInstance(t, runtime.Options{Scratch: runtime.ScratchOptions{Disabled: true}})
	r, err = d.Run(ctx, runtime.Exec("import os\ntry:\n    open('/tmp/x', 'w')\nexcept OSError as e:\n    print(type(e).__name__)\nprint(os.getcwd())"))
	require.NoError(t, err)
	require.Equal(t, "FileNotFoundError\n/\n", string(r.Stdout))
	_, err = d.Run(ctx, runtime.Request{Op: runtime.OpExec, Code: "pass", Files: map[string][]byte{"x": nil}})
	require.ErrorIs(t, err, runtime.ErrBadRequest)
}

func keys(m map[string][]byte) []string { return slices.Sorted(maps.Keys(m)) }

func TestSnapshotClonesStartWithTheSnapshotsFilesOnly(t *testing.T) {
	snap, err := rt(t).NewSnapshot(ctx, runtime.SnapshotOptions{Setup: `
import os
os.makedirs('model', exist_ok=True)
open('model/weights.bin', 'wb').write(bytes(range(256)) * 4096)
open('config.txt', 'w').write('v1')
`})
	require.NoError(t, err)
	defer snap.Close()
	for round := range 3 {
		c, err := snap.NewInstance(ctx, runtime.CloneOptions{})
		require.NoError(t, err)
		r, err := c.Run(ctx, runtime.Exec(`
import os
seen = sorted(os.listdir('.'))
assert open('model/weights.bin', 'rb').read() == bytes(range(256)) * 4096
assert open('config.txt').read() == 'v1'
open('config.txt', 'w').write('changed')
with open('model/weights.bin', 'r+b') as f:
    f.write(b'XX')
open('leak.txt', 'w').write('from an earlier call')
os.rename('model', 'model2')
seen`))

		require.NoError(t, err, "round %d", round)
		require.JSONEq(t, `["config.txt","model"]`, string(r.Value), "round %d", round)
		require.Contains(t, keys(r.Files), "model2/weights.bin")
		require.NoError(t, c.Close(ctx))
	}
}

func TestScratchHeapStaysBoundedWhileGuestsFillIt(t *testing.T) {
	rt(t) // compiling python.wasm, when not cached, takes hundreds of MB of heap
	var ms goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&ms)
	before := ms.HeapInuse
	const capBytes = 8 << 20
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxScratchBytes: capBytes}, Scratch: runtime.ScratchOptions{NoResultFiles: true}})
	_, err := i.Run(ctx, runtime.Exec(`
import os, errno
def fill(round):
    n = 0
    chunk = b'x' * 100000
    try:
        while True:
            with open('r%d-%d' % (round, n % 100), 'ab') as f:
                f.write(chunk)
            n += 1
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    for name in os.listdir('.'):
        if round == 7:
            os.unlink(name)
        else:
            os.truncate(name, 0)
    return n
`))

	require.NoError(t, err)
	peak := uint64(0)
	// Each round fills the cap with new files, then truncates them to
	// nothing, which must give their memory back, not only their count;
	// the last round deletes them.
	for round := range 8 {
		r, err := i.Run(ctx, runtime.Request{Op: runtime.OpCall, Code: "fill", Args: []byte(fmt.Sprintf("[%d]", round))})
		require.NoError(t, err)
		require.NotEqual(t, "0", string(r.Value))
		// What the host keeps, not the garbage a round left for the
		// collector: without a GC the peak followed GC pacing and the
		// test failed now and then by a few MB.
		goruntime.GC()
		goruntime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	require.NoError(t, i.Close(ctx))
	goruntime.GC()
	goruntime.ReadMemStats(&ms)
	// Twice the cap (growth room) and a margin for everything else.
	require.Less(t, int64(peak)-int64(before), int64(2*capBytes+24<<20), "host heap while the guest filled its scratch")
	require.Less(t, int64(ms.HeapInuse)-int64(before), int64(16<<20), "host heap after Close")
}

func TestRequestFilesWithBadNamesAreRefusedBeforeRunning(t *testing.T) {
	for _, name := range []string{"", "../x", "a/../../x", "a\x00b", strings.Repeat("n", 300)} {
		err := runtime.Request{Op: runtime.OpExec, Files: map[string][]byte{name: nil}}.Validate()
		require.ErrorIs(t, err, runtime.ErrBadRequest, "%q", name)
	}
	i := newInstance(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Request{Op: runtime.OpExec, Code: "pass", Files: map[string][]byte{"/etc/passwd": nil}})
	require.ErrorIs(t, err, runtime.ErrBadRequest)
	require.Zero(t, i.Calls())
}
