package programs

// Levers is Python source defining _lever_<name>() functions, each one
// repeating a single operation of the interpreter that the real-code
// workloads lean on, so that the ratio between two interpreters can be
// pinned on a part: compile() split into its parser and its compiler, the
// unmarshalling a code cache would do instead, class creation, the
// allocator, and a call-heavy loop (the tick at RESUME_CHECK).
const Levers = `
import ast, dataclasses, marshal

_LEVER_SRC = '''
import os

class Point:
    """A point."""
    __slots__ = ('x', 'y')

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __repr__(self):
        return f'Point({self.x!r}, {self.y!r})'

    def dist(self, other):
        dx, dy = self.x - other.x, self.y - other.y
        return (dx * dx + dy * dy) ** 0.5

def walk(points, limit=10):
    total = 0.0
    for a, b in zip(points, points[1:]):
        if a.dist(b) > limit:
            continue
        total += a.dist(b)
    return {'total': total, 'n': len(points), 'names': [str(p) for p in points if p.x > 0]}

async def fetch(client, urls):
    out = []
    async with client:
        for u in urls:
            try:
                out.append(await client.get(u, timeout=3))
            except (OSError, ValueError) as e:
                out.append(e)
    return out
''' * 4
_LEVER_TREE = ast.parse(_LEVER_SRC)
_LEVER_CODE = compile(_LEVER_SRC, 'lever.py', 'exec')
_LEVER_MARSHAL = marshal.dumps(_LEVER_CODE)
_LEVER_SMALL = marshal.dumps(compile('x = 1', '<exec>', 'exec'))


def _lever_compile():
    for _ in range(20):
        compile(_LEVER_SRC, 'lever.py', 'exec')
    return 20


def _lever_parse():
    for _ in range(20):
        compile(_LEVER_SRC, 'lever.py', 'exec', ast.PyCF_ONLY_AST)
    return 20


def _lever_codegen():
    for _ in range(20):
        compile(_LEVER_TREE, 'lever.py', 'exec')
    return 20


def _lever_unmarshal():
    for _ in range(200):
        marshal.loads(_LEVER_MARSHAL)
    return 200


def _lever_compile_small():
    for _ in range(2000):
        compile('x = 1', '<exec>', 'exec')
    return 2000


def _lever_unmarshal_small():
    g = {}
    for _ in range(2000):
        exec(marshal.loads(_LEVER_SMALL), g)
    return 2000


def _lever_dataclass():
    for i in range(40):
        dataclasses.make_dataclass('C%d' % i, [('f%d' % j, int, dataclasses.field(default=j)) for j in range(6)],
                                   order=True, frozen=True)
    return 40


def _lever_alloc():
    n = 0
    for _ in range(20):
        xs = [(i, str(i), [i]) for i in range(5000)]
        n += len(xs)
        del xs
    return n


def _lever_calls():
    def f(x):
        return x + 1
    n = 0
    for _ in range(200000):
        n = f(n)
    return n
`

// LeverNames are the functions Levers defines, without the _lever_ prefix,
// in the order they are reported.
var LeverNames = []string{"compile", "parse", "codegen", "unmarshal", "compile_small", "unmarshal_small", "dataclass", "alloc", "calls"}
