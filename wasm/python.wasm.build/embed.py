"""Packs a python.wasm build for embedding in the Go module, byte for byte
the same on every run: stdlib.zip holds the stdlib as sourceless .pyc files
(name.pyc where name.py was; the .py sources would add 2.6 MB), plus the data
files, sorted, with fixed times; python.wasm.gz is made by gzip -9n.

Usage: embed.py LIB_DIR OUT_ZIP
"""
import os
import sys
import zipfile

TAG = ".cpython-313.pyc"


def entries(lib):
    for dirpath, dirnames, filenames in os.walk(lib):
        dirnames.sort()
        rel = os.path.relpath(dirpath, lib)
        if os.path.basename(dirpath) == "__pycache__":
            for f in sorted(filenames):
                if f.endswith(TAG):
                    name = os.path.normpath(os.path.join(rel, "..", f[: -len(TAG)] + ".pyc"))
                    yield os.path.join(dirpath, f), name
            continue
        for f in sorted(filenames):
            path = os.path.join(dirpath, f)
            if f.endswith(".py") and os.path.exists(os.path.join(dirpath, "__pycache__", f[:-3] + TAG)):
                continue
            yield path, os.path.normpath(os.path.join(rel, f))


def main(lib, out):
    names = sorted(entries(lib), key=lambda e: e[1])
    with zipfile.ZipFile(out, "w") as z:
        for path, name in names:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            with open(path, "rb") as f:
                z.writestr(info, f.read(), compresslevel=9)


if __name__ == "__main__":
    main(*sys.argv[1:])
