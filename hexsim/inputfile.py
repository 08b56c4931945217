"""Read input files as UTF-8 text: every failure becomes an InputError naming the file and the reason.

A byte-order mark at the start is skipped (spreadsheet programs write one); bytes that are not
UTF-8 are reported with their line and byte offset.
"""

import codecs
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hexsim.errors import InputError

# A carriage return not followed by a line feed ends a line too (old Mac files), as in Python's text mode.
_LONE_CR = re.compile(r"(?<=\r)(?!\n|$)")


def shown(value: object, limit: int = 60) -> str:
    """repr(value) cut to about `limit` characters, so an error about a long value stays readable."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _reason(error: OSError, what: str) -> str:
    if isinstance(error, FileNotFoundError):
        return f"no such {what}"
    if isinstance(error, IsADirectoryError):
        return f"is a folder, not a {what}"
    if isinstance(error, PermissionError):
        return f"cannot read the {what}: permission denied"
    return f"cannot read the {what}: {error.strerror or error}"


@contextmanager
def _reading(path: Path, what: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise InputError(str(path), _reason(error, what)) from None


def _decode(data: bytes, path: Path, line: int, offset: int) -> str:
    """`data` as text; `line` and `offset` locate its first byte in the file."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = data[err.start]
        line += data.count(b"\n", 0, err.start)
        raise InputError(f"{path}:{line}", f"not UTF-8 text (byte {offset + err.start} is 0x{bad:02x})") from None


def read_text(path: str | Path, what: str = "file") -> str:
    """The whole file as text."""
    path = Path(path)
    with _reading(path, what):
        data = path.read_bytes()
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    return _decode(data[skip:], path, 1, skip)


def text_lines(path: str | Path, what: str = "file") -> Iterator[str]:
    """The file's lines, ending in their line breaks, read as they are consumed."""
    path = Path(path)
    with _reading(path, what):
        with path.open("rb") as handle:
            offset = 0
            for number, data in enumerate(handle, start=1):
                skip = len(codecs.BOM_UTF8) if number == 1 and data.startswith(codecs.BOM_UTF8) else 0
                text = _decode(data[skip:], path, number, offset + skip)
                yield from _LONE_CR.split(text) if "\r" in text else (text,)
                offset += len(data)
