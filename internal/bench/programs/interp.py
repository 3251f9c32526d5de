# Class-heavy code: a tiny tree-walking interpreter (tokenizer, recursive
# descent parser, one class per AST node, an environment chain and function
# calls that return by exception) running a small program.
import re

SOURCE = """
def gcd(a, b) {
    if b == 0 { return a; }
    return gcd(b, a % b);
}
def is_prime(n) {
    if n < 2 { return 0; }
    d = 2;
    while d * d <= n {
        if n % d == 0 { return 0; }
        d = d + 1;
    }
    return 1;
}
count = 0; total = 0; g = 0; i = 1;
while i < 6000 {
    if is_prime(i) { count = count + 1; total = total + i; }
    g = g + gcd(i, 360);
    i = i + 1;
}
"""

TOKEN = re.compile(r"\s*(?:(\d+)|(\w+)|(==|!=|<=|>=|[-+*/%<>=(){};,]))")


class Node:
    pass


class Num(Node):
    def __init__(self, value):
        self.value = value

    def eval(self, env):
        return self.value


class Var(Node):
    def __init__(self, name):
        self.name = name

    def eval(self, env):
        return env.get(self.name)


class BinOp(Node):
    OPS = {
        "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
        "/": lambda a, b: a // b, "%": lambda a, b: a % b,
        "<": lambda a, b: int(a < b), ">": lambda a, b: int(a > b), "<=": lambda a, b: int(a <= b),
        ">=": lambda a, b: int(a >= b), "==": lambda a, b: int(a == b), "!=": lambda a, b: int(a != b),
    }

    def __init__(self, op, left, right):
        self.fn = self.OPS[op]
        self.left = left
        self.right = right

    def eval(self, env):
        return self.fn(self.left.eval(env), self.right.eval(env))


class Call(Node):
    def __init__(self, name, args):
        self.name = name
        self.args = args

    def eval(self, env):
        fn = env.get(self.name)
        return fn.call([a.eval(env) for a in self.args])


class Assign(Node):
    def __init__(self, name, expr):
        self.name = name
        self.expr = expr

    def eval(self, env):
        env.set(self.name, self.expr.eval(env))


class Block(Node):
    def __init__(self, stmts):
        self.stmts = stmts

    def eval(self, env):
        for s in self.stmts:
            s.eval(env)


class If(Node):
    def __init__(self, cond, body):
        self.cond = cond
        self.body = body

    def eval(self, env):
        if self.cond.eval(env):
            self.body.eval(env)


class While(Node):
    def __init__(self, cond, body):
        self.cond = cond
        self.body = body

    def eval(self, env):
        while self.cond.eval(env):
            self.body.eval(env)


class ReturnValue(Exception):
    def __init__(self, value):
        self.value = value


class Return(Node):
    def __init__(self, expr):
        self.expr = expr

    def eval(self, env):
        raise ReturnValue(self.expr.eval(env))


class Function(Node):
    def __init__(self, name, params, body, env=None):
        self.name = name
        self.params = params
        self.body = body
        self.env = env

    def eval(self, env):
        env.set(self.name, Function(self.name, self.params, self.body, env))

    def call(self, args):
        scope = Env(dict(zip(self.params, args)), self.env)
        try:
            self.body.eval(scope)
        except ReturnValue as r:
            return r.value
        return 0


class Env:
    def __init__(self, vars=None, parent=None):
        self.vars = vars if vars is not None else {}
        self.parent = parent

    def get(self, name):
        env = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        raise NameError(name)

    def set(self, name, value):
        self.vars[name] = value


class Parser:
    def __init__(self, text):
        self.tokens = [m.group(1) or m.group(2) or m.group(3) for m in TOKEN.finditer(text.strip())]
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected=None):
        tok = self.tokens[self.pos]
        if expected is not None and tok != expected:
            raise SyntaxError(f"expected {expected!r}, got {tok!r}")
        self.pos += 1
        return tok

    def program(self):
        stmts = []
        while self.peek() is not None:
            stmts.append(self.statement())
        return Block(stmts)

    def block(self):
        self.take("{")
        stmts = []
        while self.peek() != "}":
            stmts.append(self.statement())
        self.take("}")
        return Block(stmts)

    def statement(self):
        tok = self.peek()
        if tok == "def":
            self.take()
            name = self.take()
            self.take("(")
            params = []
            while self.peek() != ")":
                params.append(self.take())
                if self.peek() == ",":
                    self.take()
            self.take(")")
            return Function(name, params, self.block())
        if tok in ("if", "while"):
            self.take()
            cond = self.expr()
            return (If if tok == "if" else While)(cond, self.block())
        if tok == "return":
            self.take()
            node = Return(self.expr())
            self.take(";")
            return node
        name = self.take()
        self.take("=")
        node = Assign(name, self.expr())
        self.take(";")
        return node

    LEVELS = [("==", "!=", "<", ">", "<=", ">="), ("+", "-"), ("*", "/", "%")]

    def expr(self, level=0):
        if level == len(self.LEVELS):
            return self.atom()
        left = self.expr(level + 1)
        while self.peek() in self.LEVELS[level]:
            op = self.take()
            left = BinOp(op, left, self.expr(level + 1))
        return left

    def atom(self):
        tok = self.take()
        if tok == "(":
            node = self.expr()
            self.take(")")
            return node
        if tok.isdigit():
            return Num(int(tok))
        if self.peek() == "(":
            self.take()
            args = []
            while self.peek() != ")":
                args.append(self.expr())
                if self.peek() == ",":
                    self.take()
            self.take(")")
            return Call(tok, args)
        return Var(tok)


def run():
    env = Env()
    Parser(SOURCE).program().eval(env)
    return [env.get("count"), env.get("total"), env.get("g")]
