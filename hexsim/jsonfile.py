"""Read JSON documents, with errors that name the file and the line.

Only what JSON allows is read: NaN, Infinity and numbers beyond a float's range are errors, and so
is a string escape of half a UTF-16 surrogate pair, which no file or terminal could print.
"""

import json
import math
import re
from pathlib import Path
from typing import Any

from hexsim.errors import InputError
from hexsim.inputfile import read_text, shown

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Rejected(ValueError):
    """A token the JSON grammar admits but hexsim does not read as a number."""


def _constant(name: str) -> float:
    raise _Rejected(f"{name} is not a JSON number")


def _real(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Rejected(f"number {text} is out of range")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        # Python refuses to convert integers of over 4300 digits.
        raise _Rejected(f"a number of {len(text)} digits") from None


def _lone_surrogate(document: Any) -> tuple[str, str] | None:
    """(key, string) of a string or object key in `document` holding half a surrogate pair, or None."""
    pending = [("", document)]
    while pending:
        key, value = pending.pop()
        if isinstance(value, dict):
            pending.extend((f"{key}.{name}" if key else name, item) for name, item in value.items())
            pending.extend((key, name) for name in value)
        elif isinstance(value, list):
            pending.extend((f"{key}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return key, value
    return None


def parse_json(text: str, path: str | Path, line: int | None = None) -> Any:
    """The document `text`: the whole of `path`, or its line `line` (errors name the file and the line)."""
    where = str(path) if line is None else f"{path}:{line}"
    try:
        document = json.loads(text, parse_constant=_constant, parse_float=_real, parse_int=_integer)
    except json.JSONDecodeError as err:
        lineno = err.lineno if line is None else line
        raise InputError(f"{path}:{lineno}", f"malformed JSON ({err.msg}, column {err.colno})") from None
    except _Rejected as err:
        raise InputError(where, f"malformed JSON ({err})") from None
    except RecursionError:
        raise InputError(where, "malformed JSON (nested too deeply)") from None
    if _SURROGATE_ESCAPE.search(text) and (found := _lone_surrogate(document)):
        key, value = found
        raise InputError(where, f"key '{key or '(top level)'}': half a UTF-16 surrogate pair in {shown(value)}")
    return document


def read_json(path: str | Path, what: str = "file") -> Any:
    """The parsed document; `what` names the file in the error when it cannot be read ("no such stats file")."""
    return parse_json(read_text(path, what), path)
