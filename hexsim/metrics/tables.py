"""Tables that stay complete at any console width, 80 columns included: never an ellipsis.

A table wider than the console is split by its value columns into several tables, each
repeating the key columns a row is read by; a cell wider than the console on its own folds
onto more lines. The title prints above and the legend under, as lines wrapped at words, and
a blank line ends the block.
"""

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def print_table(
    console: Console,
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    keys: int = 1,
    legend: Sequence[str] = (),
    texts: Sequence[int] = (),
) -> None:
    """Print `rows` under `headers`: the first `keys` columns left-aligned names, the rest right-aligned values
    but for the columns in `texts`, left-aligned."""
    groups: list[list[int]] = []
    for column in range(keys, len(headers)):
        if groups and _width(console, headers, rows, keys, texts, [*groups[-1], column]) <= console.width:
            groups[-1].append(column)
        else:
            groups.append([column])
    console.print(Text(title, style="bold"))
    for i, group in enumerate(groups or [[]]):
        if i:
            console.print()
        console.print(_table(headers, rows, keys, texts, group))
    for line in legend:
        console.print(Text(line))
    console.print()


def _table(headers, rows, keys: int, texts: Sequence[int], values: Sequence[int]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    columns = [*range(keys), *values]
    for i in columns:
        table.add_column(Text(headers[i]), justify="left" if i < keys or i in texts else "right", overflow="fold")
    for row in rows:
        table.add_row(*(Text(row[i]) for i in columns))
    return table


def _width(console: Console, headers, rows, keys: int, texts: Sequence[int], values: Sequence[int]) -> int:
    unbounded = console.options.update_width(10**6)
    return Measurement.get(console, unbounded, _table(headers, rows, keys, texts, values)).maximum
