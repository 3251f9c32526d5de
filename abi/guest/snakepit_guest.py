"""The guest half of the snakepit ABI: runs one request and encodes its result.

The host calls _dispatch(kind, a, b) through sp_run. The answer is a byte
string of frames, each a one-byte tag, a 4-byte little-endian length and the
data: J (a JSON value), B (raw bytes), E (exception type), M (message),
T (traceback). No frame means the call returned None. The host treats all of
it as untrusted: user code runs in this same interpreter and may replace any
of this.
"""
import sys
import json
import random
import traceback
import importlib
import _snakepit

EXEC, EVAL, CALL_JSON, CALL_BYTES, CALL_STREAM = 1, 2, 3, 4, 5

_main_mod = type(sys)("__main__")
sys.modules["__main__"] = _main_mod
_main = _main_mod.__dict__

# Built before it is needed: after a MemoryError, allocating may fail again.
_MEMORY_ERROR = b"E" + (11).to_bytes(4, "little") + b"MemoryError"


_TB_FRAMES, _TB_CHARS = 50, 64 * 1024


def _frame(tag, data):
    return tag + len(data).to_bytes(4, "little") + data


def _value(v):
    if v is None:
        return b""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return _frame(b"B", bytes(v))
    return _frame(b"J", json.dumps(v, separators=(",", ":")).encode())


def _error(e):
    t = type(e)
    name = t.__qualname__ if t.__module__ == "builtins" else t.__module__ + "." + t.__qualname__
    try:
        msg = str(e)
    except BaseException:
        msg = "<unprintable>"
    # The innermost frames only: a RecursionError at a raised recursion limit
    # has a million frames, and formatting them all takes seconds.
    tb = "".join(traceback.format_exception(e, limit=-_TB_FRAMES))[-_TB_CHARS:]
    return _frame(b"E", name.encode()) + _frame(b"M", msg.encode("utf-8", "replace")) + _frame(b"T", tb.encode("utf-8", "replace"))


def _resolve(name):
    mod, _, attr = name.rpartition(".")
    if not mod:
        return _main[attr]
    return getattr(importlib.import_module(mod), attr)


def _args(b):
    if not b:
        return (), {}
    a = json.loads(b)
    if isinstance(a, dict):
        return (), a
    if isinstance(a, list):
        return a, {}
    return (a,), {}


def _dispatch(kind, a, b):
    try:
        seed = _snakepit.take_seed()
        if seed is not None:
            random.seed(int.from_bytes(seed, "little"))  # no sha512 to import
        if kind == EXEC:
            exec(compile(a, "<exec>", "exec"), _main)
            return b""
        if kind == EVAL:
            return _value(eval(compile(a, "<eval>", "eval"), _main))
        f = _resolve(a.decode())
        if kind == CALL_BYTES:
            return _value(f(b))
        args, kwargs = _args(b)
        if kind == CALL_JSON:
            return _value(f(*args, **kwargs))
        if kind == CALL_STREAM:
            for item in f(*args, **kwargs):
                _snakepit.emit(json.dumps(item, separators=(",", ":")).encode())
            return b""
        raise ValueError("snakepit: unknown request kind %d" % kind)
    except MemoryError:
        return _MEMORY_ERROR
    except BaseException as e:  # SystemExit too: it must not end the instance
        return _error(e)
    finally:
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except BaseException:
                pass


class _Host:
    """The module user code imports as `snakepit`."""

    @staticmethod
    def call(name, /, *args, **kwargs):
        """Call the host tool `name` with JSON-able arguments; returns its JSON answer."""
        arg = kwargs if kwargs else list(args)
        return json.loads(_snakepit.call(name, json.dumps(arg, separators=(",", ":")).encode()))

    @staticmethod
    def emit(value):
        """Send one JSON-able stream chunk to the caller."""
        _snakepit.emit(json.dumps(value, separators=(",", ":")).encode())

    checkpoint = staticmethod(_snakepit.checkpoint)


_host = type(sys)("snakepit")
_host.call, _host.emit, _host.checkpoint = _Host.call, _Host.emit, _Host.checkpoint
sys.modules["snakepit"] = _host
