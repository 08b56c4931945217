"""Read a CSV file whose header must name given columns, row by row with its location."""

import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from hexsim.errors import InputError
from hexsim.inputfile import text_lines


def csv_rows(path: str | Path, columns: Sequence[str], kind: str = "CSV") -> list[tuple[dict[str, str], str]]:
    """(row, "file:line") for each data row, the row holding `columns` only.

    Fails naming the file and the first missing column, or the line of a malformed or short row.
    Other columns may hold long text: csv's field size limit is lifted while reading, then restored.
    """
    limit = csv.field_size_limit(sys.maxsize)
    try:
        return _rows(Path(path), columns, kind)
    finally:
        csv.field_size_limit(limit)


def _rows(path: Path, columns: Sequence[str], kind: str) -> list[tuple[dict[str, str], str]]:
    reader = csv.reader(text_lines(path, kind), strict=True)
    rows = []
    try:
        header = next(reader, None)
        if header is None:
            raise InputError(str(path), f"empty file (a {kind} has the columns {', '.join(columns)})")
        index = {}
        for column in columns:
            if column not in header:
                raise InputError(
                    str(path),
                    f"missing column '{column}' (a {kind} has {', '.join(columns)}; the header is {','.join(header)})",
                )
            if header.count(column) > 1:
                raise InputError(str(path), f"column '{column}' appears twice in the header")
            index[column] = header.index(column)
        needed = max(index.values()) + 1
        for fields in reader:
            if not fields:
                continue
            where = f"{path}:{reader.line_num}"
            if len(fields) < needed:
                missing = next(c for c, i in index.items() if i >= len(fields))
                raise InputError(
                    where,
                    f"no value for column '{missing}' (the row has {len(fields)} fields, the header {len(header)})",
                )
            rows.append(({column: fields[i] for column, i in index.items()}, where))
    except csv.Error as err:
        raise InputError(f"{path}:{reader.line_num}", f"malformed CSV ({err})") from None
    return rows
