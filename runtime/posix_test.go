package runtime_test

import (
	"testing"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// inFreshAndClone runs src in a fresh instance and in a snapshot clone, and
// returns each result: what the interpreter installs at start must be in
// both.
func inFreshAndClone(t *testing.T, opts runtime.Options, src string) []*runtime.Result {
	t.Helper()
	s := newSnapshot(t, runtime.SnapshotOptions{Options: opts})
	var out []*runtime.Result
	for _, i := range []*runtime.Instance{newInstance(t, opts), clone(t, s)} {
		r, err := i.Run(ctx, runtime.Exec(src))
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

func TestDevDevicesReadAndWriteAsOnLinux(t *testing.T) {
	for _, r := range inFreshAndClone(t, runtime.Options{}, `
import os, stat, errno
out = {"ls": sorted(os.listdir("/dev"))}
with open("/dev/null", "rb") as f:
    out["null_read"] = f.read(10).hex()
with open(os.devnull, "w") as f:
    out["null_write"] = f.write("x" * 1000)
with open("/dev/zero", "rb") as f:
    out["zero"] = f.read(16) == bytes(16)
with open("/dev/zero", "wb", buffering=0) as f:
    out["zero_write"] = f.write(b"abc")
with open("/dev/urandom", "rb") as f:
    a, b = f.read(32), f.read(32)
    out["urandom"] = (len(a), len(b), a != b)
with open("/dev/urandom", "wb", buffering=0) as f:
    out["urandom_write"] = f.write(b"entropy")
out["chr"] = all(stat.S_ISCHR(os.stat("/dev/" + n).st_mode) for n in ("null", "zero", "random", "urandom"))
with open("/dev/stdout", "w") as f:
    f.write("to the stream\n")
with open("/dev/stderr", "w") as f:
    f.write("to the error stream\n")
with open("/dev/stdin", "rb") as f:
    out["stdin"] = f.read().hex()
def errname(f):
    try:
        f()
    except OSError as e:
        return errno.errorcode[e.errno]
out["create"] = errname(lambda: open("/dev/new", "w"))
out["remove"] = errname(lambda: os.remove("/dev/null"))
out["remove_missing"] = errname(lambda: os.remove("/dev/missing"))
out["mkdir"] = errname(lambda: os.mkdir("/dev/d"))
out["write_readonly"] = errname(lambda: os.write(os.open("/dev/null", os.O_RDONLY), b"x"))
out
`) {
		require.JSONEq(t, `{"ls": ["null", "random", "stderr", "stdin", "stdout", "urandom", "zero"],
			"null_read": "", "null_write": 1000, "zero": true, "zero_write": 3,
			"urandom": [32, 32, true], "urandom_write": 7, "chr": true, "stdin": "",
			"create": "EROFS", "remove": "EROFS", "remove_missing": "ENOENT", "mkdir": "EROFS", "write_readonly": "EBADF"}`,
			string(r.Value))
		require.Equal(t, "to the stream\n", string(r.Stdout))
		require.Equal(t, "to the error stream\n", string(r.Stderr))
	}
}

func TestDevIsReservedForTheRuntime(t *testing.T) {
	for _, o := range []runtime.Options{
		{Mounts: []runtime.Mount{{GuestPath: "/dev", HostDir: t.TempDir()}}},
		{Mounts: []runtime.Mount{{GuestPath: "/dev/shm", HostDir: t.TempDir()}}},
		{Scratch: runtime.ScratchOptions{Path: "/dev"}},
	} {
		require.ErrorIs(t, o.Validate(), runtime.ErrBadOptions, "%+v", o)
	}
}

func TestDevFilesCountAgainstMaxOpenFiles(t *testing.T) {
	i := newInstance(t, runtime.Options{Limits: runtime.Limits{MaxOpenFiles: 16}})
	r, err := i.Run(ctx, runtime.Exec(`
import os, errno
held = []
try:
    while len(held) < 1000:
        held.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    err = errno.errorcode[e.errno]
for fd in held:
    os.close(fd)
(len(held) < 16, err)
`))
	require.NoError(t, err)
	require.JSONEq(t, `[true, "EMFILE"]`, string(r.Value))
}

func TestSandboxUserAndGroup(t *testing.T) {
	src := `
import os, pwd, grp, getpass
u = pwd.getpwuid(os.getuid())
g = grp.getgrgid(os.getgid())
def missing(f, *a):
    try:
        f(*a)
    except KeyError:
        return True
(os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups(), getpass.getuser(),
 tuple(u), u.pw_name, u.pw_dir, pwd.getpwnam("sandbox") == u, [tuple(x) for x in pwd.getpwall()],
 tuple(g), grp.getgrnam("sandbox").gr_gid, len(grp.getgrall()),
 missing(pwd.getpwuid, 4242), missing(pwd.getpwnam, "root"), missing(grp.getgrgid, 4242), missing(grp.getgrnam, "wheel"),
 os.stat("/tmp").st_uid == os.getuid())
`
	for _, r := range inFreshAndClone(t, runtime.Options{}, src) {
		require.JSONEq(t, `[0, 0, 0, 0, [0], "sandbox",
			["sandbox", "x", 0, 0, "sandbox", "/tmp", "/bin/sh"], "sandbox", "/tmp", true, [["sandbox", "x", 0, 0, "sandbox", "/tmp", "/bin/sh"]],
			["sandbox", "x", 0, ["sandbox"]], 0, 1,
			true, true, true, true, true]`, string(r.Value))
	}
	// getpass reads the environment first, as everywhere.
	r, err := newInstance(t, runtime.Options{Env: map[string]string{"USER": "alice"}}).Run(ctx, runtime.Eval("__import__('getpass').getuser()"))
	require.NoError(t, err)
	require.JSONEq(t, `"alice"`, string(r.Value))
}

func TestDupAndDup2(t *testing.T) {
	src := `
import os, sys, errno, tempfile, faulthandler
def errname(f):
    try:
        f()
    except OSError as e:
        return errno.errorcode[e.errno]
out = {}
# A duplicate of stdout writes to the same stream.
d = os.dup(1)
os.write(d, b"through the duplicate\n")
os.close(d)
# pytest's fd capture: fd 1 redirected to an unlinked temporary file and back.
tmp = tempfile.TemporaryFile(buffering=0)
saved = os.dup(1)
out["dup2"] = os.dup2(tmp.fileno(), 1)
os.write(1, b"captured ")
print("and printed", flush=True)
tmp.seek(0); out["captured"] = tmp.read().decode()
tmp.seek(0); tmp.truncate()
os.write(1, b"after truncate")
tmp.seek(0); out["after_truncate"] = tmp.read().decode()
os.dup2(saved, 1)
os.close(saved)
tmp.close()
os.write(1, b"restored\n")
# A duplicate is the same open file: one offset.
with open("shared.bin", "w+b", buffering=0) as f:
    g = os.dup(f.fileno())
    os.write(g, b"abc")
    out["offset"] = os.lseek(f.fileno(), 0, os.SEEK_CUR)
    os.close(g)
    f.write(b"d")
with open("shared.bin", "rb") as f:
    out["content"] = f.read().decode()
# dup2 fills lower gaps to land on fd2, and closes them again.
n = os.open("/dev/null", os.O_RDONLY)
out["dup2_far"] = os.dup2(n, n + 5) == n + 5
os.write(n + 5, b"")
os.close(n); os.close(n + 5)
out["gaps_closed"] = errname(lambda: os.fstat(n + 1))
# faulthandler writes to a duplicate of stderr, as pytest sets it up.
fd = os.dup(2)
faulthandler.enable(file=fd)
faulthandler.dump_traceback(fd)
faulthandler.disable()
os.close(fd)
# What cannot be duplicated says so.
out["bad_fd"] = errname(lambda: os.dup(999))
sf = open("/usr/lib/snakepit/pwd.py", "rb")
out["stdlib_file"] = errname(lambda: os.dup(sf.fileno()))
sf.close()
a, b = open("twice.txt", "w"), open("twice.txt", "r")
out["opened_twice"] = errname(lambda: os.dup(a.fileno()))
a.close(); b.close()
out["onto_dir"] = errname(lambda: os.dup2(0, 3))
out
`
	for _, r := range inFreshAndClone(t, runtime.Options{}, src) {
		require.JSONEq(t, `{"dup2": 1, "captured": "captured and printed\n", "after_truncate": "after truncate",
			"offset": 3, "content": "abcd", "dup2_far": true, "gaps_closed": "EBADF",
			"bad_fd": "EBADF", "stdlib_file": "ENOTSUP", "opened_twice": "ENOTSUP", "onto_dir": "ENOTSUP"}`, string(r.Value))
		require.Equal(t, "through the duplicate\nrestored\n", string(r.Stdout))
		require.Contains(t, string(r.Stderr), "(most recent call first):\n  File \"<exec>\"")
	}
}

func TestTempfileAndShutilOnScratch(t *testing.T) {
	src := `
import os, shutil, tempfile
def chown_to(path, uid):
    try:
        shutil.chown(path, uid, uid)
        return "ok"
    except PermissionError:
        return "EPERM"
with tempfile.TemporaryDirectory() as d:
    src = os.path.join(d, "src")
    os.makedirs(os.path.join(src, "sub"))
    for name, text in (("a.txt", "alpha"), ("sub/b.txt", "beta")):
        with open(os.path.join(src, name), "w") as f:
            f.write(text)
    shutil.copytree(src, os.path.join(d, "copy"))
    archives = [shutil.make_archive(os.path.join(d, "arch"), fmt, src) for fmt in ("zip", "gztar")]
    unpacked = []
    for a in archives:
        to = a + ".out"
        shutil.unpack_archive(a, to)
        unpacked.append(sorted(os.path.relpath(os.path.join(p, f), to) for p, _, fs in os.walk(to) for f in fs))
    with open(os.path.join(d, "copy", "sub", "b.txt")) as f:
        copied = f.read()
    owners = [chown_to(src, 0), chown_to(src, 1000)]
    shutil.rmtree(os.path.join(d, "copy"))
    gone = not os.path.exists(os.path.join(d, "copy"))
    with tempfile.NamedTemporaryFile("w+", dir=d) as f:
        f.write("named")
        f.seek(0)
        named = f.read()
    with tempfile.TemporaryFile() as f:
        f.write(b"anonymous")
        f.seek(0)
        anonymous = f.read().decode()
(d.startswith("/tmp/"), copied, gone, owners, [os.path.basename(a) for a in archives], unpacked, named, anonymous, os.path.exists(d))
`
	for _, r := range inFreshAndClone(t, runtime.Options{}, src) {
		require.JSONEq(t, `[true, "beta", true, ["ok", "EPERM"], ["arch.zip", "arch.tar.gz"], [["a.txt", "sub/b.txt"], ["a.txt", "sub/b.txt"]], "named", "anonymous", false]`, string(r.Value))
	}
}
