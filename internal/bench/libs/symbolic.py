# sympy: expansion, factoring, simplification and a derivative; sympy's
# cache is cleared first so that every call does the same work.
try:
    import ctypes  # noqa: F401 (sympy.external.gmpy imports it for sizeof(c_long))
except ImportError:
    # WASI's CPython has no _ctypes: a stand-in for the two names sympy uses.
    import struct
    import sys
    import types
    sys.modules['ctypes'] = types.SimpleNamespace(c_long='l', sizeof=struct.calcsize)

import sympy
from sympy import cos, exp, sin, symbols


def run():
    sympy.core.cache.clear_cache()
    x, y, z = symbols('x y z')
    e = sympy.expand((x + 2 * y - z + 1) ** 7)
    f = sympy.factor(x ** 6 - y ** 6)
    s = sympy.simplify(sin(x) ** 2 + cos(x) ** 2 + exp(x) * exp(-x) + (x ** 2 - 1) / (x - 1))
    t = sympy.trigsimp(sin(x) * cos(y) + cos(x) * sin(y))
    d = sympy.diff(sympy.atan(x ** 2) * sympy.log(1 + x), x, 2)
    r = sympy.apart((3 * x + 5) / ((x + 1) * (x + 2) * (x - 3)), x)
    return [len(e.args), str(f), str(s), str(t), sympy.count_ops(d), str(r)]
