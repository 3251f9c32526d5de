# pyparsing: an arithmetic grammar with precedence (infix_notation, no
# packrat) parsing and evaluating generated expressions.
import pyparsing as pp

_num = pp.pyparsing_common.number
_var = pp.Word(pp.alphas, exact=1)
_expr = pp.infix_notation(_num | _var, [
    (pp.one_of('- +'), 1, pp.OpAssoc.RIGHT),
    (pp.one_of('* /'), 2, pp.OpAssoc.LEFT),
    (pp.one_of('+ -'), 2, pp.OpAssoc.LEFT),
])
_ENV = {'x': 3, 'y': -2, 'z': 0.5}


def _eval(t):
    if isinstance(t, (int, float)):
        return t
    if isinstance(t, str):
        return _ENV[t]
    if len(t) == 2:
        v = _eval(t[1])
        return -v if t[0] == '-' else v
    v = _eval(t[0])
    for op, rhs in zip(t[1::2], t[2::2]):
        r = _eval(rhs)
        v = v + r if op == '+' else v - r if op == '-' else v * r if op == '*' else v / r
    return v


def _exprs(n):
    out, s = [], 1
    for i in range(n):
        terms = []
        for j in range(3 + i % 4):
            s = (s * 48271) % 2147483647
            terms.append(str(s % 97 + 1) if s % 3 else 'xyz'[s % 3 + j % 2])
            terms.append('+-*/'[s % 4] if s % 5 else '*')
        out.append('(' + ' '.join(terms[:-1]) + ') * -' + str(i % 7 + 1))
    return out


_INPUTS = _exprs(16)


def run():
    total = 0.0
    for src in _INPUTS:
        total += _eval(_expr.parse_string(src, parse_all=True)[0])
    return round(total, 6)
