# Big-integer arithmetic: digits of pi by Gibbons' unbounded spigot, then a
# large factorial turned into decimal by repeated division.


def pi_digits(n):
    q, r, t, k, m, x = 1, 0, 1, 1, 3, 3
    digits = []
    while len(digits) < n:
        if 4 * q + r - t < m * t:
            digits.append(m)
            q, r, m = 10 * q, 10 * (r - m * t), (10 * (3 * q + r)) // t - 10 * m
        else:
            q, r, t, k, m, x = q * k, (2 * q + r) * x, t * x, k + 1, (q * (7 * k + 2) + r * x) // (t * x), x + 2
    return digits


def decimal_digit_sum(n):
    # str() of a huge int is capped by sys.int_max_str_digits; dividing by
    # hand sidesteps that and is big-int work in its own right.
    chunk = 10**50
    total = 0
    while n:
        n, low = divmod(n, chunk)
        while low:
            low, d = divmod(low, 10)
            total += d
    return total


def run():
    digits = pi_digits(1500)
    f = 1
    for i in range(2, 4000):
        f *= i
    return ["".join(map(str, digits[-20:])), sum(digits), f.bit_length(), decimal_digit_sum(f), f % 1000000007]
