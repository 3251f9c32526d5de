# Generators and iterators: chained generator pipelines, yield from over a
# tree, generator expressions and itertools.
import itertools


def naturals(start=2):
    n = start
    while True:
        yield n
        n += 1


def primes():
    # Incremental sieve: a dict of upcoming composites, one generator.
    composites = {}
    for n in naturals():
        p = composites.pop(n, None)
        if p is None:
            composites[n * n] = n
            yield n
        else:
            m = n + p
            while m in composites:
                m += p
            composites[m] = p


def tree(depth, label=0):
    if depth == 0:
        return label
    return [tree(depth - 1, label * 2), tree(depth - 1, label * 2 + 1)]


def leaves(node):
    if isinstance(node, list):
        for child in node:
            yield from leaves(child)
    else:
        yield node


def windows(it, n):
    window = []
    for x in it:
        window.append(x)
        if len(window) == n:
            yield tuple(window)
            del window[0]


def run():
    first = list(itertools.islice(primes(), 20000))
    gaps = (b - a for a, b in zip(first, first[1:]))
    max_gap = max(gaps)
    leaf_sum = sum(x for x in leaves(tree(15)) if x % 3)
    sums = sum(a * b - c for a, b, c in windows(iter(first), 3))
    groups = [(k, sum(1 for _ in g)) for k, g in itertools.groupby(first, key=lambda p: p % 10)]
    running = list(itertools.accumulate(x % 1000 for x in first))
    evens = sum(1 for x in itertools.chain.from_iterable((p, p + 1) for p in first) if not x & 1)
    return [first[-1], max_gap, leaf_sum, sums, len(groups), running[-1], evens]
