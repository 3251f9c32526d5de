"""The POSIX that ordinary Python tools expect and WASI preview1 lacks,
installed at interpreter start (so in every snapshot and its clones):

    os.getuid, os.geteuid, os.getgid, os.getegid, os.getgroups
        The sandbox's one user and group, "sandbox" (pwd.py and grp.py,
        served beside this module, describe them), with id 0: WASI reports
        every file as owned by uid and gid 0, and tools that check that
        their files are their own (pytest's tmp_path compares st_uid with
        os.getuid()) must find them so. No permission is checked anyway.
    os.chown, os.lchown, os.fchown
        Owner 0 is the only one there is: changing to it (or -1, no
        change) succeeds once the file is found; any other owner fails
        with EPERM. tarfile, extracting as uid 0, calls chown and takes
        EPERM as the non-fatal error it is.
    os.dup(fd), os.dup2(fd, fd2, inheritable=True)
        WASI has no dup, and CPython's os.dup fails with ENOTSUP. A
        duplicate here is opened again through the host's /dev
        (internal/devfs): the standard streams as /dev/stdin, /dev/stdout
        and /dev/stderr (the same streams the host reads), a device by its
        name, and a file of the scratch file system as the same open file
        (its offset and flags shared, as dup's are). Other descriptors
        (host directory mounts, the stdlib, directories, sockets) fail with
        ENOTSUP. dup2 closes fd2 and opens the duplicate at fd2, which is
        the lowest free descriptor once any lower gap is filled (the
        descriptors WASI hands out are the lowest free ones). It refuses to
        replace a directory's descriptor: it may be a mount's root, which
        nothing could bring back.

Descriptors 0-2 are wazero's own until a dup2 replaces one; after that, fd 1
is a /dev/stdout file, which writes to the same stream.
"""
import operator
import os
import stat
from errno import EBADF, ENOTSUP, EPERM

UID = GID = 0

# st_dev of every file of /dev (internal/devfs.Dev).
_DEV = 0x6465
# /dev's entries by inode (internal/devfs: sorted, inode = index + 1).
_DEVICES = ("null", "random", "stderr", "stdin", "stdout", "urandom", "zero")
_STREAMS = ("stdin", "stdout", "stderr")


def getuid():
    return UID


def getgid():
    return GID


def getgroups():
    return [GID]


def structseq(qualname, fields, doc):
    """A tuple type with named fields, as C's struct sequences (os.stat_result,
    pwd.struct_passwd) are: pwd.py and grp.py build theirs with it."""
    module, name = qualname.split(".")

    def __new__(cls, sequence):
        t = tuple.__new__(cls, sequence)
        if len(t) != len(fields):
            raise TypeError("%s() takes a %d-sequence (%d-sequence given)" % (qualname, len(fields), len(t)))
        return t

    ns = {
        "__slots__": (), "__doc__": doc, "__module__": module, "__new__": __new__,
        "n_fields": len(fields), "n_sequence_fields": len(fields), "n_unnamed_fields": 0,
        "_fields": fields, "__match_args__": fields,
        "__repr__": lambda self: "%s(%s)" % (qualname, ", ".join("%s=%r" % f for f in zip(fields, self))),
        "__reduce__": lambda self: (type(self), (tuple(self),)),
    }
    for k, f in enumerate(fields):
        ns[f] = property(lambda self, k=k: self[k])
    return type(name, (tuple,), ns)


def _owner(uid, gid):
    # As CPython's: ids are integers (a float is a TypeError, not EPERM).
    uid, gid = operator.index(uid), operator.index(gid)
    if uid not in (-1, UID) or gid not in (-1, GID):
        raise PermissionError(EPERM, "files in this sandbox belong to uid and gid %d only" % UID)


def chown(path, uid, gid, *, dir_fd=None, follow_symlinks=True):
    os.stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
    _owner(uid, gid)


def lchown(path, uid, gid):
    chown(path, uid, gid, follow_symlinks=False)


def fchown(fd, uid, gid):
    os.fstat(fd)
    _owner(uid, gid)


def _reopen(fd):
    """The path and flags that open fd's file again, as dup must."""
    st = os.fstat(fd)  # EBADF as dup's
    if st.st_dev == _DEV and 1 <= st.st_ino <= len(_DEVICES):
        name = _DEVICES[st.st_ino - 1]
    elif fd in (0, 1, 2) and st.st_dev == 0 and st.st_ino == 0 and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        name = _STREAMS[fd]  # wazero's own stdio (a "device", no kind)
    elif stat.S_ISREG(st.st_mode) and st.st_ino:
        # A scratch file, opened again as the same open file (ENOENT if
        # the host tracks no such file: it is not a scratch file).
        return "/dev/.dup/%d-%d" % (st.st_dev, st.st_ino), os.O_RDWR
    else:
        raise OSError(ENOTSUP, "dup: descriptor %d cannot be duplicated in this sandbox" % fd)
    if name == "stdin":
        return "/dev/stdin", os.O_RDONLY
    if name in ("stdout", "stderr"):
        return "/dev/" + name, os.O_WRONLY
    return "/dev/" + name, os.O_RDWR


def _open(path, flags, fd):
    try:
        return os.open(path, flags)
    except FileNotFoundError:
        if path.startswith("/dev/.dup/"):
            raise OSError(ENOTSUP, "dup: descriptor %d is not a scratch file and cannot be duplicated in this sandbox" % fd) from None
        raise
    except OSError as e:
        if e.errno == ENOTSUP and path.startswith("/dev/.dup/"):
            raise OSError(ENOTSUP, "dup: descriptor %d's file is open more than once; which one is meant cannot be told" % fd) from None
        raise


def dup(fd, /):
    path, flags = _reopen(fd)
    return _open(path, flags, fd)


def dup2(fd, fd2, inheritable=True):
    path, flags = _reopen(fd)
    if fd == fd2:
        return fd2
    if fd2 < 0:
        raise OSError(EBADF, os.strerror(EBADF))
    try:
        if stat.S_ISDIR(os.fstat(fd2).st_mode):
            raise OSError(ENOTSUP, "dup2: descriptor %d is a directory, maybe a mount's root, which cannot be replaced" % fd2)
        os.close(fd2)
    except OSError as e:
        if e.errno != EBADF:
            raise
    gaps = []
    try:
        while True:
            new = _open(path, flags, fd)
            if new == fd2:
                return fd2
            if new > fd2:  # cannot happen while the lowest free is handed out
                os.close(new)
                raise OSError(EBADF, "dup2: descriptor %d could not be taken" % fd2)
            gaps.append(new)
    finally:
        for g in gaps:
            os.close(g)


def _install():
    os.getuid = os.geteuid = getuid
    os.getgid = os.getegid = getgid
    os.getgroups = getgroups
    os.chown, os.lchown, os.fchown = chown, lchown, fchown
    os.dup, os.dup2 = dup, dup2
    # os's functions are posix's: tests and code that use posix directly
    # find the same ones.
    import posix
    for name in ("getuid", "geteuid", "getgid", "getegid", "getgroups", "chown", "lchown", "fchown", "dup", "dup2"):
        setattr(posix, name, getattr(os, name))


_install()
