# Pure-Python loops: integer arithmetic and branches in nested while/for
# loops (longest Collatz chain, then a sieve over a list).


def collatz(limit):
    best, best_start = 0, 0
    for start in range(1, limit):
        n, steps = start, 0
        while n != 1:
            if n & 1:
                n = 3 * n + 1
            else:
                n >>= 1
            steps += 1
        if steps > best:
            best, best_start = steps, start
    return best, best_start


def sieve(limit):
    is_prime = [True] * limit
    is_prime[0] = is_prime[1] = False
    i = 2
    while i * i < limit:
        if is_prime[i]:
            for j in range(i * i, limit, i):
                is_prime[j] = False
        i += 1
    count = 0
    total = 0
    for i in range(limit):
        if is_prime[i]:
            count += 1
            total += i
    return count, total


def run():
    best, start = collatz(30000)
    count, total = sieve(300000)
    return [best, start, count, total]
