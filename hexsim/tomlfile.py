"""Read TOML files and check their keys, with errors that name the file, key and value."""

import math
import tomllib
from pathlib import Path
from typing import Any

from hexsim.errors import InputError
from hexsim.inputfile import read_text, shown

# TOML integers are 64-bit signed; the standard asks readers to refuse what does not fit.
INT64 = range(-(2**63), 2**63)


def read_toml(path: str | Path) -> dict[str, Any]:
    text = read_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(str(path), f"malformed TOML ({err})") from None


class Table:
    """A TOML table read key by key; `where` prefixes every error ("file: key")."""

    def __init__(self, data: Any, path: str | Path, prefix: str = ""):
        self.path = str(path)
        self.prefix = prefix
        if not isinstance(data, dict):
            raise InputError(self.path, f"'{prefix.rstrip('.') or 'document'}' must be a table, got {shown(data)}")
        self.data = data

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, message: str) -> InputError:
        return InputError(self.path, f"key '{self.key(name)}': {message}")

    def check_keys(self, allowed: set[str]) -> None:
        for name in self.data:
            if name not in allowed:
                raise self.fail(name, f"unknown key (expected one of {', '.join(sorted(allowed))})")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ..., *, check=None, rule: str = "") -> Any:
        if name not in self.data:
            if default is ...:
                raise InputError(self.path, f"missing key '{self.key(name)}'")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, float) and float in kinds and not math.isfinite(value):
            raise self.fail(name, f"must be a finite number, got {shown(value)}")
        if isinstance(value, int) and int in kinds and value not in INT64:
            raise self.fail(name, f"does not fit a 64-bit integer, got {shown(value)}")
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        else:
            ok = isinstance(value, kinds) and (check is None or check(value))
        if not ok:
            expected = rule or " or ".join(k.__name__ for k in kinds)
            raise self.fail(name, f"must be {expected}, got {shown(value)}")
        return float(value) if float in kinds else value

    def table(self, name: str) -> "Table":
        if name not in self.data:
            raise InputError(self.path, f"missing table '[{self.key(name)}]'")
        return Table(self.data[name], self.path, f"{self.key(name)}.")
