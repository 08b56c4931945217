"""Look up table entries by name or alias, case-insensitively."""

from collections.abc import Iterable
from typing import Protocol, TypeVar


class Named(Protocol):
    name: str
    aliases: tuple[str, ...]


T = TypeVar("T", bound=Named)


def find_named(entries: Iterable[T], name: str) -> T | None:
    wanted = name.strip().lower()
    for entry in entries:
        if wanted == entry.name.lower() or wanted in (a.lower() for a in entry.aliases):
            return entry
    return None
