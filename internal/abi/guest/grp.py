"""The group database of the sandbox: one group, "sandbox" (gid 0), that
of its one user (see pwd). Pure Python, served by the host beside the
snakepit shim; WASI has no group database."""

import operator

from snakepit_posix import structseq

__all__ = ["struct_group", "getgrgid", "getgrnam", "getgrall"]


struct_group = structseq("grp.struct_group", ("gr_name", "gr_passwd", "gr_gid", "gr_mem"),
                         "grp.struct_group: an entry of the group database.")


def _groups():
    # A fresh member list each time: callers may change what they get.
    return (struct_group(("sandbox", "x", 0, ["sandbox"])),)


def getgrgid(id, /):
    id = operator.index(id)
    for g in _groups():
        if g.gr_gid == id:
            return g
    raise KeyError("getgrgid(): gid not found: %d" % id)


def getgrnam(name, /):
    if not isinstance(name, str):
        raise TypeError("getgrnam() argument must be str, not %s" % type(name).__name__)
    if "\0" in name:
        raise ValueError("embedded null character")
    for g in _groups():
        if g.gr_name == name:
            return g
    raise KeyError("getgrnam(): name not found: %r" % name)


def getgrall():
    return list(_groups())
