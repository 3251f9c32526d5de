"""A small suite that pytest runs inside the sandbox: each fixture an
ordinary project uses, and one test that fails on purpose."""
import getpass
import logging
import os
import sys

import pytest


def test_tmp_path(tmp_path):
    p = tmp_path / "hello.txt"
    p.write_text("hi")
    assert p.read_text() == "hi"
    assert "pytest-of-" + getpass.getuser() in str(tmp_path)


def test_capsys(capsys):
    print("to stdout")
    print("to stderr", file=sys.stderr)
    out, err = capsys.readouterr()
    assert (out, err) == ("to stdout\n", "to stderr\n")


def test_capfd(capfd):
    os.write(1, b"fd one\n")
    os.write(2, b"fd two\n")
    print("and print")
    out, err = capfd.readouterr()
    assert out == "fd one\nand print\n"
    assert err == "fd two\n"
    os.write(1, b"again\n")
    assert capfd.readouterr().out == "again\n"


def test_caplog(caplog):
    with caplog.at_level(logging.INFO):
        logging.getLogger("sandbox").info("logged %d", 42)
    assert caplog.messages == ["logged 42"]
    assert caplog.records[0].levelname == "INFO"


def test_monkeypatch(monkeypatch):
    monkeypatch.setenv("SANDBOX_FLAVOUR", "wasi")
    monkeypatch.setattr(os.path, "sep", "|")
    assert os.environ["SANDBOX_FLAVOUR"] == "wasi"
    assert os.path.sep == "|"


def test_monkeypatch_undone():
    assert "SANDBOX_FLAVOUR" not in os.environ
    assert os.path.sep == "/"


@pytest.mark.parametrize("n, square", [(1, 1), (2, 4), (3, 9), (12, 144)])
def test_square(n, square):
    assert n * n == square


def test_devnull_and_user():
    with open(os.devnull, "w") as f:
        f.write("gone")
    assert getpass.getuser() == "sandbox"


def test_fails_on_purpose():
    assert 6 * 7 == 41
