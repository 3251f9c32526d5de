# Sorting: list.sort and sorted on ints, floats, strings and tuples, with key
# functions, reverse order and already-sorted runs, plus heapq and bisect.
import bisect
import heapq


def numbers(n, seed):
    out = []
    for _ in range(n):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(seed)
    return out


def run():
    ints = numbers(70000, 1)
    a = sorted(ints)
    b = sorted(ints, reverse=True)
    floats = sorted(x / 7.0 for x in ints[:40000])
    words = sorted(f"w{x % 50000:05d}{x % 7}" for x in ints[:40000])
    people = [(x % 90, f"name{x % 1000}", x) for x in ints[:40000]]
    by_age = sorted(people, key=lambda p: (p[0], p[1]))
    by_name = sorted(people, key=lambda p: p[1])
    # Nearly sorted data exercises timsort's run detection.
    nearly = a[:]
    for i in range(0, len(nearly), 1000):
        nearly[i], nearly[-i - 1] = nearly[-i - 1], nearly[i]
    nearly.sort()
    smallest = heapq.nsmallest(10, ints)
    ranks = [bisect.bisect_left(a, x) for x in ints[:20000]]
    return [a[100], b[100], f"{floats[5000]:.6f}", words[777], by_age[12345][2], by_name[4321][2], nearly == a, smallest[9], sum(ranks)]
