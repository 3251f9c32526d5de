# mpmath: arbitrary-precision special functions, quadratures and a root, in
# pure Python (no gmpy on either side).
import mpmath
from mpmath import mp, mpf


def run():
    mp.dps = 50
    out = [mpmath.nstr(mpmath.zeta(3), 40), mpmath.nstr(mpmath.findroot(lambda t: mpmath.cos(t) - t, 1), 40)]
    acc = mpf(0)
    for k in range(1, 13):
        acc += mpmath.quad(lambda t: mpmath.exp(-k * t * t) * mpmath.cos(t), [0, mpmath.inf])
        acc += mpmath.besselj(k % 4, mpf(k) / 3) * mpmath.gamma(mpf(k) / 7)
        acc += mpmath.polylog(2, mpf(1) / (k + 1))
    out.append(mpmath.nstr(acc, 40))
    mp.dps = 15
    return out
