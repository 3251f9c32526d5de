"""textkit: text functions exported to Go."""
import asyncio
import collections
import dataclasses
import re
from typing import Iterator, Literal, TypedDict

import snakepit

_WORD = re.compile(r"[A-Za-z']+")


@dataclasses.dataclass
class Stats:
    """Counts of a text."""
    words: int
    chars: int
    top: list[str]


class Token(TypedDict):
    word: str
    start: int


@snakepit.export
def stats(text: str, top: int = 3) -> Stats:
    """Counts the words and characters of a text.

    Args:
        text: the text to count.
        top: how many of the most frequent words to list.
    """
    words = [w.lower() for w in _WORD.findall(text)]
    common = collections.Counter(words).most_common(top)
    return Stats(words=len(words), chars=len(text), top=[w for w, _ in common])


@snakepit.export
def tokens(text: str) -> Iterator[Token]:
    """Yields the words of a text with their offsets, one at a time."""
    for m in _WORD.finditer(text):
        yield {"word": m.group(), "start": m.start()}


@snakepit.export
def translate(word: str, to: Literal["fr", "de"]) -> str:
    """Translates a word with the host's dictionary."""
    return snakepit.call("dictionary", word, to)


@snakepit.export
async def translate_all(words: list[str], to: Literal["fr", "de"]) -> dict[str, str]:
    """Translates words, asking the host's dictionary for all of them at once."""
    found = await asyncio.gather(*(snakepit.acall("dictionary", w, to) for w in words))
    return dict(zip(words, found))
