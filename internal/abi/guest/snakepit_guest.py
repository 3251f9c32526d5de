"""The guest half of the snakepit ABI: runs one request and encodes its result.

The host calls _dispatch(kind, a, b) through sp_run. The answer is a tuple
of frames laid flat, (tag, data, tag, data, ...): each tag one byte, J (a
JSON value), B (raw bytes), E (exception type), M (message), T (traceback),
H (the JSON the host made of the value during the call, see _tojson; no
data), each data exact bytes or a str (J's is, and ASCII: sp_run hands the
host the str's own bytes, so a large result is never copied to be framed).
No frame means the call returned None. The host treats all of it as
untrusted: user code runs in this same interpreter and may replace any of
this.

User code imports the `snakepit` module:

    snakepit.call(name, *args) or snakepit.call(name, **kwargs)
        Calls the host tool `name` and returns its answer, decoded from JSON.
        Positional arguments reach the tool as a JSON list, keyword
        arguments as a JSON object; giving both raises TypeError. A tool's
        error, an unknown name or a host limit raises RuntimeError.
    snakepit.emit(value)
        Sends one stream chunk (a JSON value) to the caller. RuntimeError
        once the host has stopped the stream (its consumer failed or a
        stream cap was reached): every later emit of the call fails too.
    snakepit.checkpoint()
        Yields to the host, which stops the call there if its deadline passed.

The rest of the module lives in snakepit_adapter.py (served by the host at
/usr/lib/snakepit, imported on first use): @snakepit.export and
snakepit.catalog() (functions the host lists and calls by name),
snakepit.ArgumentError, snakepit.UnknownFunctionError, and
`await snakepit.acall(name, ...)`, a host call that leaves asyncio's loop
running (several run concurrently on the host). Importing asyncio installs
that module's event loop: WASI has no socketpair for asyncio's own.

JSON is strict in both directions: NaN and the infinities raise ValueError
(in results, stream chunks, emit and host-call arguments), since the host's
JSON has no such values.
"""
import sys
import ast
import json
import marshal
import random
import builtins
import traceback
import importlib
import _snakepit

# The request kinds and result frame tags (internal/abi's Kind* and Tag*;
# its tests compare them).
EXEC, EVAL, CALL_JSON, CALL_BYTES, CALL_STREAM = 1, 2, 3, 4, 5
# Or-ed into CALL_JSON or CALL_STREAM: b holds the arguments in marshal's
# format, converted by the host from their JSON (internal/abi's
# KindMarshalArgs), which marshal.loads reads several times faster than
# json its text.
MARSHAL_ARGS = 256
# The host call that converts a marshalled value to JSON (abi.HostJSON).
_HOST_JSON = "snakepit.json"
TAG_JSON, TAG_BYTES, TAG_TYPE, TAG_MESSAGE, TAG_TRACEBACK = b"J", b"B", b"E", b"M", b"T"
# The value is the JSON the host made in this call (abi.TagHostJSON).
_HOST_MADE = b"H", b""

# sp_init runs this module in a dict without __builtins__, which C code
# that imports while a frame of this module is the innermost one looks up
# (PyImport_Import: showing a SyntaxWarning of compile() did, and raised
# KeyError instead).
__builtins__ = builtins

_main_mod = type(sys)("__main__")
sys.modules["__main__"] = _main_mod
_main = _main_mod.__dict__

# Built before it is needed: after a MemoryError, allocating may fail again.
_MEMORY_ERROR = (TAG_TYPE, b"MemoryError")


_TB_FRAMES, _TB_CHARS = 50, 64 * 1024
_HERE = (lambda: 0).__code__.co_filename  # this file's name in tracebacks


# allow_nan=False: Python would otherwise write NaN and Infinity, which are
# not JSON; the host would reject the whole result. One encoder for every
# call: json.dumps with arguments builds a new one each time. Its output is
# ASCII (ensure_ascii), which sp_run passes on without a copy.
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_decode = json.JSONDecoder().decode


_mdumps, _mloads = marshal.dumps, marshal.loads
_CONTAINERS = frozenset((list, dict, tuple))
# What json writes for the exact scalar types, without its encode(), which
# builds a new C encoder per call (2.5 µs of a 3 µs int result in wasm): an
# int's and a finite float's repr, a str through json's own ASCII escaper.
_INF = float("inf")
_int_repr, _float_repr = int.__repr__, float.__repr__
_ascii = json.encoder.encode_basestring_ascii


def _tojson(v, encode=_encode):
    """v as JSON (a str), or None when the host holds it. A list, dict or
    tuple, or a long str, is marshalled and converted by the host, several
    times faster than json's encoder in wasm, and without the JSON taking
    room here; json writes the rest, and whatever the host leaves to it (a
    set, NaN, a subclass, a cycle: see abi.MarshalToJSON), so that every
    error is json's own."""
    t = type(v)
    if t is int:
        return _int_repr(v)  # json's own way (and its error past the digit limit)
    if t is str and len(v) <= 256:
        return _ascii(v)
    if t is float and -_INF < v < _INF:
        return _float_repr(v)
    if t is bool:
        return "true" if v else "false"
    if t in _CONTAINERS or t is str:
        try:
            _snakepit.call(_HOST_JSON, _mdumps(v, 2))
            return None
        except (ValueError, RuntimeError, MemoryError):
            pass  # unmarshallable (a subclass, a cycle), not JSON as json writes it, or no room
    return encode(v)


# What a function the dispatcher calls returns when _tojson left its result
# with the host (snakepit_adapter._call does).
_HELD = object()


def _emit(v, encode=_encode):
    """Sends v as a stream chunk: an empty chunk is the JSON the host holds."""
    j = _tojson(v, encode)
    _snakepit.emit(b"" if j is None else j.encode())


def _value(v, printable=False):
    if v is None:
        return ()
    if type(v) is int:  # the commonest result, without a call more
        return TAG_JSON, _int_repr(v)
    if v is _HELD:
        return _HOST_MADE
    if isinstance(v, (bytes, bytearray, memoryview)):
        return (TAG_BYTES, bytes(v))  # exact bytes: v itself when it is
    try:
        j = _tojson(v)
        return _HOST_MADE if j is None else (TAG_JSON, j)
    except (TypeError, ValueError):
        # An expression's value at the end of an exec block: its repr is
        # better than an error for something the caller did not ask for.
        if not printable:
            raise
        return (TAG_JSON, _encode(repr(v)))


def _error(e):
    t = type(e)
    name = t.__qualname__ if t.__module__ == "builtins" else t.__module__ + "." + t.__qualname__
    try:
        msg = str(e)
    except BaseException:
        msg = "<unprintable>"
    # The dispatcher's own frames first are noise to the caller.
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename == _HERE:
        tb = tb.tb_next
    # The innermost frames only: a RecursionError at a raised recursion limit
    # has a million frames, and formatting them all takes seconds.
    tb = "".join(traceback.format_exception(t, e, tb, limit=-_TB_FRAMES))[-_TB_CHARS:]
    # Bytes, not str: a str with lone surrogates has no UTF-8 form.
    return (TAG_TYPE, name.encode("utf-8", "replace"), TAG_MESSAGE, msg.encode("utf-8", "replace"),
            TAG_TRACEBACK, tb.encode("utf-8", "replace"))


def _compile_exec(src):
    """Compiles a block to run like a notebook cell: its body, and the value
    of a last statement that is an expression (None if there is none)."""
    tree = compile(src, "<exec>", "exec", ast.PyCF_ONLY_AST)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    body = compile(tree, "<exec>", "exec")
    return body, None if last is None else compile(ast.Expression(last.value), "<exec>", "eval")


# The code of recent sources, so that a warm worker running the same cell or
# expression again skips the compiler (most of a trivial call's cost).
# Bounded in entries and in source size.
_CACHE_ENTRIES, _CACHE_SOURCE = 64, 8192
_compiled = {}


def _compile(kind, src):
    return _compile_exec(src) if kind == EXEC else compile(src, "<eval>", "eval")


def _code(kind, src, marshalled=b""):
    """The code of a request's source. marshalled, when the host sends it, is
    that code as the host's compiler instance compiled it (see _marshal):
    loading it skips the compiler, most of a fresh call's cost."""
    key = (kind, src)
    c = _compiled.get(key)
    if c is None:
        c = marshal.loads(marshalled) if marshalled else _compile(kind, src)
        if len(src) <= _CACHE_SOURCE:
            if len(_compiled) >= _CACHE_ENTRIES:
                del _compiled[next(iter(_compiled))]
            _compiled[key] = c
    return c


def _marshal(b):
    """The code of source b[1:] for request kind b[0], marshalled: what the
    host's compiler instance (runtime/codecache.go) returns for the host to
    send with later requests of that source. That instance runs nothing
    else, and the host resets it after each, so the filter set here goes
    with it. A warning fails the compile: it is output that the call must
    print itself, compiling the source."""
    import warnings  # imported at start: a lookup
    warnings.filters.insert(0, ("error", None, Warning, None, 0))
    warnings._filters_mutated()
    return marshal.dumps(_compile(b[0], b[1:]))


def _exec(src, marshalled):
    body, last = _code(EXEC, src, marshalled)
    exec(body, _main)
    return None if last is None else eval(last, _main)


def _resolve(name):
    mod, _, attr = name.rpartition(".")
    if not mod:
        if attr in _main:
            return _main[attr]
        if hasattr(builtins, attr):
            return getattr(builtins, attr)
        # No name=: traceback's "Did you mean" would search this frame.
        raise NameError("snakepit: no function %r in __main__ or builtins" % attr)
    # sys.modules first: import_module costs microseconds (its locks, the
    # parent package's lookup) on every call, and every adapter call is a
    # dotted one. A miss (or None, a blocked import) goes to import_module,
    # which imports or raises as before.
    m = sys.modules.get(mod)
    if m is None:
        m = importlib.import_module(mod)
    try:
        return getattr(m, attr)
    except AttributeError:
        raise AttributeError("snakepit: module %r has no function %r" % (mod, attr)) from None


def _args(b, marshalled):
    if not b:
        return (), {}
    if marshalled:
        a = _mloads(b)
    else:
        # The host sends valid JSON, hence UTF-8: what json.loads would detect.
        a = _decode(b.decode("utf-8", "surrogatepass"))
    if isinstance(a, dict):
        return (), a
    if isinstance(a, list):
        return a, {}
    return (a,), {}


# A clone gets one seed, written by the host before its first call; the
# template of a snapshot never gets one, so its clones all still look.
_unseeded = True

# The interpreter's own stdout and stderr write through to unbuffered files:
# flushing them does nothing. Code may replace them with buffered streams.
_STDIO = sys.stdout, sys.stderr


def _seed_numpy(seed):
    # numpy.random's global generator (np.random.rand, ...) is seeded at its
    # import: in a snapshot that imported it, every clone would draw the
    # same numbers. Only when numpy is loaded: never import it here.
    mtrand = sys.modules.get("numpy.random.mtrand")
    if mtrand is not None:
        words = [int.from_bytes(seed[i : i + 4], "little") for i in range(0, len(seed) - 3, 4)]
        # Called from a frame whose globals have __builtins__, which numpy's
        # array seeding looks up (this module's had none, before the line
        # that sets it above).
        eval("seed(words)", {"seed": mtrand.seed, "words": words})


def _dispatch(kind, a, b):
    global _unseeded
    try:
        if _unseeded:
            seed = _snakepit.take_seed()
            if seed is not None:
                random.seed(int.from_bytes(seed, "little"))  # no sha512 to import
                _seed_numpy(seed)
                _unseeded = False
        if kind == EXEC:
            return _value(_exec(a, b), printable=True)
        if kind == EVAL:
            return _value(eval(_code(EVAL, a, b), _main))
        f = _resolve(a.decode())
        if kind == CALL_BYTES:
            return _value(f(b))
        args, kwargs = _args(b, kind & MARSHAL_ARGS)
        kind &= ~MARSHAL_ARGS
        if kind == CALL_JSON:
            return _value(f(*args, **kwargs))
        if kind == CALL_STREAM:
            for item in f(*args, **kwargs):
                _emit(item)
            return ()
        raise ValueError("snakepit: unknown request kind %d" % kind)
    except MemoryError as e:
        # A MemoryError the code raised itself keeps its message and
        # traceback; whether a memory cap was hit is the host's to say.
        try:
            return _error(e)
        except MemoryError:
            return _MEMORY_ERROR
    except BaseException as e:  # SystemExit too: it must not end the instance
        return _error(e)
    finally:
        _flush_stdio()


def _flush_stdio():
    for s in (sys.stdout, sys.stderr):
        if (s is _STDIO[0] or s is _STDIO[1]) and s.write_through:
            continue  # by identity: a replacement's __eq__ is user code
        try:
            s.flush()
        except BaseException:
            pass


def _raised(e):
    """The answer to e, raised by a call the C half made itself (snakepit.c's
    fast_call, which runs CALL_JSON requests without _dispatch), as
    _dispatch answers it."""
    if isinstance(e, MemoryError):
        try:
            return _error(e)
        except MemoryError:
            return _MEMORY_ERROR
    return _error(e)


class _Host:
    """The module user code imports as `snakepit` (see the module docstring)."""

    @staticmethod
    def call(name, /, *args, **kwargs):
        """Call the host tool `name` with JSON-able arguments, positional or
        keyword (not both); returns its JSON answer."""
        if args and kwargs:
            raise TypeError("snakepit.call: host tools take positional or keyword arguments, not both")
        return json.loads(_snakepit.call(name, _encode(kwargs if kwargs else list(args)).encode()))

    @staticmethod
    def emit(value):
        """Send one JSON-able stream chunk to the caller."""
        _emit(value)

    checkpoint = staticmethod(_snakepit.checkpoint)


_host = type(sys)("snakepit")
_host.call, _host.emit, _host.checkpoint = _Host.call, _Host.emit, _Host.checkpoint
sys.modules["snakepit"] = _host

# The adapter half of `snakepit` (export, catalog, acall, ArgumentError, ...)
# is a module of its own that the host serves at /usr/lib/snakepit; it is
# imported on first use, so that interpreters that never use it pay nothing.
_ADAPTER_LIB = "/usr/lib/snakepit"
_ADAPTER_NAMES = frozenset(("export", "catalog", "acall", "ArgumentError", "UnknownFunctionError"))
sys.path.append(_ADAPTER_LIB)
import snakepit_posix  # os ids, os.dup and os.dup2 (see that module)


def _adapter_attr(name):
    if name in _ADAPTER_NAMES:
        return getattr(importlib.import_module("snakepit_adapter"), name)
    raise AttributeError("module 'snakepit' has no attribute %r" % name)


_host.__getattr__ = _adapter_attr


class _AsyncioHook:
    """Installs snakepit's event loop when asyncio is first imported: WASI has
    no socketpair, so asyncio's own loop cannot start."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "asyncio":
            return None
        sys.meta_path.remove(cls)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)
                importlib.import_module("snakepit_adapter")._install_loop()
            spec.loader.exec_module = exec_module
        return spec


import importlib.util
sys.meta_path.insert(0, _AsyncioHook)


def _warm_up_errors():
    # Formatting a traceback imports modules lazily (linecache reads source
    # through tokenize, the carets under an expression parse it with ast, a
    # NameError looks for suggestions). Formatting one error now puts them
    # in every snapshot, so that a clone's first exception imports nothing.
    try:
        json.loads("{")
    except ValueError as e:
        _error(e)
    try:
        exec("snakepit_no_such_name", {})
    except NameError as e:
        _error(e)


_warm_up_errors()
