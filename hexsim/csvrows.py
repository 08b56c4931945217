"""Read a CSV file whose header must name given columns, row by row with its location."""

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from hexsim.errors import InputError


def csv_rows(path: str | Path, columns: Sequence[str], kind: str = "CSV") -> Iterator[tuple[dict, str]]:
    """Yield (row, "file:line") for each data row; fail naming the file and the first missing column."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(str(path), f"missing column '{missing[0]}' (a {kind} has {', '.join(columns)})")
        for row in reader:
            yield row, f"{path}:{reader.line_num}"
