# Import-heavy startup: what a realistic script imports before doing any
# work. Only the first execution in an interpreter pays for the imports, so
# time it in a fresh one; run() merely proves the modules work.
import argparse
import base64
import collections
import contextlib
import csv
import dataclasses
import datetime
import decimal
import difflib
import email.message
import email.parser
import email.utils
import enum
import fractions
import functools
import hashlib
import heapq
import html
import inspect
import io
import itertools
import json
import logging
import operator
import pathlib
import pprint
import random
import re
import shlex
import statistics
import string
import textwrap
import tomllib
import typing
import urllib.parse


@dataclasses.dataclass
class Item:
    name: str
    price: decimal.Decimal
    tags: typing.List[str] = dataclasses.field(default_factory=list)


def run():
    parser = argparse.ArgumentParser(prog="demo")
    parser.add_argument("--n", type=int, default=3)
    args = parser.parse_args(["--n", "4"])
    msg = email.message.EmailMessage()
    msg["Subject"] = "hello"
    msg.set_content("body")
    items = [Item(f"i{k}", decimal.Decimal(k) / 4) for k in range(args.n)]
    total = sum((i.price for i in items), decimal.Decimal(0))
    when = datetime.date(2024, 2, 29) + datetime.timedelta(days=366)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit("https://x.example/p?a=1&b=2&a=3").query)
    logging.getLogger("demo").debug("not shown")
    return [
        str(total),
        when.isoformat(),
        query["a"],
        len(msg.as_string()),
        str(fractions.Fraction(3, 9) + fractions.Fraction(1, 6)),
        statistics.median([5, 1, 4, 2, 3]),
        textwrap.shorten("the quick brown fox jumps over the lazy dog", 20),
        str(pathlib.PurePosixPath("/a/b/c.txt").with_suffix(".md")),
        tomllib.loads('k = "v"')["k"],
        base64.b64encode(hashlib.sha256(b"x").digest()[:6]).decode(),
    ]
