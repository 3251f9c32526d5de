"""Gives each copy of a global symbol that several of pandas' objects
define a name of its own.

khash_python.h defines traced_malloc, traced_calloc, traced_realloc and
traced_free as global functions in every Cython module that includes it;
as shared modules the copies never meet, linked into one python.wasm they
would be one symbol defined six times. llvm-objcopy 19 renames no symbol
of a wasm object ("only flags for section dumping, removal, and addition
are supported"), so this does what --redefine-sym would: each copy after
the first gets a name of the same length (its last character replaced),
written where the object spells the name (the linking section's symbol
table and the name section), which keeps every length and offset. Each
object calls only its own copy (by symbol index, not name).

Usage: dedup.py NM ARCHIVE_DIR  (a directory of the archive's members)
"""
import collections
import os
import string
import subprocess
import sys


def main(nm, d):
    members = sorted(os.listdir(d))
    defs = collections.defaultdict(list)
    for m in members:
        out = subprocess.run([nm, "--defined-only", "--extern-only", os.path.join(d, m)],
                             check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in "TDBR":
                defs[f[2]].append(m)
    dups = {n: ms for n, ms in defs.items() if len(ms) > 1}
    taken = set(defs)
    for name, ms in sorted(dups.items()):
        marks = iter(c for c in string.ascii_letters if name[:-1] + c not in taken)
        for m in ms[1:]:
            new = name[:-1] + next(marks)
            taken.add(new)
            path = os.path.join(d, m)
            data = open(path, "rb").read()
            old = name.encode()
            if data.count(old) == 0:
                sys.exit("dedup.py: %s not spelled in %s" % (name, m))
            open(path, "wb").write(data.replace(old, new.encode()))
        print("%s: %d copies renamed" % (name, len(ms) - 1))


if __name__ == "__main__":
    main(*sys.argv[1:])
