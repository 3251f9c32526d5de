"""The password database of the sandbox: one user, "sandbox" (uid and gid
0, home /tmp, shell /bin/sh), who os.getuid() is: WASI reports every file
as owned by uid 0 (see snakepit_posix.py). Pure Python, served by
the host beside the snakepit shim; WASI has no user database."""

import operator

from snakepit_posix import structseq

__all__ = ["struct_passwd", "getpwuid", "getpwnam", "getpwall"]


struct_passwd = structseq("pwd.struct_passwd", ("pw_name", "pw_passwd", "pw_uid", "pw_gid", "pw_gecos", "pw_dir", "pw_shell"),
                          "pwd.struct_passwd: an entry of the password database.")

_USERS = (struct_passwd(("sandbox", "x", 0, 0, "sandbox", "/tmp", "/bin/sh")),)


def getpwuid(uid, /):
    uid = operator.index(uid)
    for u in _USERS:
        if u.pw_uid == uid:
            return u
    raise KeyError("getpwuid(): uid not found: %d" % uid)


def getpwnam(name, /):
    if not isinstance(name, str):
        raise TypeError("getpwnam() argument must be str, not %s" % type(name).__name__)
    if "\0" in name:
        raise ValueError("embedded null character")
    for u in _USERS:
        if u.pw_name == name:
            return u
    raise KeyError("getpwnam(): name not found: %r" % name)


def getpwall():
    return list(_USERS)
