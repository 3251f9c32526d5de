# Class creation: attrs and dataclasses generate each class's __init__,
# __repr__, __eq__ (and attrs its __hash__ and slots) as Python source and
# compile() it; then instances are made and compared.
import dataclasses

import attrs


def run():
    total = 0
    for i in range(60):
        fields = ['f%d' % j for j in range(4 + i % 5)]
        A = attrs.make_class('A%d' % i, {f: attrs.field(default=j) for j, f in enumerate(fields)}, frozen=i % 2 == 0)
        D = dataclasses.make_dataclass('D%d' % i, [(f, int, dataclasses.field(default=j)) for j, f in enumerate(fields)],
                                       order=True, frozen=i % 3 == 0)
        a, b = A(), A(**{fields[0]: 5})
        d, e = D(), D(**{fields[0]: 5})
        total += (a == b) + (d < e) + len(repr(a)) + len(repr(e)) + len(attrs.asdict(b)) + len(dataclasses.astuple(d))
    return total
