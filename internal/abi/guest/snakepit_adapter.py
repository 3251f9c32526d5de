"""The adapter half of the guest's `snakepit` module: exported functions, their
catalog and JSON Schemas, typed calls, and asyncio over host tools.

The core (snakepit_guest.py) forwards the `snakepit` attributes it does not
define itself to this module, importing it on first use; the host serves it
read-only at /usr/lib/snakepit. Package adapter (Go) calls _call, _stream
and _catalog through OpCall.

    @snakepit.export                 # or @snakepit.export(name="other")
    def score(text: str, weight: float = 1.0) -> float: ...

Arguments arrive as JSON and are checked against the type hints before the
function runs: int, float, str, bool, None, bytes (base64), list[X],
tuple[X, ...], tuple[X, Y], dict[str, X], Optional/Union, Literal, Enum,
TypedDict, dataclasses and Annotated[X, "description"]; Any or no hint
accepts anything. A mismatch raises ArgumentError naming the argument; the
function may raise it too, for what hints cannot say. Results are encoded
as JSON with dataclasses as objects, enums as their values, bytes as base64
and iterators as lists.
"""
import sys
import json
import types
import typing
import inspect
import base64
import enum
import dataclasses
import collections.abc as cabc
import _snakepit

# The dispatcher's module: its JSON encoding through the host.
_guest = sys.modules["snakepit_guest"]

__all__ = ["export", "catalog", "acall", "ArgumentError", "UnknownFunctionError"]


class ArgumentError(TypeError):
    """Arguments do not match an exported function's signature."""


class UnknownFunctionError(LookupError):
    """No exported function has that name."""


for _c in (ArgumentError, UnknownFunctionError):
    _c.__module__ = "snakepit"  # the name the host sees: snakepit.ArgumentError

_exports = {}  # name -> _Export


def export(fn=None, *, name=None):
    """Register fn (under its own name, or name) for the host: listed by the
    catalog and callable by name with checked arguments. Returns fn."""
    def register(f):
        if not callable(f):
            raise TypeError("snakepit.export: %r is not callable" % (f,))
        n = name or f.__name__
        if not isinstance(n, str) or not n.isidentifier():
            raise ValueError("snakepit.export: %r is not a valid function name" % (n,))
        e = _Export(n, f)
        try:
            e.spec()  # errors in the hints surface at import, with a traceback
        except NameError:
            pass  # a forward reference, defined later in the module
        _exports[n] = e
        return f
    return register if fn is None else register(fn)


def catalog():
    """The exported functions, their parameters and JSON Schemas, as JSON-able dicts."""
    return [e.spec().entry for _, e in sorted(_exports.items())]


# ---- type hints: each compiles to a JSON Schema and a converter ----------

_NoneType = type(None)


def _kind(v):
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object", _NoneType: "null"}.get(type(v), type(v).__name__)


class _Bad(Exception):
    """A value that does not match its hint. Containers add their part of
    the path as it passes (so that none is built for values that match)."""

    def __init__(self, reason):
        self.reason, self.path = reason, []

    def at(self, part):
        self.path.append(part)
        return self

    def where(self):
        return "".join(reversed(self.path))


def _fail(want, v):
    raise _Bad("expected %s, got %s" % (want, _kind(v)))


def _one_of(vals, v):
    return _Bad("expected one of %s, got %s" % (", ".join(json.dumps(x) for x in vals), _short(v)))


def _ident(v):
    return v


# Converters that return values of these exact types unchanged: containers
# check them inline (type(x) in ...) instead of calling the converter, which
# in a wasm interpreter costs a microsecond a value.
_SIMPLE = {}


def _simple(conv, *kinds):
    _SIMPLE[conv] = frozenset(kinds)
    return conv


def _null(v):
    return v if v is None else _fail("null", v)


def _bool(v):
    return v if v is True or v is False else _fail("boolean", v)


def _int(v):
    if type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        return int(v)
    _fail("integer", v)


def _float(v):
    if type(v) is float:
        return v
    if type(v) is int and abs(v) < 1 << 1023:  # float() would overflow
        return float(v)
    _fail("number", v)


def _str(v):
    return v if type(v) is str else _fail("string", v)


_simple(_null, _NoneType)
_simple(_bool, bool)
_simple(_int, int)
_simple(_float, float)
_simple(_str, str)


def _compile(hint, where, seen=()):
    """(schema, convert) for a type hint; convert(value) returns the value the
    function gets or raises _Bad."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any or hint is object or hint is inspect.Parameter.empty:
        return {}, _ident
    if origin is typing.Annotated:
        schema, conv = _compile(args[0], where, seen)
        desc = [m for m in hint.__metadata__ if isinstance(m, str)]
        if desc:
            schema = dict(schema, description=" ".join(desc))
        return schema, conv
    if hint is None or hint is _NoneType:
        return {"type": "null"}, _null
    if hint is bool:
        return {"type": "boolean"}, _bool
    if hint is int:
        return {"type": "integer"}, _int
    if hint is float:
        return {"type": "number"}, _float
    if hint is str:
        return {"type": "string"}, _str
    if hint is bytes:
        def conv(v):
            if type(v) is str:
                try:
                    return base64.b64decode(v, validate=True)
                except ValueError:
                    pass
            _fail("base64 string", v)
        return {"type": "string", "contentEncoding": "base64"}, conv
    if origin is typing.Literal:
        vals = list(args)
        def conv(v):
            for x in vals:
                if v == x and type(v) is type(x):
                    return x
            raise _one_of(vals, v)
        return _enum_schema(vals), conv
    if origin is typing.Union or origin is types.UnionType:
        parts = [_compile(a, where, seen) for a in args]
        want = " or ".join(s.get("type", "a value") if isinstance(s.get("type"), str) else "a value" for s, _ in parts)
        convs = [c for _, c in parts]
        def conv(v):
            for c in convs:
                try:
                    return c(v)
                except _Bad:
                    pass
            _fail(want, v)
        return {"anyOf": [s for s, _ in parts]}, conv
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        vals = [m.value for m in hint]
        def conv(v):
            try:
                return hint(v)
            except ValueError:
                raise _one_of(vals, v) from None
        return dict(_enum_schema(vals), title=hint.__name__), conv
    if hint in seen:
        raise TypeError("snakepit.export: %s: recursive type %s is not supported" % (where, _name(hint)))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _record(hint, where, seen + (hint,), dataclass=True)
    if isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__required_keys__"):
        return _record(hint, where, seen + (hint,), dataclass=False)
    if origin in (list, tuple, cabc.Sequence, cabc.Iterable) or hint in (list, tuple, cabc.Sequence):
        fixed = (origin is tuple or hint is tuple) and args and not (len(args) == 2 and args[1] is Ellipsis)
        if fixed:
            parts = [_compile(a, where, seen) for a in args]
            n = len(parts)
            schema = {"type": "array", "prefixItems": [s for s, _ in parts], "minItems": n, "maxItems": n}
            convs, want, item_c = [c for _, c in parts], "array of %d items" % n, None
        else:
            item_s, item_c = _compile(args[0] if args else typing.Any, where, seen)
            schema, want = {"type": "array", "items": item_s}, "array"
        make = tuple if origin is tuple or hint is tuple else list
        simple = None if fixed else _SIMPLE.get(item_c)
        def conv(v):
            if type(v) is not list or (fixed and len(v) != n):
                _fail(want, v)
            if item_c is _ident or (simple and set(map(type, v)) <= simple):
                return make(v)
            i = 0
            try:
                out = []
                for i, x in enumerate(v):
                    out.append(convs[i](x) if fixed else item_c(x))
                return make(out)
            except _Bad as e:
                raise e.at("[%d]" % i)
        return schema, conv
    if origin in (dict, cabc.Mapping) or hint in (dict, cabc.Mapping):
        if args and args[0] is not str:
            raise TypeError("snakepit.export: %s: dict keys must be str in JSON, not %s" % (where, _name(args[0])))
        val_s, val_c = _compile(args[1] if args else typing.Any, where, seen)
        def conv(v):
            if type(v) is not dict:
                _fail("object", v)
            if val_c is _ident:
                return dict(v)
            out = {}
            for k, x in v.items():
                try:
                    out[k] = val_c(x)
                except _Bad as e:
                    raise e.at("[%s]" % json.dumps(k))
            return out
        return {"type": "object", "additionalProperties": val_s}, conv
    raise TypeError("snakepit.export: %s: unsupported type hint %s" % (where, _name(hint)))


def _enum_schema(vals):
    s = {"enum": vals}
    kinds = {_kind(v) for v in vals}
    if len(kinds) == 1:
        s = {"type": kinds.pop(), "enum": vals}
    return s


def _record(cls, where, seen, dataclass):
    """A dataclass or TypedDict: a JSON object with known keys."""
    hints = typing.get_type_hints(cls, include_extras=True)
    if dataclass:
        fields = [f for f in dataclasses.fields(cls) if f.init]
        required = {f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        names = [f.name for f in fields]
    else:
        names = list(hints)
        required = set(cls.__required_keys__)
    props, convs = {}, {}
    for n in names:
        props[n], convs[n] = _compile(hints.get(n, typing.Any), "%s.%s" % (where, n), seen)
    schema = {"type": "object", "title": cls.__name__, "properties": props, "required": [n for n in names if n in required], "additionalProperties": False}
    doc = inspect.cleandoc(cls.__doc__ or "")
    if doc and not doc.startswith(cls.__name__ + "("):  # not dataclass's generated signature
        schema["description"] = doc
    nreq = len(required)
    simple = {k: _SIMPLE[c] for k, c in convs.items() if c in _SIMPLE and c is not _ident}
    def conv(v):
        if type(v) is not dict:
            _fail("object", v)
        out, have = {}, 0
        for k, x in v.items():
            t = simple.get(k)
            if t is not None and type(x) in t:
                out[k] = x
            else:
                c = convs.get(k)
                if c is None:
                    raise _Bad("unexpected key %s" % json.dumps(k))
                try:
                    out[k] = c(x)
                except _Bad as e:
                    raise e.at("." + k)
            have += k in required
        if have < nreq:
            raise _Bad("missing key %s" % json.dumps(min(required - out.keys())))
        return cls(**out) if dataclass else out
    return schema, conv


def _name(hint):
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return hint.__qualname__
    return repr(hint).replace("typing.", "")


def _short(v):
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


# ---- exported functions ---------------------------------------------------

_ITERATORS = (cabc.Iterator, cabc.Iterable, cabc.Generator, cabc.AsyncIterator, cabc.AsyncIterable, cabc.AsyncGenerator)


class _Export:
    def __init__(self, name, fn):
        self.name, self.fn, self._spec = name, fn, None

    def spec(self):
        if self._spec is None:
            self._spec = _Spec(self.name, self.fn)
        return self._spec


class _Spec:
    def __init__(self, name, fn):
        self.name, self.fn = name, fn
        sig = inspect.signature(fn)
        hints = typing.get_type_hints(fn, include_extras=True)
        doc, pdocs = _docstring(inspect.getdoc(fn) or "")
        self.params, self.extra = [], None  # extra: the **kwargs converter
        props, required, plist = {}, [], []
        for p in sig.parameters.values():
            where = "%s(%s)" % (name, p.name)
            if p.kind is p.VAR_POSITIONAL:
                raise TypeError("snakepit.export: %s: *%s is not supported (JSON arguments are named)" % (name, p.name))
            schema, conv = _compile(hints.get(p.name, typing.Any), where)
            if p.name in pdocs and "description" not in schema:
                schema = dict(schema, description=pdocs[p.name])
            if p.kind is p.VAR_KEYWORD:
                self.extra = (schema, conv)
                continue
            entry = {"name": p.name, "required": p.default is p.empty, "schema": schema}
            if p.default is not p.empty:
                try:
                    d = json.loads(_dumps(p.default))
                    entry["default"] = d
                    schema = dict(schema, default=d)
                except (TypeError, ValueError):
                    pass
            if p.kind is p.POSITIONAL_ONLY:
                entry["positional_only"] = True
            if p.kind is p.KEYWORD_ONLY:
                entry["keyword_only"] = True
            self.params.append((p.name, p.kind, p.default is p.empty, conv))
            props[p.name] = schema
            if p.default is p.empty:
                required.append(p.name)
            plist.append(entry)
        self.by_name = {n: (k, r, c) for n, k, r, c in self.params}
        self.npos = sum(1 for _, k, _, _ in self.params if k in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD))
        ret = hints.get("return", typing.Any)
        origin = typing.get_origin(ret)
        self.stream = inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn) or origin in _ITERATORS
        if self.stream:
            ret = typing.get_args(ret)[0] if typing.get_args(ret) else typing.Any
        self.is_async = inspect.iscoroutinefunction(fn)
        out, _ = _compile(ret, "%s(return)" % name)
        self.entry = {
            "name": name,
            "description": doc,
            "params": plist,
            "input": {"type": "object", "properties": props, "required": required,
                      "additionalProperties": self.extra[0] if self.extra else False},
            "output": out,
            "stream": self.stream,
        }

    def bind(self, args):
        """(positional, keyword) arguments for the function from JSON args."""
        named = {}
        if isinstance(args, list):
            if len(args) > self.npos:
                raise ArgumentError("takes at most %d positional arguments, got %d" % (self.npos, len(args)))
            for (n, _, _, _), v in zip(self.params, args):
                named[n] = v
        elif isinstance(args, dict):
            named = args
        elif args is not None:
            raise ArgumentError("arguments must be a JSON list or object, got %s" % _kind(args))
        pos, kw = [], {}
        n, gap = None, False
        try:
            for n, kind, req, conv in self.params:
                if n in named:
                    v = conv(named[n])
                elif req:
                    raise ArgumentError("missing required argument %s" % n)
                else:
                    gap = gap or kind is inspect.Parameter.POSITIONAL_ONLY
                    continue
                if kind is inspect.Parameter.POSITIONAL_ONLY:
                    if gap:
                        raise ArgumentError("argument %s is positional-only: the ones before it must be given too" % n)
                    pos.append(v)
                else:
                    kw[n] = v
            for k, v in named.items():
                if k not in self.by_name:
                    if self.extra is None:
                        raise ArgumentError("unexpected argument %s" % json.dumps(k))
                    n = k
                    kw[k] = self.extra[1](v)
        except _Bad as e:
            raise ArgumentError("argument %s%s: %s" % (n, e.where(), e.reason)) from None
        return pos, kw


_SECTIONS = {"Args", "Arguments", "Parameters", "Returns", "Yields", "Raises", "Example", "Examples", "Note", "Notes"}


def _docstring(doc):
    """The description (the text before the first section) and the
    parameters' descriptions from a Google-style "Args:" section."""
    desc, params, section, indent, cur = [], {}, None, None, None
    for line in doc.splitlines():
        s = line.strip()
        if s.endswith(":") and s[:-1] in _SECTIONS:
            section, indent, cur = s[:-1], None, None
            continue
        if section is None:
            desc.append(line)
            continue
        if section not in ("Args", "Arguments", "Parameters") or not s:
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        head, sep, rest = s.partition(":")
        name = head.split(" ")[0].lstrip("*")
        if depth <= indent and sep and name.isidentifier():
            cur = name
            params[cur] = rest.strip()
        elif cur is not None:
            params[cur] = (params[cur] + " " + s).strip()
    return "\n".join(desc).strip(), params


def _lookup(name):
    e = _exports.get(name) if isinstance(name, str) else None
    if e is None:
        have = ", ".join(sorted(_exports)) or "none"
        raise UnknownFunctionError("no exported function %s (exported: %s)" % (json.dumps(name), have))
    return e.spec()


def _plain(o):
    """json.dumps' default: what JSON cannot hold natively."""
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return {f.name: getattr(o, f.name) for f in dataclasses.fields(o)}
    if isinstance(o, enum.Enum):
        return o.value
    if isinstance(o, (bytes, bytearray, memoryview)):
        return base64.b64encode(o).decode()
    if isinstance(o, (tuple, set, frozenset, cabc.Iterator)):
        return list(o)
    if isinstance(o, cabc.Mapping):
        return dict(o)
    raise TypeError("snakepit: %s is not JSON serializable" % type(o).__name__)


def _encoder():
    from json import encoder
    if encoder.c_make_encoder is None:
        return json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_plain).encode
    # The C encoder made once: JSONEncoder.encode makes one per call, which
    # costs more than encoding a small value. No circular-reference check
    # (a cycle ends in RecursionError).
    enc = encoder.c_make_encoder(None, _plain, encoder.encode_basestring_ascii, None, ":", ",", False, False, False)
    return lambda o: "".join(enc(o, 0))


_dumps = _encoder()


def _invoke(spec, args):
    pos, kw = spec.bind(args)
    r = spec.fn(*pos, **kw)
    if spec.is_async:
        import asyncio
        r = asyncio.run(r)
    return r


def _catalog():
    """The catalog's JSON, as bytes."""
    return _dumps(catalog()).encode()


def _call(name, args=None):
    """Calls an exported function; the result is its JSON, as bytes, or the
    dispatcher's _HELD when the host made the JSON (adapter.Call reads it
    as the value then)."""
    spec = _lookup(name)
    r = _invoke(spec, args)
    if inspect.isasyncgen(r):
        import asyncio
        r = asyncio.run(_collect(r))
    j = _guest._tojson(r, _dumps)
    return _guest._HELD if j is None else j.encode()


async def _collect(agen):
    return [x async for x in agen]


def _stream(name, args=None):
    """Calls an exported function and emits each item of what it returns.
    The iterator is closed whatever happens, so that a generator's finally
    runs before the call ends (when the host stops the stream early, too)."""
    spec = _lookup(name)
    r = _invoke(spec, args)
    if inspect.isasyncgen(r):
        import asyncio
        return asyncio.run(_astream(r))
    it = iter(r)
    try:
        for item in it:
            _guest._emit(item, _dumps)
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


async def _astream(agen):
    try:
        async for item in agen:
            _guest._emit(item, _dumps)
    finally:
        await agen.aclose()


# ---- asyncio over host tools ----------------------------------------------
#
# WASI has no socketpair, so asyncio's selector loop cannot start. The core's
# import hook calls _install_loop when asyncio is first imported; from then
# on asyncio.run and new_event_loop make a _HostLoop, whose idle wait is the
# host's: "snakepit.wait" blocks until one of the tools started with
# "snakepit.start" finishes or the loop's next timer is due. The host runs
# those tools on goroutines of their own, at most Options.MaxAsyncHostCalls
# at a time; a start past that answers null and the call waits here
# (_backlog) for a slot.

async def acall(name, /, *args, **kwargs):
    """Call the host tool name like snakepit.call, without blocking the event
    loop: several acalls awaited together (asyncio.gather) run concurrently
    on the host."""
    if args and kwargs:
        raise TypeError("snakepit.acall: host tools take positional or keyword arguments, not both")
    import asyncio
    loop = asyncio.get_running_loop()
    start = getattr(loop, "_snakepit_start", None)
    if start is None:
        raise RuntimeError("snakepit.acall: the running event loop is not snakepit's (asyncio.run and asyncio.new_event_loop make one)")
    fut = loop.create_future()
    start(_dumps([name, kwargs if kwargs else list(args)]).encode(), fut)
    try:
        return await fut
    except asyncio.CancelledError:
        loop._snakepit_cancel(fut)
        raise


def _install_loop():
    import time
    import asyncio
    import collections
    from asyncio import events

    class HostLoop(asyncio.BaseEventLoop):
        """An event loop whose idle wait is the host's (see above)."""

        def __init__(self):
            super().__init__()
            self._selector = self  # BaseEventLoop._run_once calls self._selector.select
            self._calls = {}  # handle -> future, for every call the host still holds
            self._backlog = collections.deque()  # (payload, future) awaiting a slot

        def _process_events(self, event_list):
            pass

        def _write_to_self(self):
            pass  # no other thread can schedule callbacks here

        def _snakepit_start(self, payload, fut):
            if self._backlog or not self._try_start(payload, fut):
                self._backlog.append((payload, fut))

        def _try_start(self, payload, fut):
            h = json.loads(_snakepit.call("snakepit.start", payload))
            if h is None:
                return False  # every slot is taken
            self._calls[h] = fut
            return True

        def _snakepit_cancel(self, fut):
            for h, f in self._calls.items():
                if f is fut:
                    # Its slot stays taken until the host reports it.
                    _snakepit.call("snakepit.cancel", _dumps([h]).encode())
                    return
            self._backlog = collections.deque(x for x in self._backlog if x[1] is not fut)

        def select(self, timeout):
            if not self._calls:
                if timeout is not None:
                    if timeout > 0:
                        time.sleep(timeout)
                    return []
                # Nothing can wake this loop: the host's wait ends at the
                # call's deadline, with an error.
            answer = json.loads(_snakepit.call("snakepit.wait", _dumps(timeout).encode()))
            for h, ok, v in answer:
                fut = self._calls.pop(h, None)
                if fut is None or fut.done():
                    continue
                if ok:
                    fut.set_result(v)
                else:
                    fut.set_exception(RuntimeError(v))
            while self._backlog:
                payload, fut = self._backlog[0]
                if fut.done():
                    self._backlog.popleft()
                    continue
                try:
                    if not self._try_start(payload, fut):
                        break
                except Exception as e:
                    fut.set_exception(e)
                self._backlog.popleft()
            return []

    class Policy(events.BaseDefaultEventLoopPolicy):
        _loop_factory = HostLoop

    asyncio.set_event_loop_policy(Policy())
