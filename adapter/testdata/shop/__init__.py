"""A test adapter: a shop."""
import dataclasses
import enum
import typing
from typing import Annotated, Iterator, Literal, Optional, TypedDict, Union

import snakepit

closed = []  # names of the generators whose finally ran


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Movie(TypedDict):
    title: str
    year: int


class Extra(TypedDict, total=False):
    note: str


@dataclasses.dataclass
class Point:
    """A point in the plane."""
    x: float
    y: float = 0.0


@dataclasses.dataclass
class Item:
    name: str
    price: float
    tags: list[str]
    where: Point


@snakepit.export
def hints(a: int, b: float, c: str, d: bool, e: None, f: list[int], g: dict[str, float],
          h: Optional[str], i: Union[int, str], j: Literal["x", "y"], k: Movie, m: Point,
          n: Color, o: Annotated[int, "an annotated int"] = 3, *, p: tuple[int, str] = (1, "a"),
          q: bytes = b"", r: Extra = None, s: int | None = None) -> dict:
    """Takes every kind of hint.

    Args:
        a: an int, described
            on two lines.
        b (float): a float
    """
    return {"a": a, "b": b, "k": k, "m": dataclasses.asdict(m), "n": n, "p": p, "q": q, "mtype": type(m).__name__}


@snakepit.export
def item(name: str, price: float = 1.5) -> Item:
    """Makes an item."""
    return Item(name, price, ["new"], Point(1, 2))


@snakepit.export(name="echo")
def _echo(s: str) -> str:
    return s


@snakepit.export
def count(n: int, label: str = "count") -> Iterator[int]:
    """Counts to n."""
    try:
        for i in range(n):
            yield i
    finally:
        closed.append(label)


@snakepit.export
def closed_so_far() -> list[str]:
    return closed


@snakepit.export
def fail(msg: str) -> None:
    raise ValueError(msg)


@snakepit.export
def positive(x: int) -> int:
    if x <= 0:
        raise snakepit.ArgumentError("argument x: must be positive")
    return x


@snakepit.export
def price(name: str) -> float:
    """Asks the host for a price."""
    return snakepit.call("price", name)


@snakepit.export
async def prices(names: list[str]) -> list[float]:
    """Asks the host for several prices at once."""
    import asyncio
    return list(await asyncio.gather(*(snakepit.acall("price", n) for n in names)))


@snakepit.export
def flexible(a: int, /, b: int = 2, **rest: str) -> dict[str, object]:
    return {"a": a, "b": b, "rest": rest}


@snakepit.export
def later(p: "Later") -> "Later":
    """Hints naming a class defined after the function."""
    return dataclasses.replace(p, v=p.v + 1)


@dataclasses.dataclass
class Later:
    v: int


@snakepit.export
async def aticks(n: int) -> "typing.AsyncIterator[int]":
    import asyncio
    for i in range(n):
        await asyncio.sleep(0)
        yield i
