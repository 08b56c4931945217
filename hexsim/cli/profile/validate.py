"""`hexsim profile validate`: profiles against the published measurements, as tables and a figure."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hexsim.cli.options import flags

if TYPE_CHECKING:
    from rich.console import Console

METHODS = (
    "shipped profile",
    "free fit, in sample",
    "roofline",
    "roofline, GPU left out",
    "roofline, batch size left out",
    "roofline, TP left out",
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "validate",
        help="profiles against the published measurements: error table and figure",
        description="Compare predictions with every row of the published measurements: the HexGen-Text2SQL "
        "step latencies (shipped profiles; roofline; roofline with that GPU left out of the fit) and "
        "Splitwise's llama2-70b iterations (free fit in sample; roofline with each batch size or TP left out; "
        "roofline).",
    )
    p.add_argument(
        "--data",
        default="../shared/data/measurements",
        metavar="DIR",
        help="folder with step_latency_llama31_70b.csv and splitwise_perf_model.csv "
        "(default ../shared/data/measurements)",
    )
    p.add_argument("--out", metavar="PNG", help="write a predicted-vs-measured figure")
    p.set_defaults(run=run, flags=flags(p))


def run(args: argparse.Namespace, console: Console, err: Console) -> None:
    from pathlib import Path

    from rich.table import Table

    from hexsim.profiles.splitwise import read_splitwise
    from hexsim.profiles.step_fit import read_step_latencies
    from hexsim.profiles.validation import splitwise_comparisons, step_comparisons
    from hexsim.profiles.validation_plot import plot_validation

    data = Path(args.data)
    steps = read_step_latencies(data / "step_latency_llama31_70b.csv")
    splitwise = read_splitwise(data / "splitwise_perf_model.csv")
    comparisons = step_comparisons(steps, splitwise) + splitwise_comparisons(steps, splitwise)
    for dataset, rows in _grouped(comparisons).items():
        methods = [m for m in METHODS if any(m in group for group in rows.values())]
        table = Table(title=f"{dataset}: mean absolute error of predicted vs measured (worst row)")
        for column in ("GPU", "TP", "rows", *methods):
            table.add_column(column, justify="left" if column == "GPU" else "right")
        for (gpu, tp), group in rows.items():
            cells = [f"{group[m].mape:.1%} ({group[m].worst:+.0%})" if m in group else "" for m in methods]
            count = max(len(c.measured) + c.excluded for c in group.values())
            table.add_row(gpu, str(tp), str(count), *cells)
        console.print(table)
    for c in comparisons:
        if c.excluded:
            console.print(f"{c.dataset} {c.gpu} TP {c.tp}: {c.excluded} rows set aside by the fit as failed runs")
    if args.out:
        plot_validation(Path(args.out), comparisons)
        console.print(f"wrote {args.out}")


def _grouped(comparisons) -> dict:
    """Comparisons by data set, then (GPU, TP), then method."""
    groups: dict = {}
    for c in comparisons:
        groups.setdefault(c.dataset, {}).setdefault((c.gpu, c.tp), {})[c.method] = c
    return groups
