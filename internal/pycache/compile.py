# Compiles a package's sources to timestamp pycs for package pycache: run
# in the sandbox by the interpreter that imports them. Loaded with exec;
# the host calls _pyc_start once, then _pyc_batch until it returns b"".
import os, struct, warnings
from importlib._bootstrap_external import _code_to_timestamp_pyc
from importlib.util import cache_from_source


def _pyc_start(root, have, max_file):
    global _pyc_todo, _pyc_root, _pyc_have, _pyc_max
    found = []
    for d, dirs, files in os.walk(root):
        found += [os.path.join(d, f) for f in files if f.endswith('.py')]
    # What imports load first comes first, tests last: a deadline leaves
    # the most useful part compiled.
    found.sort(key=lambda p: ('/test' in p[len(root):], p.count('/'), p))
    _pyc_todo, _pyc_root, _pyc_have, _pyc_max = iter(found), root, set(have), max_file


def _pyc_batch(max_bytes):
    out = bytearray()
    for p in _pyc_todo:
        name = cache_from_source(p)[len(_pyc_root) + 1:]
        if name in _pyc_have:
            continue
        try:
            st = os.stat(p)
            with open(p, 'rb') as f:
                src = f.read()
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')  # import shows them, from source
                code = compile(src, p, 'exec', dont_inherit=True)
        except Exception:
            continue  # served from source: import reports the error
        data = _code_to_timestamp_pyc(code, st.st_mtime, st.st_size)
        if len(data) > _pyc_max:
            continue
        b = name.encode('utf-8', 'surrogateescape')
        out += struct.pack('<II', len(b), len(data)) + b + data
        if len(out) >= max_bytes:
            break
    return bytes(out)
