# Worker of the native baseline pool: serves requests from Go over its stdin
# and stdout until stdin is closed.
#
# A frame, in both directions, is a 4-byte little-endian length (counting the
# op byte), one op byte and the payload.
#   Go -> worker: E source | C name NUL json-args-or-empty | B name NUL bytes
#                 R json (answer to H) | F message (H cannot be answered)
#   worker -> Go: O result | X type NUL message | H json (ask Go for a value)
# The worker announces itself with an empty O frame.
import json
import os

C, E, B, R = b"CEBR"


def main():
    # The protocol keeps private copies of fds 0 and 1. User code (print,
    # input, C code writing to fd 1) then sees /dev/null and stderr and cannot
    # corrupt a frame.
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)

    read = open(rfd, "rb", buffering=1 << 16).read
    write, writev = os.write, os.writev
    encode = json.JSONEncoder(separators=(",", ":")).encode
    decode = json.JSONDecoder().decode

    def send(op, payload=b""):
        head = (len(payload) + 1).to_bytes(4, "little") + op
        # writev spares copying a large payload behind the header.
        n = writev(wfd, (head, payload))
        if n < len(head) + len(payload):
            rest = memoryview(head + bytes(payload))[n:]
            while rest:
                rest = rest[write(wfd, rest):]

    def recv():
        # Returns the op byte and payload together, so a payload can be
        # sliced out without copying via memoryview.
        head = read(4)
        if len(head) < 4:
            return None
        return read(int.from_bytes(head, "little"))

    def host_call(value):
        """Send value to the Go callback as JSON and return its decoded answer."""
        send(b"H", encode(value).encode())
        frame = recv()
        if frame is None:
            raise EOFError("host went away during host_call")
        body = str(memoryview(frame)[1:], "utf-8")
        if frame[0] == R:
            return decode(body)
        raise RuntimeError(body)

    def lookup(frame):
        i = frame.index(b"\0", 1)
        name = frame[1:i].decode()
        try:
            fn = env[name]
        except KeyError:
            raise NameError(f"name {name!r} is not defined") from None
        return fn, memoryview(frame)[i + 1:]

    env = {"__name__": "__main__", "__builtins__": __builtins__, "host_call": host_call}
    send(b"O")
    while True:
        frame = recv()
        if frame is None:
            return
        op = frame[0]
        try:
            if op == C:
                fn, args = lookup(frame)
                res = fn(*decode(str(args, "utf-8"))) if args else fn()
                send(b"O", encode(res).encode())
            elif op == E:
                exec(compile(frame[1:], "<exec>", "exec"), env)
                send(b"O")
            elif op == B:
                fn, arg = lookup(frame)
                res = fn(bytes(arg))
                send(b"O", res if type(res) is bytes else bytes(memoryview(res)))
            else:
                raise RuntimeError(f"unknown op {frame[:1]!r}")
        except BaseException as e:
            send(b"X", describe(e).encode("utf-8", "replace"))


def describe(e):
    t = type(e)
    name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    try:
        msg = str(e)
    except BaseException:
        msg = "<unprintable>"
    return name + "\0" + msg


main()
